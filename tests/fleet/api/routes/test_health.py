"""fleet/api/routes/health.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


def test_health__counts_and_coap_port(api_client: TestClient) -> None:
    api_client.post("/api/v1/devices", json={"device_id": "gg-a"})
    h = api_client.get("/api/v1/health").json()
    assert h["status"] == "ok" and h["database"] == "ok"
    assert h["devices"] == {"total": 1, "online": 0, "offline": 1}
    assert h["coap_port"] == api_client.fleet.coap_port  # type: ignore[attr-defined]
    assert h["alarms_active"] == 0 and h["ingest"]["messages"] == 0


def test_openapi__lists_every_resource(api_client: TestClient) -> None:
    paths = api_client.get("/openapi.json").json()["paths"]
    for p in ("/api/v1/devices", "/api/v1/models", "/api/v1/sites", "/api/v1/events", "/api/v1/alarms",
              "/api/v1/commands", "/api/v1/health"):
        assert p in paths


def test_unknown_path__json_404(api_client: TestClient) -> None:
    r = api_client.get("/api/v1/nothing")
    assert (r.status_code, r.json()) == (404, {"detail": "Not Found", "reason": "not_found"})
