"""The login page in a real headless Chromium against a served fleet (uvicorn on a free port):
Chinese by default with an English switch, a wrong password refused, sign-in lands on the page
asked for, the dashboard's own forms post with their CSRF field, sign-out ends the session.

Chromium: $GASGUARD_CHROMIUM or /usr/bin/chromium (skips without it, fails under CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from security_fixtures import seed

from fleet.security import service
from fleet.store.db import Database
from utils.fleet_runtime import make_settings, running_fleet

pytestmark = pytest.mark.browser
PW = "browser secret 123"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def _chromium() -> str:
    path = os.environ.get("GASGUARD_CHROMIUM") or "/usr/bin/chromium"
    if not Path(path).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {path}; CI is set, so the login test must run")
        pytest.skip(f"Chromium not found at {path} (apt-get install chromium, or set GASGUARD_CHROMIUM)")
    return path


@pytest.fixture
def served(sqlite_db: Database) -> Iterator[tuple[str, dict[str, Any]]]:
    ids = seed(sqlite_db).ids
    with sqlite_db.session() as s:
        service.create_user(s, username="wang", password=PW, role="gas_operator", by="t")
        s.commit()
    with running_fleet(make_settings(sqlite_db.url)) as (handle, _lt):
        yield handle.http_url, ids


def test_login_page__sign_in_ack_with_csrf_sign_out(served: tuple[str, dict[str, Any]]) -> None:
    url, ids = served
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=ARGS, headless=True)
        try:
            page = browser.new_context().new_page()
            resp = page.goto(url + "/campaign/sites")
            assert resp is not None and resp.status == 401
            assert page.locator("h1").inner_text() == "登录"
            page.locator("#lang-switch").click()
            assert page.locator("h1").inner_text() == "Sign in"
            page.fill("#username", "wang")
            page.fill("#password", "wrong password!")
            page.click("#login-submit")
            assert page.locator("#login-error").inner_text() == "wrong username or password"
            page.fill("#username", "wang")
            page.fill("#password", PW)
            page.click("#login-submit")
            page.wait_for_url("**/campaign/sites")
            assert "河西用户" in page.content()  # a city-wide role sees both townships
            assert page.locator("#gg-username").inner_text() == "wang"
            page.goto(url + "/")
            row = page.locator(f"tr[data-alarm-id='{ids['a']['alarm_id']}']")
            assert row.locator("input[name=csrf_token]").count() >= 1
            row.locator("input[name=by]").fill("王")
            row.locator("button[type=submit]").first.click()
            page.wait_for_url("**/?ack=ok")
            page.click("#logout")
            page.wait_for_url("**/login")
            resp = page.goto(url + "/")
            assert resp is not None and resp.status == 401 and page.locator("#login-form").is_visible()
        finally:
            browser.close()
