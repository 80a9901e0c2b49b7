"""fleet/web/routes.py in a real headless Chromium (Debian's, driven by Playwright): the alarm
shows on the overview, an operator acknowledges it, the device page has its chart and timeline.

Chromium comes from $GASGUARD_CHROMIUM or /usr/bin/chromium. Without it these tests skip and
say why, except under CI (env CI set), where a missing browser is a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fleet.store.db import Database
from utils.fake_device import FakeDevice
from utils.fleet_runtime import make_settings, running_fleet
from utils.security_auth import auth_headers, session_cookie

pytestmark = pytest.mark.browser

DEV = "gg-a4cf12b3c4d5"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run"]


def chromium_path() -> str:
    path = os.environ.get("GASGUARD_CHROMIUM") or "/usr/bin/chromium"
    if not Path(path).exists():
        reason = f"Chromium not found at {path} (apt-get install chromium, or set GASGUARD_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so the dashboard tests must run")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=LAUNCH_ARGS, headless=True)
        yield b
        b.close()


SIGNED_IN: dict[str, tuple[dict[str, str], str]] = {}  # fleet url -> (API headers, dashboard session)


def _page(browser: Any, url: str) -> Any:
    """A page signed in to the dashboard at `url` as the city administrator (fleet/security)."""
    ctx = browser.new_context()
    ctx.add_cookies([{"name": "gg_session", "value": SIGNED_IN[url][1], "url": url}])
    return ctx.new_page()


@pytest.fixture
def fleet_with_alarm(db: Database) -> Iterator[tuple[str, int]]:
    """A served fleet where one device registered, reported readings and raised an alarm."""
    with running_fleet(make_settings(db.url)) as (handle, lt):
        async def scenario() -> FakeDevice:
            dev = await FakeDevice(DEV, handle.coap_port).start()  # type: ignore[arg-type]
            await dev.register()
            for lel in (1.0, 2.5, 18.0):
                dev.lel = lel
                await dev.heartbeat()
            await dev.event("alarm", lvl=2, lel=41.5)
            await dev.event("valve_closed", src="alarm")
            return dev

        dev = lt.call(scenario())
        try:
            SIGNED_IN[handle.http_url] = (auth_headers(db), session_cookie(db)[0])
            alarm_id = httpx.get(f"{handle.http_url}/api/v1/alarms", headers=SIGNED_IN[handle.http_url][0]
                                 ).json()["data"][0]["id"]
            yield handle.http_url, alarm_id
        finally:
            lt.call(dev.stop())


def test_overview__alarm_shown_acknowledged_and_resolved(browser: Any, fleet_with_alarm: tuple[str, int]) -> None:
    url, alarm_id = fleet_with_alarm
    page = _page(browser, url)
    try:
        page.goto(url + "/")
        assert page.locator("h2").first.inner_text() == "当前报警"
        row = page.locator(f"tr[data-alarm-id='{alarm_id}']")
        assert row.is_visible()
        assert "未确认" in row.inner_text() and DEV in row.inner_text() and "41.5" in row.inner_text()
        assert page.locator("#online-count").inner_text() == "1"
        row.locator("input[name=by]").fill("张三")
        row.locator("button[type=submit]").click()
        page.wait_for_url("**/?ack=ok")
        assert page.locator("#flash").inner_text() == "报警已确认"
        row = page.locator(f"tr[data-alarm-id='{alarm_id}']")
        assert "已确认" in row.inner_text() and "张三" in row.inner_text()
        assert row.locator("form.ack-form").count() == 0
        row.locator("form.resolve-form input[name=by]").fill("张三")
        row.locator("form.resolve-form button").click()
        page.wait_for_url("**/?resolve=ok")
        assert page.locator("#flash").inner_text() == "报警已处理完毕"
        assert page.locator("#no-alarms").inner_text() == "当前没有报警"
    finally:
        page.close()
    alarm = httpx.get(f"{url}/api/v1/alarms/{alarm_id}", headers=SIGNED_IN[url][0]).json()
    assert (alarm["state"], alarm["acknowledged_by"], alarm["resolved_by"]) == ("resolved", "张三", "张三")


def test_overview__english_switch(browser: Any, fleet_with_alarm: tuple[str, int]) -> None:
    url, alarm_id = fleet_with_alarm
    page = _page(browser, url)
    try:
        page.goto(url + "/")
        page.locator("#lang-switch").click()
        page.wait_for_url("**/?lang=en")
        assert page.locator("h2").first.inner_text() == "Alarms now"
        row = page.locator(f"tr[data-alarm-id='{alarm_id}']")
        assert "open" in row.inner_text() and row.locator("button").inner_text() == "Acknowledge"
        page.goto(url + "/")  # the choice is remembered (cookie)
        assert page.locator("h2").first.inner_text() == "Alarms now"
    finally:
        page.close()


def test_device_page__chart_and_timeline(browser: Any, fleet_with_alarm: tuple[str, int]) -> None:
    url, _ = fleet_with_alarm
    page = _page(browser, url)
    try:
        page.goto(f"{url}/devices/{DEV}?lang=en")
        assert page.locator("#device-id").inner_text().startswith(DEV)
        points = page.locator("#chart svg polyline.series").get_attribute("points")
        assert points is not None and len(points.split()) == 3
        kinds = page.locator("#timeline tr.event td:nth-child(3)").all_inner_texts()
        assert kinds == ["valve closed", "alarm"]
        assert "closed" in page.locator("#device-facts").inner_text()
        page.goto(f"{url}/devices/gg-nope")
        assert page.locator("#error").inner_text() == "device 'gg-nope' not found"
    finally:
        page.close()
