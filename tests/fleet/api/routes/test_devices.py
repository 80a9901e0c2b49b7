"""fleet/api/routes/devices.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

from fleet.ingest.core import Ingestor, Item
from utils import fleet_factories as ff
from utils.fleet_runtime import make_settings

DEV = "gg-a4cf12b3c4d5"


def _ingest(client: TestClient, *msgs: tuple[str, dict]) -> None:
    fleet = client.fleet  # type: ignore[attr-defined]
    with fleet.db.session() as s:
        Ingestor(make_settings(fleet.db.url)).process(s, [Item(k, b, at=ff.at(), remote="127.0.0.1:5999") for k, b in msgs])
        s.commit()


def test_create_then_get__links_model_and_site(api_client: TestClient) -> None:
    c = api_client
    assert c.post("/api/v1/models", json={"code": "GG-A1", "kind": "alarm_shutoff", "maker": "m", "model": "x"}).status_code == 201
    assert c.post("/api/v1/sites", json={"account_no": "XY1", "name": "饭店", "category": "non_residential",
                                         "supply": "pipeline"}).status_code == 201
    r = c.post("/api/v1/devices", json={"device_id": DEV, "model_code": "GG-A1", "site_account_no": "XY1"})
    assert r.status_code == 201, r.text
    d = c.get(f"/api/v1/devices/{DEV}").json()
    assert (d["device_id"], d["model_code"], d["site_code"], d["online"]) == (DEV, "GG-A1", "XY1", False)


def test_create__invalid(api_client: TestClient) -> None:
    c = api_client
    r = c.post("/api/v1/devices", json={"device_id": "GG BAD"})
    assert r.status_code == 422
    assert r.json()["detail"] == "body.device_id: String should match pattern '^[a-z0-9][a-z0-9-]{0,31}$'"
    assert c.post("/api/v1/devices", json={"device_id": DEV}).status_code == 201
    r = c.post("/api/v1/devices", json={"device_id": DEV})
    assert (r.status_code, r.json()) == (409, {"detail": "device 'gg-a4cf12b3c4d5' already registered",
                                                "reason": "device_exists"})
    r = c.post("/api/v1/devices", json={"device_id": "gg-2", "model_code": "NOPE"})
    assert (r.status_code, r.json()["detail"]) == (404, "product model 'NOPE' not found")


def test_get__unknown__404_json(api_client: TestClient) -> None:
    r = api_client.get("/api/v1/devices/gg-nope")
    assert (r.status_code, r.json()) == (404, {"detail": "device 'gg-nope' not found", "reason": "device_not_found"})


def test_list__filters_and_pagination(api_client: TestClient) -> None:
    for i in range(5):
        _ingest(api_client, ("registration", ff.registration(f"gg-{i:012x}")))
    r = api_client.get("/api/v1/devices", params={"limit": 2, "offset": 1}).json()
    assert r["count"] == 5 and [d["device_id"] for d in r["data"]] == ["gg-000000000001", "gg-000000000002"]
    assert api_client.get("/api/v1/devices", params={"online": False}).json()["count"] == 0
    r = api_client.get("/api/v1/devices", params={"limit": 501})
    assert r.status_code == 422 and r.json()["detail"] == "query.limit: Input should be less than or equal to 500"


def test_timeline_readings_gaps(api_client: TestClient) -> None:
    _ingest(api_client, ("registration", ff.registration(DEV)), ("event", ff.event(DEV, 1)),
            ("event", ff.event(DEV, 3, "fault", f=2)), ("heartbeat", ff.heartbeat(DEV, lel=4.0)))
    ev = api_client.get(f"/api/v1/devices/{DEV}/events").json()
    assert ev["count"] == 2 and [e["seq"] for e in ev["data"]] == [3, 1]
    assert api_client.get(f"/api/v1/devices/{DEV}/events", params={"kind": "fault"}).json()["count"] == 1
    rd = api_client.get(f"/api/v1/devices/{DEV}/readings").json()
    assert [x["lel"] for x in rd] == [4.0]
    gaps = api_client.get(f"/api/v1/devices/{DEV}/gaps").json()
    assert [(g["first_missing"], g["last_missing"]) for g in gaps] == [(2, 2)]
    assert api_client.get("/api/v1/events", params={"device_id": DEV, "origin": "device"}).json()["count"] == 2
