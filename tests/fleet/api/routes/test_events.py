"""fleet/api/routes/events.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

from fleet.ingest.core import Ingestor, Item
from utils import fleet_factories as ff
from utils.fleet_runtime import make_settings


def test_filters(api_client: TestClient) -> None:
    fleet = api_client.fleet  # type: ignore[attr-defined]
    with fleet.db.session() as s:
        Ingestor(make_settings(fleet.db.url)).process(s, [
            Item("event", ff.event("gg-a", 1, "boot"), at=ff.at()),
            Item("event", ff.event("gg-a", 2, "alarm"), at=ff.at()),
            Item("event", ff.event("gg-b", 1, "boot"), at=ff.at()),
        ])
        s.commit()
    assert api_client.get("/api/v1/events").json()["count"] == 3
    assert api_client.get("/api/v1/events", params={"kind": "boot"}).json()["count"] == 2
    r = api_client.get("/api/v1/events", params={"device_id": "gg-a", "limit": 1}).json()
    assert r["count"] == 2 and r["data"][0]["kind"] == "alarm"
    r = api_client.get("/api/v1/events", params={"since": "not a time"})
    assert r.status_code == 422 and r.json()["detail"].startswith("query.since: Input should be a valid datetime")
