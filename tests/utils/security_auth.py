"""Credentials for tests of an app behind fleet/security's guard: a user with a role and an
API token, or a signed-in dashboard session, created straight in the fleet's database.

    headers = auth_headers(db_url)                      # the city administrator's bearer token
    headers = auth_headers(db, role="township_staff", township="城关镇", username="zhang")
    cookies, csrf = session_cookie(db_url)              # for Playwright / form posts"""

from __future__ import annotations

import secrets
from typing import Any

TEST_PASSWORD_LEN = 24


def _database(db: Any) -> tuple[Any, bool]:
    from fleet.store.db import Database

    if isinstance(db, str):
        return Database(db), True
    return db, False


def _user(session: Any, username: str, role: str, township: str | None) -> Any:
    from fleet.core.errors import NotFound
    from fleet.security import service

    try:
        return service.get_user(session, username)
    except NotFound:
        return service.create_user(session, username=username, password=secrets.token_urlsafe(TEST_PASSWORD_LEN),
                                   role=role, township=township, by="tests")


def make_token(db: Any, *, role: str = "city_admin", township: str | None = None, username: str | None = None) -> str:
    """A bearer token for a user with `role` (created if missing)."""
    from fleet.security import service

    database, own = _database(db)
    try:
        with database.session() as session:
            name = username or f"test-{role.replace('_', '-')}{'-' + str(abs(hash(township)) % 10000) if township else ''}"
            _user(session, name, role, township)
            text, _row = service.issue_token(session, username=name, name="tests", by="tests")
            session.commit()
            return text
    finally:
        if own:
            database.dispose()


def auth_headers(db: Any, **kw: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(db, **kw)}"}


def session_cookie(db: Any, *, role: str = "city_admin", township: str | None = None,
                   username: str | None = None) -> tuple[str, str]:
    """(session cookie value, CSRF token) of a signed-in dashboard user."""
    from fleet.security import service

    database, own = _database(db)
    try:
        with database.session() as session:
            user = _user(session, username or f"web-{role.replace('_', '-')}", role, township)
            sid, row = service.open_session(session, user, address="127.0.0.1")
            session.commit()
            return sid, row.csrf
    finally:
        if own:
            database.dispose()


def playwright_login(context: Any, base_url: str, db: Any, **kw: Any) -> str:
    """Sign a Playwright browser context in (session cookie on `base_url`); returns the CSRF token."""
    from fleet.security.guard import SESSION_COOKIE

    sid, csrf = session_cookie(db, **kw)
    context.add_cookies([{"name": SESSION_COOKIE, "value": sid, "url": base_url}])
    return csrf
