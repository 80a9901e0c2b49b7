"""fleet/api/routes/models.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

PM = {"code": "GG-A1", "kind": "alarm_shutoff", "maker": "郑州安全", "model": "JT-1", "gas": "methane",
      "calibration_interval_days": 365, "heartbeat_interval_s": 300, "offline_grace_s": 600, "approved": True}


def test_crud_and_filters(api_client: TestClient) -> None:
    r = api_client.post("/api/v1/models", json=PM)
    assert r.status_code == 201
    mid = r.json()["id"]
    api_client.post("/api/v1/models", json={**PM, "code": "H-1", "kind": "hose", "approved": False})
    assert api_client.get("/api/v1/models", params={"approved": True}).json()["count"] == 1
    assert [m["code"] for m in api_client.get("/api/v1/models", params={"kind": "hose"}).json()["data"]] == ["H-1"]
    r = api_client.patch(f"/api/v1/models/{mid}", json={"offline_grace_s": 900})
    assert r.json()["offline_grace_s"] == 900 and r.json()["heartbeat_interval_s"] == 300


def test_invalid(api_client: TestClient) -> None:
    api_client.post("/api/v1/models", json=PM)
    r = api_client.post("/api/v1/models", json=PM)
    assert (r.status_code, r.json()) == (409, {"detail": "product model 'GG-A1' already exists", "reason": "model_exists"})
    r = api_client.post("/api/v1/models", json={**PM, "code": "X", "kind": "toaster"})
    assert r.status_code == 422 and r.json()["detail"].startswith("body.kind: Input should be 'alarm', 'shutoff'")
    r = api_client.patch("/api/v1/models/999", json={})
    assert (r.status_code, r.json()["detail"]) == (404, "product model 999 not found")
