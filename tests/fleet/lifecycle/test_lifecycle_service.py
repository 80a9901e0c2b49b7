"""fleet/lifecycle/service.py on SQLite and PostgreSQL: work orders raised at the right dates
(with the fleet's test clock), their states, and calibration records that reset the clock."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from fleet.core import clock as clock_mod
from fleet.core.errors import BadInput, Conflict, NotFound
from fleet.lifecycle import service
from fleet.lifecycle.models import CalibrationRecord, WorkOrder
from fleet.lifecycle.rules import Policy
from fleet.store.models import Asset, AuditLog, Device

POLICY = Policy(lead_days={"calibration_due": 30, "sensor_eol": 60, "valve_eol": 90, "hose_eol": 90})


def at(day: date) -> clock_mod.FrozenClock:
    fc = clock_mod.FrozenClock(datetime(day.year, day.month, day.day, 9, 0, tzinfo=timezone.utc))
    clock_mod.set_clock(fc)
    return fc


@pytest.fixture(autouse=True)
def _restore_clock():
    yield
    clock_mod.set_clock(None)


def raise_on(db, day: date) -> list[tuple[str, int | None, date | None]]:
    at(day)
    with db.session() as s:
        made = service.raise_work_orders(s, policy=POLICY)
        s.commit()
        return [(w.kind, w.asset_id, w.due_on) for w in made]


def test_raise__calibration_order_30_days_ahead_then_idempotent(db, install) -> None:
    alarm = install("ALM-1", date(2023, 5, 10))
    assert raise_on(db, date(2024, 4, 8)) == []
    assert raise_on(db, date(2024, 4, 9)) == [("calibration_due", alarm, date(2024, 5, 9))]
    assert raise_on(db, date(2024, 4, 10)) == []  # already there
    with db.session() as s:
        wo = s.scalars(select(WorkOrder)).one()
        assert (wo.state, wo.payer, wo.key) == ("open", "operator", f"calibration_due:asset{alarm}:2024-05-09")


def test_raise__valve_and_hose_end_of_life_and_sensor(db, install) -> None:
    valve = install("SCV-10", date(2020, 1, 1))  # 3650 days -> 2029-12-29
    hose = install("HOSE-8", date(2020, 1, 1))  # 2920 days -> 2027-12-30
    install("SCV-X", date(2020, 1, 1))  # no service life: never an order
    assert raise_on(db, date(2027, 10, 1)) == [("hose_eol", hose, date(2027, 12, 30))]
    assert raise_on(db, date(2029, 9, 30)) == [("valve_eol", valve, date(2029, 12, 29))]
    with db.session() as s:
        payer = s.scalars(select(WorkOrder.payer).where(WorkOrder.kind == "valve_eol")).one()
        assert payer == "user"  # STANDARDS: replaced at the user's cost
    alarm = install("ALM-1", date(2023, 1, 1), account="HH-002")
    made = raise_on(db, date(2027, 11, 1))  # sensor life 1825 days -> 2027-12-31, lead 60
    assert ("sensor_eol", alarm, date(2027, 12, 31)) in made


def test_raise__offline_and_fault_devices(db, install) -> None:
    at(date(2026, 3, 1))
    with db.session() as s:
        s.add(Device(device_id="gg-000000000001", online=False,
                     last_offline_at=datetime(2026, 2, 28, 22, 0, tzinfo=timezone.utc), last_seq=0))
        s.add(Device(device_id="gg-000000000002", online=True, health={"faults": 4}, last_seq=0))
        s.commit()
    made = raise_on(db, date(2026, 3, 1))
    assert sorted(k for k, _, _ in made) == ["device_fault", "device_offline"]
    assert raise_on(db, date(2026, 3, 2)) == []  # one per offline episode, one unfinished per fault


def test_states__assign_done_close_and_wrong_order(db, install) -> None:
    install("ALM-1", date(2023, 5, 10))
    raise_on(db, date(2024, 5, 1))
    with db.session() as s:
        wo_id = s.scalars(select(WorkOrder.id)).one()
        with pytest.raises(Conflict, match=f"work order {wo_id} is open; it can be closed only when done"):
            service.close(s, wo_id=wo_id, by="李工")
        with pytest.raises(BadInput, match="assignee: a name is required"):
            service.assign(s, wo_id=wo_id, assignee="  ")
        service.assign(s, wo_id=wo_id, assignee="李工", actor="调度")
        service.complete(s, wo_id=wo_id, by="李工", note="更换传感器")
        service.close(s, wo_id=wo_id, by="王主任")
        s.commit()
        wo = s.get(WorkOrder, wo_id)
        assert (wo.state, wo.assignee, wo.done_by, wo.closed_by) == ("closed", "李工", "李工", "王主任")
        assert [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))] == ["assign", "done", "close"]
        with pytest.raises(NotFound, match="work order 999 not found"):
            service.assign(s, wo_id=999, assignee="x")


def test_calibration__pass_resets_clock_and_finishes_order(db, install) -> None:
    alarm = install("ALM-1", date(2023, 5, 10))
    raise_on(db, date(2024, 4, 20))
    at(date(2024, 4, 25))
    with db.session() as s:
        rec = service.record_calibration(s, asset_id=alarm, calibrated_on=date(2024, 4, 25), by="计量所",
                                         result="pass", certificate_no="JD-2024-0042")
        s.commit()
        wo = s.scalars(select(WorkOrder)).one()
        assert (wo.state, wo.done_by, rec.work_order_id) == ("done", "计量所", wo.id)
        life = service.asset_lives(s, site_id=s.get(Asset, alarm).site_id)[0]
        assert life.dates.calibration_due == date(2025, 4, 25)
    assert raise_on(db, date(2025, 3, 25)) == []
    assert raise_on(db, date(2025, 3, 26)) == [("calibration_due", alarm, date(2025, 4, 25))]


def test_calibration__fail_keeps_clock(db, install) -> None:
    alarm = install("AS-6", date(2024, 1, 1))
    at(date(2024, 6, 1))
    with db.session() as s:
        service.record_calibration(s, asset_id=alarm, calibrated_on=date(2024, 6, 1), by="计量所", result="fail")
        s.commit()
        assert service.asset_lives(s)[0].dates.calibration_due == date(2024, 7, 1)  # 182 days from install
        assert s.scalars(select(CalibrationRecord.result)).one() == "fail"


def test_calibration__invalid(db, install) -> None:
    alarm = install("ALM-1", date(2024, 1, 1))
    hose = install("HOSE-8", date(2024, 1, 1))
    at(date(2024, 6, 1))
    with db.session() as s:
        with pytest.raises(BadInput, match="is a hose; only detectors"):
            service.record_calibration(s, asset_id=hose, calibrated_on=date(2024, 6, 1), by="x", result="pass",
                                       certificate_no="1")
        with pytest.raises(BadInput, match="needs its certificate number"):
            service.record_calibration(s, asset_id=alarm, calibrated_on=date(2024, 6, 1), by="x", result="pass")
        with pytest.raises(BadInput, match="is in the future"):
            service.record_calibration(s, asset_id=alarm, calibrated_on=date(2024, 6, 2), by="x", result="fail")
        with pytest.raises(BadInput, match="result 'ok'"):
            service.record_calibration(s, asset_id=alarm, calibrated_on=date(2024, 6, 1), by="x", result="ok")
        with pytest.raises(NotFound, match="asset 12345 not found"):
            service.record_calibration(s, asset_id=12345, calibrated_on=date(2024, 6, 1), by="x", result="fail")


def test_raise__replaced_asset_cancels_its_order(db, install) -> None:
    alarm = install("ALM-1", date(2023, 5, 10))
    raise_on(db, date(2024, 5, 1))
    with db.session() as s:
        s.get(Asset, alarm).status = "replaced"
        s.commit()
    raise_on(db, date(2024, 5, 2))
    with db.session() as s:
        assert s.scalars(select(WorkOrder.state)).one() == "cancelled"
        rows, count = service.list_work_orders(s, states=["open"])
        assert (rows, count) == ([], 0)
        with pytest.raises(BadInput, match="state bogus: expected one of open, assigned"):
            service.list_work_orders(s, states=["bogus"])


def test_list_work_orders__soonest_first_undated_last__every_page_as_one_sorted_list(db) -> None:
    """Read as two ranges (dated, then undated) for the index; every offset/limit must give the
    slice of the one list sorted by (no due date, due date, id)."""
    dues = [date(2025, 3, 1), None, date(2025, 1, 5), date(2025, 1, 5), None, date(2024, 12, 31), None]
    with db.session() as s:
        for i, due in enumerate(dues):
            s.add(WorkOrder(key=f"k{i}", kind="calibration_due", state="open" if i != 3 else "assigned", due_on=due))
        s.add(WorkOrder(key="other", kind="hose_eol", state="open", due_on=date(2020, 1, 1)))
        s.commit()
        everything = s.scalars(select(WorkOrder).where(WorkOrder.kind == "calibration_due")).all()
        expected = [w.id for w in sorted(everything, key=lambda w: (w.due_on is None, w.due_on or date.min, w.id))]
        for offset in range(0, 9):
            for limit in (None, 1, 2, 3, 5, 50):
                rows, count = service.list_work_orders(s, states=["open", "assigned"], kind="calibration_due",
                                                       offset=offset, limit=limit)
                want = expected[offset:] if limit is None else expected[offset : offset + limit]
                assert ([w.id for w in rows], count) == (want, 7), (offset, limit)
        rows, count = service.list_work_orders(s, states=["open"], kind="calibration_due")
        assert count == 6 and all(w.state == "open" for w in rows) and rows[-1].due_on is None
