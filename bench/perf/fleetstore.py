"""Everything the benchmark knows about the fleet's store and API, in one place.

The scenarios read the store directly after a run (was every acknowledged message stored?) and
time the API's dashboard queries; when the fleet's schema or routes move, this file moves with
them and nothing else in bench/perf does."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import text

BENCH_MODEL = "gg-bench"

# Dashboard and API queries timed in the "million" scenario: name -> (path, module serving it).
# A query whose module is not written yet is reported as skipped, not timed against a 404.
# "page" marks a server-rendered dashboard page (not in the OpenAPI schema).
QUERIES: dict[str, tuple[str, str | None]] = {
    "dashboard_overview": ("/?lang=en", "page"),
    "alarms_now": ("/api/v1/alarms?state=open&limit=50", None),
    "offline_devices": ("/api/v1/devices?online=false&limit=50", None),
    "calibration_due": ("/api/v1/workorders?kind=calibration_due&state=open&limit=50", "fleet.lifecycle.api"),
    "township_progress": ("/api/v1/campaign/progress", "fleet.campaign.api"),
    # One township's community breakdown (what township staff see) and the progress page.
    "township_progress_one": ("/api/v1/campaign/progress?township=%E8%B1%AB%E9%BE%99%E9%95%87", "fleet.campaign.api"),
    "township_progress_page": ("/campaign?lang=en", "page"),
}

# Where the alarm-storm watcher looks for open alarms.
OPEN_ALARMS = "/api/v1/alarms?state=open&limit=500"

_DEV_RE = re.compile(rb'"device_id"\s*:\s*"([a-z0-9-]+)"')


BENCH_USER = "perf-bench"


def prepare(url: str) -> str | None:
    """Create the schema, the benchmark's product model (so registrations are accepted) and a
    read-only API user; returns that user's bearer token (None where the fleet has no users yet).
    """
    from fleet.store.db import Database
    from fleet.store.migrate import upgrade

    upgrade(url)
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            have = conn.execute(text("SELECT count(*) FROM product_models WHERE code = :c"), {"c": BENCH_MODEL}).scalar()
            if not have:
                conn.execute(
                    text(
                        "INSERT INTO product_models (code, kind, maker, model, gas, calibration_interval_days,"
                        " sensor_life_days, service_life_days, heartbeat_interval_s, offline_grace_s, approved, created_at)"
                        " VALUES (:c, 'alarm_shutoff', 'gasguard bench', 'bench device', 'methane', 365, 1825, 3650,"
                        " 300, 900, :t, CURRENT_TIMESTAMP)"
                    ),
                    {"c": BENCH_MODEL, "t": True},
                )
        return _api_token(db)
    finally:
        db.dispose()


def _api_token(db: Any) -> str | None:
    """A `city_viewer` (reads everything, changes nothing) and a one-day token for it."""
    import secrets

    try:
        from fleet.security import service
    except ImportError:
        return None
    with db.session() as s:
        try:
            service.get_user(s, BENCH_USER)
        except Exception:  # noqa: BLE001 - not there yet
            service.create_user(s, username=BENCH_USER, password=secrets.token_urlsafe(24), role="city_viewer",
                                by="gasguard bench perf")
        token, _ = service.issue_token(s, username=BENCH_USER, name="gasguard bench perf", ttl_days=1,
                                       by="gasguard bench perf")
        s.commit()
    return token


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": "Bearer %s" % token} if token else {}


def counts(url: str) -> dict[str, int]:
    """Rows that matter after a run: devices, heartbeat readings, events, open alarms."""
    from fleet.store.db import Database

    db = Database(url)
    try:
        with db.engine.connect() as conn:
            out = {}
            for name, sql in (
                ("devices", "SELECT count(*) FROM devices"),
                ("readings", "SELECT count(*) FROM readings"),
                ("events", "SELECT count(*) FROM events"),
                ("alarms_open", "SELECT count(*) FROM alarms WHERE state = 'open'"),
            ):
                out[name] = int(conn.execute(text(sql)).scalar() or 0)
            return out
    finally:
        db.dispose()


def stored_events(url: str) -> set[tuple[str, int]]:
    """Every (device_id, seq) in the events table."""
    from fleet.store.db import Database

    db = Database(url)
    try:
        with db.engine.connect() as conn:
            return {(d, int(s)) for d, s in conn.execute(text("SELECT device_id, seq FROM events"))}
    finally:
        db.dispose()


def device_ids_in(body: bytes) -> set[str]:
    """Device ids named anywhere in a JSON API answer (list or {data: [...]} alike)."""
    return {m.decode() for m in _DEV_RE.findall(body)}


def json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
