"""Every route of the real app (fleet.api.main.create_app, enumerated from app.routes) refuses
the unauthenticated (401), every role its rule does not list (403), and township A's staff
reaching township B's sites, devices, alarms, commands, work orders, findings or reports
(403 or 404, nothing of B in any answer, nothing of B changed). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest
from security_fixtures import B_MARKERS, PRINCIPALS, TOWN_B, app_client, make_tokens, seed

from fleet.security import policy
from fleet.security.guard import declared_routes

# JSON bodies / form fields that would succeed if scope did not stop them: so a 403/404 proves
# the township rule, not a validation error.
API_BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/alarms/{alarm_id}/ack": {"by": "staff"},
    "POST /api/v1/alarms/{alarm_id}/resolve": {"by": "staff"},
    "POST /api/v1/workorders/{wo_id}/{action}": {"name": "staff"},
    "POST /api/v1/assets/{asset_id}/calibrations": {"calibrated_on": "2026-03-01", "by": "staff", "result": "pass"},
    "POST /api/v1/campaign/installs": {"site_id": "{site_id}", "installed_on": "2026-03-01", "installer": "staff",
                                       "items": [{"kind": "alarm_shutoff", "model": "AS-OK", "serial": "X1"}]},
    "POST /api/v1/campaign/inspections": {"kind": "self_check", "site_id": "{site_id}", "inspected_on": "2026-03-01",
                                          "inspector": "staff", "result": "fail", "findings": ["x"]},
    "POST /api/v1/campaign/findings/{finding_id}/rectify": {"by": "staff"},
    "POST /api/v1/campaign/findings/{finding_id}/close": {"by": "staff"},
}
FORM_BODIES: dict[str, dict[str, Any]] = {
    "POST /alarms/{alarm_id}/ack": {"by": "staff"},
    "POST /alarms/{alarm_id}/resolve": {"by": "staff"},
    "POST /workorders/{wo_id}/assign": {"name": "staff"},
    "POST /workorders/{wo_id}/done": {"name": "staff"},
    "POST /workorders/{wo_id}/close": {"name": "staff"},
    "POST /campaign/sites/{site_id}/install": {"installer": "staff", "installed_on": "2026-03-01",
                                               "kind": "alarm_shutoff", "model": "AS-OK", "serial": "X2"},
    "POST /campaign/sites/{site_id}/inspect": {"kind": "self_check", "inspector": "staff", "result": "pass"},
    "POST /campaign/findings/{finding_id}/{action}": {"name": "staff"},
}
ACTIONS = {"/api/v1/workorders/{wo_id}/{action}": "assign", "/campaign/findings/{finding_id}/{action}": "rectify",
           "/campaign/stops/{stop_id}/{action}": "hazard-removed"}
# Page posts that answer a refusal as a redirect back with the outcome (the dashboard's way).
REDIRECT_REFUSALS = {"POST /alarms/{alarm_id}/ack", "POST /alarms/{alarm_id}/resolve"}


def _fill(template: str, ids: dict[str, Any], world_ids: dict[str, Any]) -> str:
    values = {**ids, "model_id": 1, "username": "viewer", "token_id": world_ids["token_id"],
              "action": ACTIONS.get(template, "assign")}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(values[m.group(1)]), template)


def _body(key: str, ids: dict[str, Any]) -> dict[str, Any]:
    def sub(v: Any) -> Any:
        return ids["site_id"] if v == "{site_id}" else v
    if key in API_BODIES:
        return {"json": {k: sub(v) for k, v in API_BODIES[key].items()}}
    if key in FORM_BODIES:
        return {"data": FORM_BODIES[key]}
    return {"json": {}} if key.split(" ")[0] in policy.STATE_CHANGING and " /api/" in key else {}


def _text(r: Any) -> str:
    ctype = r.headers.get("content-type", "")
    if "spreadsheetml" in ctype:
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
    return r.content.decode("utf-8", "replace")


@pytest.fixture
def world(db):  # noqa: ANN001, ANN201 - (client, World)
    w = seed(db)
    make_tokens(db, w)
    with app_client(db) as client:
        yield client, w


def test_every_route__declared_in_policy(world) -> None:  # noqa: ANN001
    client, _w = world
    missing = [f"{m} {p}" for m, p in declared_routes(client.app) if policy.rule_for(m, p) is None]
    assert missing == [], f"routes without a rule in fleet/security/policy.py: {missing}"


def test_route_added_without_declaration__fails_the_check_and_is_refused(world) -> None:  # noqa: ANN001
    client, w = world

    @client.app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {"secret": "yes"}

    client.app.middleware_stack = None  # the guard's route table is rebuilt with the new route
    client.app.middleware_stack = client.app.build_middleware_stack()
    missing = [f"{m} {p}" for m, p in declared_routes(client.app) if policy.rule_for(m, p) is None]
    assert missing == ["GET /api/v1/forgotten"]
    assert client.get("/api/v1/forgotten").status_code == 401
    r = client.get("/api/v1/forgotten", headers={"Authorization": f"Bearer {w.tokens['viewer']}"})
    assert r.status_code == 403
    assert r.json()["detail"] == ("GET /api/v1/forgotten is not declared in fleet/security/policy.py; refused")


def test_every_route__refuses_unauthenticated_wrong_role_and_wrong_township(world) -> None:  # noqa: ANN001
    client, w = world
    b = w.ids["b"]
    checked = {"unauth": 0, "role": 0, "township": 0, "allowed": 0}
    for method, template in declared_routes(client.app):
        key = f"{method} {template}"
        rule = policy.rule_for(method, template)
        assert rule is not None, key
        url = _fill(template, b, w.ids)
        kw = _body(key, b)
        if rule.public:
            continue
        r = client.request(method, url, **kw)
        assert r.status_code == 401, f"{key}: unauthenticated got {r.status_code}"
        checked["unauth"] += 1
        if rule.enrolment:
            r = client.request(method, url, headers={"Authorization": f"Bearer {w.ids['enrol_token']}"}, **kw)
            assert r.status_code not in (401, 403), f"{key}: enrolment token refused: {r.text}"
        else:
            r = client.request(method, url, headers={"Authorization": f"Bearer {w.ids['enrol_token']}"}, **kw)
            assert r.status_code == 403, f"{key}: an enrolment token must not open it ({r.status_code})"
        for name, spec in PRINCIPALS.items():
            headers = {"Authorization": f"Bearer {w.tokens[name]}"}
            if spec["role"] not in rule.roles:
                r = client.request(method, url, headers=headers, **kw)
                assert r.status_code in ((401, 403) if rule.enrolment else (403,)), f"{key}: {name} should be refused, got {r.status_code}"
                checked["role"] += 1
            elif name == "staff_a":
                r = client.request(method, url, headers=headers, **kw)
                text = _text(r)
                named = [p for p in re.findall(r"\{(\w+)", template) if p in b]
                if named:  # a record of township B in the path
                    if key in REDIRECT_REFUSALS:
                        assert r.status_code == 303 and "not_found" in r.headers["location"], (key, r.status_code)
                    else:
                        assert r.status_code in (403, 404), f"{key}: staff of A reached B: {r.status_code} {text[:200]}"
                else:
                    assert r.status_code not in (401, 403), f"{key}: staff_a refused: {r.status_code} {text[:200]}"
                leaked = [m for m in B_MARKERS if m in text and m not in url]  # echoing the ask is no leak
                assert leaked == [], f"{key}: township B leaked to A's staff: {leaked}"
                if method == "GET":
                    r2 = client.get(url, params={"township": TOWN_B}, headers=headers)
                    assert r2.status_code == 403, f"{key}?township=B: {r2.status_code}"
                checked["township"] += 1
            elif method == "GET":
                r = client.request(method, url, headers=headers, **kw)
                assert r.status_code not in (401, 403), f"{key}: {name} may use it, got {r.status_code} {r.text[:200]}"
                checked["allowed"] += 1
    assert checked["unauth"] >= 75 and checked["role"] >= 150 and checked["township"] >= 40, checked

    # nothing of township B changed by all those attempts
    from fleet.campaign.models import Finding, Install
    from fleet.lifecycle.models import WorkOrder
    from fleet.store.models import Alarm

    with client.fleet.db.session() as s:
        assert s.get(Alarm, b["alarm_id"]).state == "open"
        assert s.get(Finding, b["finding_id"]).state == "open"
        assert s.get(WorkOrder, b["wo_id"]).state == "open"
        assert s.query(Install).filter(Install.site_id == b["site_id"]).count() == 0


def test_township_staff__lists_show_only_their_township(world) -> None:  # noqa: ANN001
    client, w = world
    h = {"Authorization": f"Bearer {w.tokens['staff_a']}"}
    a = w.ids["a"]
    assert [d["device_id"] for d in client.get("/api/v1/devices", headers=h).json()["data"]] == [a["device_id"]]
    assert [s["id"] for s in client.get("/api/v1/sites", headers=h).json()["data"]] == [a["site_id"]]
    assert [x["id"] for x in client.get("/api/v1/alarms", headers=h).json()["data"]] == [a["alarm_id"]]
    assert [x["id"] for x in client.get("/api/v1/commands", headers=h).json()["data"]] == [a["command_id"]]
    assert client.get(f"/api/v1/devices/{a['device_id']}", headers=h).status_code == 200
    r = client.get(f"/api/v1/devices/{w.ids['b']['device_id']}", headers=h)
    assert r.status_code == 404 and r.json()["detail"] == r.json()["detail"].replace(TOWN_B, "")
    # the city viewer sees both
    hv = {"Authorization": f"Bearer {w.tokens['viewer']}"}
    assert client.get("/api/v1/devices", headers=hv).json()["count"] == 2
