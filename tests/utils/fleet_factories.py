"""Factories for fleet tests: catalogue entries, sites, devices, and protocol messages as the
flat dicts `protocol.messages` hands to the fleet (encode them with `protocol.messages.encode`)."""

from __future__ import annotations

from datetime import datetime
from itertools import count
from typing import Any

from sqlalchemy.orm import Session

from fleet.core.clock import now
from fleet.store.models import Device, ProductModel, Site

_n = count(1)


def product_model(session: Session, **kw: Any) -> ProductModel:
    n = next(_n)
    values: dict[str, Any] = dict(
        code=f"GG-A{n}", kind="alarm_shutoff", maker="Zhengzhou Safe Co.", model=f"JT-{n}", gas="methane",
        sensor="catalytic", calibration_interval_days=365, sensor_life_days=1825, service_life_days=3650,
        heartbeat_interval_s=300, offline_grace_s=600, approved=True,
    )
    values.update(kw)
    pm = ProductModel(**values)
    session.add(pm)
    session.flush()
    return pm


def site(session: Session, **kw: Any) -> Site:
    n = next(_n)
    values: dict[str, Any] = dict(
        account_no=f"XY{n:06d}", name=f"豫香饭店 {n}", category="non_residential", supply="pipeline",
        township="豫龙镇", community="槐西村", address=f"中原路 {n} 号", contact="王经理", phone="13800000000",
    )
    values.update(kw)
    s = Site(**values)
    session.add(s)
    session.flush()
    return s


def device(session: Session, device_id: str | None = None, **kw: Any) -> Device:
    n = next(_n)
    values: dict[str, Any] = dict(
        device_id=device_id or f"gg-{n:012x}", uid=f"{n:012x}", board="gg-esp32-v1", fw="0.1.0",
        gas="methane", last_seq=0, online=True, last_report_at=now(), last_online_at=now(),
        registered_at=now(),
    )
    values.update(kw)
    d = Device(**values)
    session.add(d)
    session.flush()
    return d


def registration(dev: str = "gg-a4cf12b3c4d5", **kw: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"dev": dev, "uid": bytes.fromhex(dev[3:].ljust(12, "0")[:12]) if dev.startswith("gg-") else b"\x01",
                           "model": "GG-A1", "board": "gg-esp32-v1", "fw": "0.1.0", "gas": "methane",
                           "seq": 0, "boot": 1}
    msg.update(kw)
    return msg


def heartbeat(dev: str = "gg-a4cf12b3c4d5", **kw: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"dev": dev, "t": 0, "fw": "0.1.0", "lel": 0.5, "alarm": 0, "valve": 0, "faults": 0,
                           "uptime": 120, "last_seq": 0}
    msg.update(kw)
    return msg


def event(dev: str = "gg-a4cf12b3c4d5", seq: int = 1, k: str = "boot", **kw: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"dev": dev, "seq": seq, "k": k, "up": 10}
    if k == "alarm":
        msg.update(lvl=2, lel=35.0)
    if k == "boot":
        msg["boot"] = 1
    msg.update(kw)
    return msg


def command_result(dev: str, cmd_id: int, st: str = "done", **kw: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"dev": dev, "id": cmd_id, "st": st}
    msg.update(kw)
    return msg


def at(ts: datetime | None = None) -> datetime:
    return ts or now()
