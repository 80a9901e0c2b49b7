"""fleet/campaign/api.py and fleet/lifecycle/api.py over HTTP (FastAPI TestClient), with the
fleet's error format: progress, needs, installs, inspections, spot-check, supply stops, work
orders and calibration."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from campaign_factories import make_app


@pytest.fixture
def client(db, town):  # noqa: ANN001, ANN201
    with TestClient(make_app(db)) as c:
        yield c


def test_progress_and_needs(client, town) -> None:  # noqa: ANN001
    r = client.get("/api/v1/campaign/progress", params={"as_of": "2023-11-30"})
    assert r.status_code == 200
    body = r.json()
    assert [(a["area"], a["rank"], a["completion_pct"]) for a in body["data"]] == [("广武镇", 1, 66.7), ("城关镇", 2, 57.1)]
    assert body["total"]["sites"] == 10
    assert {s["key"]: s["status"] for s in body["data"][1]["stages"]}["residential"] == "overdue"
    r = client.get("/api/v1/campaign/progress", params={"as_of": "2023-11-30", "township": "城关镇"})
    assert [a["area"] for a in r.json()["data"]] == ["东街", "西街"]
    r = client.get(f"/api/v1/campaign/sites/{town['A-N2']}/needs")
    assert r.json() == {"site_id": town["A-N2"], "must": ["alarm", "shutoff", "hose"], "has": ["alarm"],
                        "missing": ["shutoff", "hose"], "encouraged_missing": [], "compliant": False}
    r = client.get("/api/v1/campaign/sites/9999/needs")
    assert (r.status_code, r.json()) == (404, {"detail": "site 9999 not found", "reason": "not_found"})


def test_install_inspection_spot_check_stop(client, town) -> None:  # noqa: ANN001
    r = client.post("/api/v1/campaign/installs", json={
        "site_id": town["A-R4"], "installed_on": "2023-11-30", "installer": "安装队",
        "items": [{"kind": "self_closing_valve"}]})
    assert r.status_code == 201, r.text
    assert (r.json()["total_fen"], r.json()["city_fen"]) == (18000, 6000)
    r = client.post("/api/v1/campaign/installs", json={
        "site_id": town["A-N2"], "installed_on": "2023-11-30", "installer": "x", "items": [{"kind": "shutoff"}]})
    assert (r.status_code, r.json()["detail"]) == (400, "items[1].serial: a shutoff is a device and needs its serial number")
    r = client.post("/api/v1/campaign/installs", json={"site_id": 1, "installed_on": "2023-11-30", "installer": "x",
                                                       "items": []})
    assert r.status_code == 422 and "body.items" in r.json()["detail"]
    r = client.post("/api/v1/campaign/inspections", json={
        "kind": "spot_check", "site_id": town["B-N1"], "inspected_on": "2023-11-30", "inspector": "市住建局",
        "result": "fail", "findings": ["未联动"], "sample": "s1"})
    assert r.status_code == 201 and len(r.json()["finding_ids"]) == 1
    fid = r.json()["finding_ids"][0]
    r = client.post(f"/api/v1/campaign/findings/{fid}/close", json={"by": "市住建局"})
    assert (r.status_code, r.json()["reason"]) == (409, "bad_state")
    assert client.post(f"/api/v1/campaign/findings/{fid}/rectify", json={"by": "厂1"}).json() == {"state": "rectified"}
    s1 = client.get("/api/v1/campaign/spot-check", params={"seed": "s1", "as_of": "2023-11-30"}).json()
    assert s1 == client.get("/api/v1/campaign/spot-check", params={"seed": "s1", "as_of": "2023-11-30"}).json()
    assert len(s1["城关镇"]) == 5
    r = client.post("/api/v1/campaign/supply-stops", json={"site_id": town["A-N2"], "reason": "未装切断阀", "by": "燃气公司",
                                                           "at": "2023-11-30T08:00:00Z"})
    assert r.status_code == 201 and r.json()["state"] == "stopped"
    sid = r.json()["id"]
    r = client.post(f"/api/v1/campaign/supply-stops/{sid}/restore", json={"by": "燃气公司"})
    assert (r.status_code, r.json()["detail"]) == (409, f"supply stop {sid}: record the hazard as removed before restoring supply")
    r = client.post(f"/api/v1/campaign/supply-stops/{sid}/hazard-removed", json={"by": "镇", "at": "2023-11-30T08:30:00Z"})
    assert r.json()["restore_due_at"].startswith("2023-12-01T08:30:00")
    nc = client.get("/api/v1/campaign/non-compliant", params={"township": "城关镇"}).json()
    assert [(n["account_no"], n["missing"], n["supply"]) for n in nc] == [("A-N2", ["shutoff", "hose"], "restore_due")]


def test_workorders_and_calibration(client, town, set_day) -> None:  # noqa: ANN001
    set_day(date(2024, 11, 1))
    r = client.post("/api/v1/workorders/raise", json={})
    kinds = sorted(w["kind"] for w in r.json()["data"])
    assert kinds == ["calibration_due"] * 4  # every detector installed in Nov 2023 (A-R3, A-N1, A-N2, B-N1)
    wo = r.json()["data"][0]
    r = client.post(f"/api/v1/workorders/{wo['id']}/close", json={"name": "王"})
    assert (r.status_code, r.json()["reason"]) == (409, "bad_state")
    assert client.post(f"/api/v1/workorders/{wo['id']}/assign", json={"name": "李工"}).json()["state"] == "assigned"
    r = client.post(f"/api/v1/assets/{wo['asset_id']}/calibrations", json={
        "calibrated_on": "2024-11-01", "by": "计量所", "result": "pass", "certificate_no": "JD-9"})
    assert r.status_code == 201 and r.json()["calibration_due"] == "2025-11-01"
    listed = client.get("/api/v1/workorders", params={"township": "广武镇"}).json()
    assert listed["count"] == 1 and all(w["state"] == "open" for w in listed["data"])
    assert client.get("/api/v1/workorders", params={"state": "done"}).json()["count"] == 1


def test_pinned_township_refuses_another(db, town) -> None:  # noqa: ANN001
    with TestClient(make_app(db, pin="城关镇")) as c:
        assert [a["area"] for a in c.get("/api/v1/campaign/progress").json()["data"]] == ["东街", "西街"]
        r = c.get("/api/v1/campaign/progress", params={"township": "广武镇"})
        assert (r.status_code, r.json()["detail"]) == (403, "township '广武镇': you can see '城关镇' only")
