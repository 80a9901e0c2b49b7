"""Helpers for the security tests: the real app over a migrated database, with two townships
of data (A = 城关镇, B = 河西镇) and one user per role."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from fleet.store.db import Database

TOWN_A = "城关镇"
TOWN_B = "河西镇"
B_MARKERS = ("gg-bbbb00000002", "B-ACC-0002", "河西用户", TOWN_B)


@dataclass
class World:
    ids: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # principal name -> bearer token


def seed(database: Database) -> World:
    """Sites, devices, alarms, commands, assets, work orders, findings and supply stops in both
    townships; the B ones are what the A staff must never reach."""
    from fleet.campaign.models import Finding, SupplyStop
    from fleet.lifecycle.models import WorkOrder
    from fleet.provision import service as provision_service
    from fleet.store.models import Alarm, Asset, Command, Device, Event, ProductModel, Site

    w = World()
    t0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
    with database.session() as s:
        s.add(ProductModel(code="AS-OK", kind="alarm_shutoff", maker="M", model="AS1", approved=True))
        for tag, town, n in (("a", TOWN_A, 1), ("b", TOWN_B, 2)):
            name = "城关用户" if tag == "a" else "河西用户"
            site = Site(account_no=f"{tag.upper()}-ACC-000{n}", name=name, category="non_residential",
                        supply="pipeline", township=town, community="一村")
            s.add(site)
            s.flush()
            asset = Asset(kind="alarm_shutoff", serial=f"SN-{tag}", site_id=site.id, installed_on=date(2026, 1, 5))
            s.add(asset)
            s.flush()
            dev_id = f"gg-{tag * 4}0000000{n}"
            s.add(Device(device_id=dev_id, site_id=site.id, asset_id=asset.id, online=True, last_seq=1))
            s.flush()
            s.add(Event(device_id=dev_id, seq=1, kind="alarm", payload={"lel": 30}, received_at=t0))
            alarm = Alarm(device_id=dev_id, site_id=site.id, state="open", level=2, opened_at=t0)
            cmd = Command(device_id=dev_id, op="close_valve", created_by="seed", expires_at=t0 + timedelta(days=3650))
            wo = WorkOrder(key=f"wo-{tag}", kind="calibration_due", site_id=site.id, asset_id=asset.id,
                           device_id=dev_id, due_on=date(2026, 4, 1))
            finding = Finding(site_id=site.id, description=f"hose old {tag}", found_on=date(2026, 2, 1))
            stop = SupplyStop(site_id=site.id, reason="no alarm", stopped_at=t0, stopped_by="seed")
            s.add_all([alarm, cmd, wo, finding, stop])
            s.flush()
            w.ids[tag] = {"site_id": site.id, "device_id": dev_id, "alarm_id": alarm.id, "command_id": cmd.id,
                          "asset_id": asset.id, "wo_id": wo.id, "finding_id": finding.id, "stop_id": stop.id}
        token, row = provision_service.issue_token(s, installer="Wang Wei", issued_by="seed")
        w.ids["enrol_token"] = token
        w.ids["token_id"] = row.id
        s.commit()
    return w


PRINCIPALS: dict[str, dict[str, Any]] = {
    "admin": {"role": "city_admin"},
    "viewer": {"role": "city_viewer"},
    "staff_a": {"role": "township_staff", "township": TOWN_A},
    "operator": {"role": "gas_operator"},
    "installer": {"role": "installer"},
    "maker": {"role": "maker"},
}


def make_tokens(database: Database, world: World) -> None:
    from utils.security_auth import make_token

    for name, kw in PRINCIPALS.items():
        world.tokens[name] = make_token(database, username=name.replace("_", "-"), **kw)


@contextmanager
def app_client(database: Database) -> Iterator[TestClient]:
    """The whole fleet app (fleet.api.main.create_app) over `database`, CoAP on a free port."""
    from fleet.api.main import create_app
    from fleet.runtime import Fleet
    from utils.fleet_runtime import make_settings

    fleet = Fleet(make_settings(database.url), database=Database(database.url))
    app = create_app(fleet, manage=True, background=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = TestClient(app, follow_redirects=False)
    with client:
        client.fleet = fleet  # type: ignore[attr-defined]
        yield client
