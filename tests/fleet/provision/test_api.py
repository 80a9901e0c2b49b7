"""/api/v1/provision (fleet/provision/api.py, service.py) over HTTP, on SQLite and PostgreSQL:
enrolment tokens, the device key's life (issued, the same until used, fingerprint only once in
use, rekey, a foreign chip refused) and acceptance records tied to the install."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from fleet.core import clock as clock_mod
from fleet.provision.service import fingerprint
from utils import fleet_factories as ff

DEV = "gg-240ac4123456"
UID = "240ac4123456"


@pytest.fixture
def client(db) -> Iterator:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from fleet.api import main as api_main
    from fleet.runtime import Fleet
    from fleet.store.db import Database
    from utils.fleet_runtime import make_settings

    fleet = Fleet(make_settings(db.url), database=Database(db.url))
    app = api_main.create_app(fleet, manage=True, background=False)
    with TestClient(app) as c:
        c.fleet = fleet
        yield c


def _token(client, ttl_s: int = 3600, installer: str = "Wang Wei") -> str:
    """Issued in the store: the HTTP route for it is an operator's (behind the security layer)."""
    from fleet.provision.service import issue_token

    with client.fleet.db.session() as s:
        token, _ = issue_token(s, installer=installer, issued_by="admin", ttl_s=ttl_s)
        s.commit()
    return token


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_key__without_token__401_with_reason(client):
    r = client.post(f"/api/v1/provision/devices/{DEV}/key", json={"uid": UID})
    assert r.status_code == 401
    assert r.json()["detail"] == ("enrolment token required: send 'Authorization: Bearer <token>' "
                                  "(gasguard provision --token, or $GASGUARD_ENROL_TOKEN)")
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.post(f"/api/v1/provision/devices/{DEV}/key", json={"uid": UID}, headers=_auth("gge_nope"))
    assert r.status_code == 401
    assert r.json()["detail"] == "enrolment token not recognised; ask the fleet operator for a new one"


def test_token__expired_and_revoked__401(client):
    token = _token(client, ttl_s=60)
    assert client.post(f"/api/v1/provision/devices/{DEV}/key", json={"uid": UID}, headers=_auth(token)).status_code == 201
    t0 = clock_mod.now()
    clock_mod.set_clock(lambda: t0 + timedelta(seconds=61))
    try:
        r = client.post(f"/api/v1/provision/devices/{DEV}/key", json={"uid": UID}, headers=_auth(token))
    finally:
        clock_mod.set_clock(None)
    assert r.status_code == 401
    assert r.json()["detail"].startswith("enrolment token of Wang Wei expired at ")

    from fleet.provision.service import revoke_token
    from fleet.provision.models import EnrolmentToken

    token3 = _token(client, installer="Li")
    assert client.post(f"/api/v1/provision/devices/{DEV}/key", json={"uid": UID},
                       headers=_auth(token3)).status_code == 200
    with client.fleet.db.session() as s:
        tid = s.query(EnrolmentToken).filter_by(installer="Li").one().id
        revoke_token(s, token_id=tid, by="admin")
        s.commit()
    r = client.post(f"/api/v1/provision/devices/{DEV}/key", json={"uid": UID}, headers=_auth(token3))
    assert r.status_code == 401
    assert r.json()["detail"].startswith("enrolment token of Li was revoked")


@pytest.mark.parametrize("kw, message", [
    (dict(installer=" ", issued_by="a"), "installer: say who the token is for"),
    (dict(installer="x", issued_by=""), "issued_by: say who issues the token"),
    (dict(installer="x", issued_by="a", ttl_s=10), "ttl_s: expected 60..86400 seconds, got 10"),
])
def test_issue_token__invalid__refused(sqlite_db, kw, message):
    from fleet.core.errors import BadInput
    from fleet.provision.service import issue_token

    with sqlite_db.session() as s, pytest.raises(BadInput) as ei:
        issue_token(s, **kw)
    assert ei.value.message == message


def test_key__issued_then_same_until_used_then_fingerprint_only__rekey_new(client):
    token = _token(client)
    url = f"/api/v1/provision/devices/{DEV}/key"
    r = client.post(url, json={"uid": UID}, headers=_auth(token))
    assert r.status_code == 201
    k1 = r.json()
    osc = k1["oscore"]
    assert len(bytes.fromhex(osc["master_secret"])) == 16 and len(bytes.fromhex(osc["id_context"])) == 8
    assert osc["recipient_id"] == "" and len(bytes.fromhex(osc["sender_id"])) == 4
    assert k1["fingerprint"] == fingerprint(osc) and k1["version"] == 1 and not k1["in_use"]

    r = client.post(url, json={"uid": UID}, headers=_auth(token))  # a repeated run: the same key
    assert r.status_code == 200 and r.json()["oscore"] == osc and not r.json()["created"]

    with client.fleet.db.session() as s:  # the device registers: the key is in use
        ff.device(s, DEV, uid=UID, registered_at=clock_mod.now())
        s.commit()
    r = client.post(url, json={"uid": UID}, headers=_auth(token))
    assert r.status_code == 200
    assert r.json()["in_use"] and r.json()["oscore"] is None and r.json()["fingerprint"] == k1["fingerprint"]

    r = client.post(url, json={"uid": UID, "rekey": True}, headers=_auth(token))
    assert r.status_code == 201
    k2 = r.json()
    assert k2["version"] == 2 and not k2["in_use"]
    assert k2["oscore"]["sender_id"] == osc["sender_id"]
    assert k2["oscore"]["master_secret"] != osc["master_secret"] and k2["oscore"]["id_context"] != osc["id_context"]


def test_key__another_chip__409(client):
    token = _token(client)
    url = f"/api/v1/provision/devices/{DEV}/key"
    assert client.post(url, json={"uid": UID}, headers=_auth(token)).status_code == 201
    r = client.post(url, json={"uid": "240ac4ffffff"}, headers=_auth(token))
    assert r.status_code == 409
    assert r.json() == {"detail": f"device '{DEV}' was keyed for chip uid {UID}, not 240ac4ffffff; a replaced board "
                                  "needs its own device id", "reason": "uid_mismatch"}


def test_key__bad_device_id__422(client):
    r = client.post("/api/v1/provision/devices/GG_bad!/key", json={}, headers=_auth(_token(client)))
    assert r.status_code == 422


def test_acceptance__recorded_on_the_install_timeline_and_test_alarm_resolved(client):
    token = _token(client)
    from fleet.campaign.service import ItemSpec, record_install
    from fleet.store.models import Alarm

    with client.fleet.db.session() as s:
        site = ff.site(s)
        pm = ff.product_model(s)
        ff.device(s, DEV, uid=UID, site_code=site.account_no)
        inst = record_install(s, site_id=site.id, installed_on=date.today(), installer="Wang Wei",
                              items=[ItemSpec(kind="alarm_shutoff", model_code=pm.code, serial=DEV)])
        s.add(Alarm(device_id=DEV, state="open", level=1, opened_at=clock_mod.now()))
        s.commit()
        inst_id = inst.id
    body = {"result": "pass", "method": "virtual", "checks": {"alarm": True, "buzzer": True, "valve_closed": True,
                                                               "fleet_alarm": True, "fleet_valve_closed": True}}
    r = client.post(f"/api/v1/provision/devices/{DEV}/acceptance", json=body, headers=_auth(token))
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["install_id"] == inst_id and rec["installer"] == "Wang Wei" and rec["result"] == "pass"
    from fleet.store.models import Event

    with client.fleet.db.session() as s:  # the device's timeline and its alarms (operators' routes)
        ev = s.query(Event).filter_by(device_id=DEV, kind="acceptance").one()
        assert ev.origin == "fleet" and ev.payload["acceptance_id"] == rec["id"]
        alarms = [(a.state, a.resolved_by) for a in s.query(Alarm).filter_by(device_id=DEV)]
    assert alarms == [("resolved", "Wang Wei")]
    listed = client.get(f"/api/v1/provision/devices/{DEV}/acceptance", headers=_auth(token)).json()
    assert [a["id"] for a in listed] == [rec["id"]]


def test_acceptance__unknown_device__404(client):
    body = {"result": "fail", "method": "installer", "checks": {"alarm": False}}
    r = client.post(f"/api/v1/provision/devices/{DEV}/acceptance", json=body, headers=_auth(_token(client)))
    assert r.status_code == 404
    assert r.json()["detail"] == f"device '{DEV}' not found: it must register before its acceptance test"


def test_key__carries_coap_port_and_that_the_fleet_speaks_oscore(client):
    r = client.post(f"/api/v1/provision/devices/{DEV}/key", json={"uid": UID}, headers=_auth(_token(client)))
    assert r.json()["coap_port"] == client.fleet.coap_port and r.json()["fleet_oscore"] is True


def test_status__registration_and_event_kinds_after_a_seq(client):
    token = _token(client)
    url = f"/api/v1/provision/devices/{DEV}/status"
    assert client.get(url, headers=_auth(token)).json()["known"] is False
    from fleet.store.models import Event

    with client.fleet.db.session() as s:
        ff.device(s, DEV, uid=UID, last_seq=7)
        for seq, kind in ((6, "boot"), (7, "alarm")):
            s.add(Event(device_id=DEV, seq=seq, kind=kind, origin="device", payload={}, received_at=clock_mod.now()))
        s.commit()
    st = client.get(url, params={"after_seq": 6}, headers=_auth(token)).json()
    assert st["known"] and st["registered_at"] and st["last_seq"] == 7 and st["events_after"] == ["alarm"]
    assert client.get(url, headers=_auth("gge_wrong")).status_code == 401
