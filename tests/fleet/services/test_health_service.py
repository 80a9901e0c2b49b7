"""fleet/services/health.py (named _service: the routes test holds the basename): which devices are
silent, by their model's interval and grace."""

from __future__ import annotations

from datetime import timedelta

from fleet.core.clock import FrozenClock, now
from fleet.services import health
from fleet.store.db import Database
from utils import fleet_factories as ff


def test_silent_devices__per_model_limits(db: Database, frozen_clock: FrozenClock) -> None:
    with db.session() as s:
        fast = ff.product_model(s, heartbeat_interval_s=60, offline_grace_s=60)
        t = now()
        ff.device(s, "gg-fast-quiet", product_model_id=fast.id, last_report_at=t - timedelta(seconds=121))
        ff.device(s, "gg-fast-ok", product_model_id=fast.id, last_report_at=t - timedelta(seconds=100))
        ff.device(s, "gg-default-ok", last_report_at=t - timedelta(seconds=1000))  # default 300 + 900
        ff.device(s, "gg-default-quiet", last_report_at=t - timedelta(seconds=1200))
        ff.device(s, "gg-offline", online=False, last_report_at=t - timedelta(days=3))
        s.commit()
        got = [d.device_id for d in health.silent_devices(s, at=t, default_interval_s=300, default_grace_s=900)]
    assert got == ["gg-default-quiet", "gg-fast-quiet"]


def test_mark_offline_then_report__timeline_events(db: Database, frozen_clock: FrozenClock) -> None:
    from sqlalchemy import select

    from fleet.store.models import Event

    with db.session() as s:
        d = ff.device(s, "gg-a")
        health.mark_offline(s, d, now(), "silent; test")
        health.mark_offline(s, d, now(), "again")  # already offline: nothing more
        frozen_clock.advance(30)
        health.mark_report(s, d, now(), "127.0.0.1:9")
        s.commit()
        evs = [(e.kind, e.origin) for e in s.scalars(select(Event).order_by(Event.id))]
        assert evs == [("offline", "fleet"), ("online", "fleet")]
        assert d.online and d.address == "127.0.0.1:9" and d.last_online_at > d.last_offline_at  # type: ignore[operator]
