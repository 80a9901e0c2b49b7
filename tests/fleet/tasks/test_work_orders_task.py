"""fleet/tasks/work_orders.py: the daily run raises the lifecycle work orders, driven by an
injected clock and sleep (days pass without waiting), on a started fleet's database thread."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timezone

from sqlalchemy import select

from fleet.core import clock as clock_mod
from fleet.core.clock import FrozenClock
from fleet.lifecycle.models import WorkOrder
from fleet.lifecycle.rules import Policy
from fleet.runtime import Fleet
from fleet.store.db import Database
from fleet.store.models import Asset, ProductModel, Site
from fleet.tasks.work_orders import next_run, run_work_orders
from utils.fleet_runtime import make_settings

POLICY = Policy(lead_days={"calibration_due": 30, "sensor_eol": 60, "valve_eol": 90, "hose_eol": 90})


def test_next_run__at_one_utc_strictly_after() -> None:
    utc = timezone.utc
    assert next_run(datetime(2024, 4, 7, 0, 59, tzinfo=utc)) == datetime(2024, 4, 7, 1, 0, tzinfo=utc)
    assert next_run(datetime(2024, 4, 7, 1, 0, tzinfo=utc)) == datetime(2024, 4, 8, 1, 0, tzinfo=utc)
    assert next_run(datetime(2024, 4, 7, 23, 0, tzinfo=utc), time(2, 30)) == datetime(2024, 4, 8, 2, 30, tzinfo=utc)


def test_run_work_orders__raises_the_calibration_order_on_its_day_once(db: Database) -> None:
    with db.session() as s:
        model = ProductModel(code="ALM-1", kind="alarm", maker="M", model="A1", calibration_interval_days=365)
        site = Site(account_no="HH-001", name="张三", category="residential", supply="pipeline", township="城关镇",
                    community="一社区")
        s.add_all([model, site])
        s.flush()
        s.add(Asset(kind="alarm", product_model_id=model.id, serial="AL-1", site_id=site.id,
                    installed_on=date(2023, 5, 10), status="in_service"))
        s.commit()
    # calibration due 2024-05-09, raised 30 days ahead: by the run of 2024-04-09 01:00 UTC
    clock = FrozenClock(datetime(2024, 4, 7, 15, 0, tzinfo=timezone.utc))
    clock_mod.set_clock(clock)  # raise_work_orders stamps raised_at with the fleet clock
    naps: list[tuple[datetime, int]] = []  # (when a nap starts, work orders stored by then)

    async def main() -> None:
        fleet = Fleet(make_settings(db.url), database=Database(db.url))
        await fleet.start(coap=False, background=False)

        async def sleep(seconds: float) -> None:
            with db.session() as s:
                naps.append((clock(), len(s.scalars(select(WorkOrder.id)).all())))
            if clock() >= datetime(2024, 4, 11, 12, tzinfo=timezone.utc):
                raise asyncio.CancelledError
            clock.advance(seconds)

        try:
            await run_work_orders(fleet, policy=POLICY, clock=clock, sleep=sleep)
        except asyncio.CancelledError:
            pass
        finally:
            await fleet.stop()

    try:
        asyncio.run(main())
    finally:
        clock_mod.set_clock(None)
    run_0409 = datetime(2024, 4, 9, 1, 0, tzinfo=timezone.utc)
    with db.session() as s:
        rows = s.scalars(select(WorkOrder)).all()
        assert [(w.kind, w.due_on, w.state, w.raised_at) for w in rows] == [
            ("calibration_due", date(2024, 5, 9), "open", run_0409)]
    assert [n for t, n in naps if t < run_0409] == [0] * len([t for t, _ in naps if t < run_0409])
    assert {n for t, n in naps if t >= run_0409} == {1}  # raised on its day, then never again
    assert sum(1 for t, _ in naps if t.time() == time(1, 0)) == 4  # a run each day 04-08..04-11
