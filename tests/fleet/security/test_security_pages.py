"""The guard, the login/logout pages and the audit log over HTTP (the real app, TestClient,
SQLite): login with the login-CSRF cookie, CSRF on every state-changing cookie request, the
CSRF field added to the dashboard's forms, audit rows with who / what / from where, export."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from security_fixtures import TOWN_A, app_client, make_tokens, seed

from fleet.security import service
from fleet.store.models import Alarm, AuditLog

PW = "a long enough secret"


@pytest.fixture
def world(sqlite_db):  # noqa: ANN001, ANN201
    w = seed(sqlite_db)
    make_tokens(sqlite_db, w)
    with sqlite_db.session() as s:
        service.create_user(s, username="li", password=PW, role="township_staff", township=TOWN_A, by="t")
        service.create_user(s, username="boss", password=PW, role="city_admin", by="t")
        s.commit()
    with app_client(sqlite_db) as client:
        yield client, w


def _login(client, username: str, password: str = PW, next_url: str = "/"):  # noqa: ANN001, ANN202
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf,
                                        "next": next_url})


def test_page__unauthenticated__401_login_form_in_chinese_and_english(world) -> None:  # noqa: ANN001
    client, _ = world
    r = client.get("/campaign/sites")
    assert r.status_code == 401 and 'id="login-form"' in r.text and "登录" in r.text
    assert 'name="next" value="/campaign/sites"' in r.text
    r = client.get("/login?lang=en")
    assert r.status_code == 200 and "Sign in" in r.text and 'id="lang-switch"' in r.text and "中文" in r.text


def test_login__wrong_password_401_audited__right_one_signs_in(world) -> None:  # noqa: ANN001
    client, _ = world
    r = _login(client, "li", "not the password")
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    r = _login(client, "li", next_url="/campaign")
    assert r.status_code == 303 and r.headers["location"] == "/campaign"
    cookie = r.headers["set-cookie"]
    assert "gg_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    r = client.get("/api/v1/security/me")
    assert r.json() == {"username": "li", "role": "township_staff", "township": TOWN_A, "via": "session"}
    with client.fleet.db.session() as s:
        acts = [(a.actor, a.action) for a in s.scalars(sa.select(AuditLog).where(AuditLog.entity == "user",
                                                                                 AuditLog.actor == "li"))]
    assert acts == [("li", "login.failed"), ("li", "login")]


def test_login__without_login_csrf_cookie__refused(world) -> None:  # noqa: ANN001
    client, _ = world
    r = client.post("/login", data={"username": "li", "password": PW, "csrf_token": "made-up"})
    assert r.status_code == 403 and "页面已过期" in r.text
    assert "gg_session" not in client.cookies


def test_csrf__cookie_post_without_token_refused__with_it_accepted(world) -> None:  # noqa: ANN001
    client, w = world
    _login(client, "boss")
    alarm_id = w.ids["a"]["alarm_id"]
    r = client.post(f"/alarms/{alarm_id}/ack", data={"by": "boss"})
    assert r.status_code == 403 and "CSRF token missing or wrong" in r.text
    r = client.post(f"/api/v1/alarms/{alarm_id}/ack", json={"by": "boss"})
    assert r.status_code == 403 and r.json()["reason"] == "csrf"
    with client.fleet.db.session() as s:
        assert s.get(Alarm, alarm_id).state == "open"
    page = client.get("/")
    forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>(<input type=\"hidden\" name=\"csrf_token\" value=\"[^\"]+\">)?",
                       page.text)
    assert forms and all(forms), "every POST form carries the CSRF field"
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(f"/alarms/{alarm_id}/ack", data={"by": "boss", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].endswith("ack=ok")
    r = client.post(f"/api/v1/alarms/{alarm_id}/resolve", json={"by": "boss"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["state"] == "resolved"


def test_logout__ends_the_session(world) -> None:  # noqa: ANN001
    client, _ = world
    _login(client, "boss")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    sid = client.cookies.get("gg_session")
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    client.cookies.set("gg_session", sid)  # a stolen copy of the cookie no longer works
    assert client.get("/api/v1/security/me").status_code == 401


def test_audit__changes_recorded_with_user_and_address__admin_views_and_exports(world) -> None:  # noqa: ANN001
    client, w = world
    h_op = {"Authorization": f"Bearer {w.tokens['operator']}"}
    h_admin = {"Authorization": f"Bearer {w.tokens['admin']}"}
    alarm_id = w.ids["a"]["alarm_id"]
    assert client.post(f"/api/v1/alarms/{alarm_id}/ack", json={"by": "claims to be someone"}, headers=h_op
                       ).status_code == 200
    r = client.post("/api/v1/security/users", json={"username": "newbie", "password": PW, "role": "city_viewer"},
                    headers=h_admin)
    assert r.status_code == 201
    with client.fleet.db.session() as s:
        rows = s.scalars(sa.select(AuditLog).where(AuditLog.action.in_(("http.post", "user.created")))
                         .order_by(AuditLog.id)).all()
    got = [(r.actor, r.action, r.entity_id, (r.detail or {}).get("address")) for r in rows]
    assert ("operator", "http.post", "/api/v1/alarms/{alarm_id}/ack", "testclient") in got
    assert ("admin", "user.created", "newbie", None) in got
    assert ("admin", "http.post", "/api/v1/security/users", "testclient") in got
    # only the city administrator sees and exports it
    assert client.get("/api/v1/audit", headers=h_op).status_code == 403
    assert client.get("/audit", headers=h_op).status_code == 403
    page = client.get("/audit?actor=operator", headers=h_admin)
    assert page.status_code == 200 and "/api/v1/alarms/{alarm_id}/ack" in page.text
    r = client.get("/api/v1/security/audit.csv?actor=operator", headers=h_admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["id", "at", "actor", "action", "entity", "entity_id", "address", "detail"]
    assert {x[3] for x in rows[1:]} >= {"http.post"} and all(x[2] == "operator" for x in rows[1:])
    r = client.get("/api/v1/security/audit.xlsx", headers=h_admin)
    ws = load_workbook(io.BytesIO(r.content)).active
    actors = {row[2] for row in ws.iter_rows(min_row=2, values_only=True)}
    assert {"operator", "admin"} <= actors


def test_refusal__audited_for_signed_in_user(world) -> None:  # noqa: ANN001
    client, w = world
    r = client.post("/api/v1/commands", json={"device_id": w.ids["a"]["device_id"], "op": "close_valve", "by": "x"},
                    headers={"Authorization": f"Bearer {w.tokens['viewer']}"})
    assert r.status_code == 403
    assert r.json()["detail"] == ("role city_viewer may not use POST /api/v1/commands "
                                  "(allowed: city_admin, gas_operator)")
    with client.fleet.db.session() as s:
        row = s.scalars(sa.select(AuditLog).where(AuditLog.action == "access.denied")).one()
    assert (row.actor, row.entity_id, row.detail["status"]) == ("viewer", "/api/v1/commands", 403)


def test_enrolment_token__operator_issues_small_batch__second_device_refused(world) -> None:  # noqa: ANN001
    client, w = world
    r = client.post("/api/v1/security/enrolment-tokens", json={"installer": "Wang Wei", "max_devices": 1},
                    headers={"Authorization": f"Bearer {w.tokens['operator']}"})
    assert r.status_code == 201 and r.json()["max_devices"] == 1
    tok = {"Authorization": f"Bearer {r.json()['token']}"}
    r1 = client.post("/api/v1/provision/devices/gg-00aa00aa00aa/key", json={"uid": "00aa00aa00aa"}, headers=tok)
    assert r1.status_code == 201
    r2 = client.post("/api/v1/provision/devices/gg-00bb00bb00bb/key", json={"uid": "00bb00bb00bb"}, headers=tok)
    assert r2.status_code == 403 and r2.json()["reason"] == "token_batch_used"
    with client.fleet.db.session() as s:
        row = s.scalars(sa.select(AuditLog).where(AuditLog.actor == "enrolment:Wang Wei",
                                                  AuditLog.action == "http.post")).one()
    assert row.entity_id == "/api/v1/provision/devices/{device_id}/key"
    assert row.detail["path"] == "/api/v1/provision/devices/gg-00aa00aa00aa/key"
    assert row.detail["address"] == "testclient"
    assert client.get("/api/v1/devices", headers=tok).status_code == 403  # not a user's token
    r = client.post("/api/v1/security/enrolment-tokens", json={"installer": "x"},
                    headers={"Authorization": f"Bearer {w.tokens['installer']}"})
    assert r.status_code == 403


def test_login__locked_after_ten_failures__until_the_window_passes(world, frozen_clock) -> None:  # noqa: ANN001
    client, _ = world
    for _ in range(service.LOCKOUT_FAILURES):
        assert _login(client, "Li", "nope nope nope").status_code == 401
    r = _login(client, "li")  # even the right password, while locked
    assert r.status_code == 429 and "连续10次登录失败，请15分钟后再试" in r.text
    frozen_clock.advance(service.LOCKOUT_S + 1)
    assert _login(client, "li").status_code == 303


def test_answers__carry_security_headers(world) -> None:  # noqa: ANN001
    client, _ = world
    for r in (client.get("/login"), client.get("/api/v1/devices")):
        assert (r.headers["x-frame-options"], r.headers["x-content-type-options"]) == ("DENY", "nosniff")
        assert r.headers["referrer-policy"] == "same-origin"
