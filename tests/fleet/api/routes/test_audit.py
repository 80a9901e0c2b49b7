"""fleet/api/routes/audit.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


def test_filters(api_client: "TestClient") -> None:
    api_client.post("/api/v1/devices", json={"device_id": "gg-a"})
    for by in ("张三", "李四"):
        api_client.post("/api/v1/commands", json={"device_id": "gg-a", "op": "reboot", "by": by})
    r = api_client.get("/api/v1/audit", params={"entity": "command"}).json()
    assert r["count"] == 2 and [a["actor"] for a in r["data"]] == ["李四", "张三"]
    r = api_client.get("/api/v1/audit", params={"actor": "张三", "action": "command.created"}).json()
    assert r["count"] == 1 and r["data"][0]["detail"] == {"device_id": "gg-a", "op": "reboot"}
