"""fleet/api/routes/alarms.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

from fleet.ingest.core import Ingestor, Item
from utils import fleet_factories as ff
from utils.fleet_runtime import make_settings

DEV = "gg-a4cf12b3c4d5"


def _alarm(client: TestClient) -> int:
    fleet = client.fleet  # type: ignore[attr-defined]
    with fleet.db.session() as s:
        Ingestor(make_settings(fleet.db.url)).process(
            s, [Item("registration", ff.registration(DEV), at=ff.at()),
                Item("event", ff.event(DEV, 1, "alarm", lvl=2, lel=33.0), at=ff.at())])
        s.commit()
    return client.get("/api/v1/alarms", params={"active": True}).json()["data"][0]["id"]  # type: ignore[no-any-return]


def test_ack_then_resolve__with_audit(api_client: TestClient) -> None:
    aid = _alarm(api_client)
    r = api_client.post(f"/api/v1/alarms/{aid}/ack", json={"by": "张三", "note": "已通知"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged" and r.json()["acknowledged_by"] == "张三"
    r = api_client.post(f"/api/v1/alarms/{aid}/resolve", json={"by": "张三"})
    assert r.json()["state"] == "resolved"
    audit = api_client.get(f"/api/v1/alarms/{aid}/audit").json()
    assert [(a["actor"], a["action"]) for a in audit] == [(DEV, "alarm.opened"), ("张三", "alarm.acknowledged"),
                                                          ("张三", "alarm.resolved")]
    assert api_client.get("/api/v1/alarms", params={"active": True}).json()["count"] == 0
    assert api_client.get("/api/v1/alarms", params={"state": "resolved"}).json()["count"] == 1


def test_ack__invalid(api_client: TestClient) -> None:
    aid = _alarm(api_client)
    r = api_client.post(f"/api/v1/alarms/{aid}/ack", json={})
    assert (r.status_code, r.json()["detail"]) == (422, "body.by: Field required")
    r = api_client.post("/api/v1/alarms/999/ack", json={"by": "x"})
    assert (r.status_code, r.json()) == (404, {"detail": "alarm 999 not found", "reason": "alarm_not_found"})
    api_client.post(f"/api/v1/alarms/{aid}/resolve", json={"by": "x"})
    r = api_client.post(f"/api/v1/alarms/{aid}/ack", json={"by": "x"})
    assert (r.status_code, r.json()) == (409, {"detail": f"alarm {aid} is already resolved", "reason": "alarm_resolved"})
    r = api_client.get("/api/v1/alarms", params={"state": "gone"})
    assert r.status_code == 422 and r.json()["detail"] == "query.state: Input should be 'open', 'acknowledged' or 'resolved'"
