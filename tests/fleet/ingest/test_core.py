"""fleet/ingest/core.py: the batch step, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from fleet.core.clock import FrozenClock, now
from fleet.core.config import Settings
from fleet.core.errors import Conflict, NotFound
from fleet.ingest.core import Ingestor, Item, Result
from fleet.services import commands
from fleet.store.db import Database
from fleet.store.models import Alarm, AuditLog, Command, Device, Event, Notification, Reading, SequenceGap
from utils import fleet_factories as ff

DEV = "gg-a4cf12b3c4d5"


def _run(db: Database, *msgs: tuple[str, dict[str, Any]], settings: Settings | None = None) -> list[Result]:
    ing = Ingestor(settings or Settings())
    with db.session() as s:
        res = ing.process(s, [Item(kind=k, body=b, at=now(), remote="127.0.0.1:40000") for k, b in msgs])
        s.commit()
    return res


def test_registration__creates_device_links_model_and_site(db: Database, frozen_clock: FrozenClock) -> None:
    with db.session() as s:
        pm = ff.product_model(s, code="GG-A1")
        site = ff.site(s, account_no="XY000001")
        s.commit()
    (r,) = _run(db, ("registration", ff.registration(DEV, site="XY000001", seq=0)))
    assert r.error is None
    assert r.ack == {"st": int(frozen_clock().timestamp()), "pc": 0}
    with db.session() as s:
        d = s.scalars(select(Device)).one()
        assert (d.device_id, d.uid, d.product_model_id, d.site_id) == (DEV, "a4cf12b3c4d5", pm.id, site.id)
        assert d.online and d.registered_at == frozen_clock() and d.address == "127.0.0.1:40000"


def test_registration__other_uid__conflict(db: Database) -> None:
    _run(db, ("registration", ff.registration(DEV)))
    (r,) = _run(db, ("registration", ff.registration(DEV, uid=b"\x00" * 6)))
    assert isinstance(r.error, Conflict)
    assert str(r.error) == (
        "device 'gg-a4cf12b3c4d5' is already registered with chip uid a4cf12b3c4d5, not 000000000000; "
        "a replaced board needs its own device id"
    )


def test_event__duplicate_in_batch_and_across_batches__stored_once(db: Database) -> None:
    _run(db, ("registration", ff.registration(DEV)))
    r1, r2 = _run(db, ("event", ff.event(DEV, 1, "boot")), ("event", ff.event(DEV, 1, "boot")))
    (r3,) = _run(db, ("event", ff.event(DEV, 1, "boot")))
    assert (r1.duplicate, r2.duplicate, r3.duplicate) == (False, True, True)
    assert r1.ack["seq"] == r2.ack["seq"] == r3.ack["seq"] == 1  # type: ignore[index]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.origin == "device")) == 1


def test_event__gap_recorded_then_filled_by_late_arrivals(db: Database) -> None:
    _run(db, ("registration", ff.registration(DEV)), ("event", ff.event(DEV, 1)))
    _run(db, ("event", ff.event(DEV, 4, "fault", f=1)))
    with db.session() as s:
        gap = s.scalars(select(SequenceGap)).one()
        assert (gap.first_missing, gap.last_missing, gap.recovered, gap.closed_at) == (2, 3, 0, None)
        assert s.scalars(select(Device)).one().last_seq == 4
    _run(db, ("event", ff.event(DEV, 2)), ("event", ff.event(DEV, 3)))
    with db.session() as s:
        gap = s.scalars(select(SequenceGap)).one()
        assert gap.recovered == 2 and gap.closed_at is not None
        assert s.scalars(select(Device)).one().last_seq == 4


def test_event__comparator_close_before_the_alarm_shows_on_the_incident(db: Database) -> None:
    _run(db, ("registration", ff.registration(DEV)))
    _run(db, ("event", ff.event(DEV, 1, "valve_closed", src="comparator")))
    _run(db, ("event", ff.event(DEV, 2, "alarm", lvl=1, lel=40.0)))
    with db.session() as s:
        (alarm,) = s.scalars(select(Alarm)).all()
        closed = s.scalars(select(Event).where(Event.kind == "valve_closed")).one()
        assert alarm.valve_closed_at == closed.received_at
    # reopened by hand, then a new incident: its valve is open until the device says otherwise
    _run(db, ("event", ff.event(DEV, 3, "alarm_clear", lel=0.0)), ("event", ff.event(DEV, 4, "valve_reopened")))
    with db.session() as s:
        s.scalars(select(Alarm)).one().state = "resolved"
        s.commit()
    _run(db, ("event", ff.event(DEV, 5, "alarm", lvl=1, lel=30.0)))
    with db.session() as s:
        newest = s.scalars(select(Alarm).order_by(Alarm.id.desc())).first()
        assert newest.opened_seq == 5 and newest.valve_closed_at is None


def test_registration__fresh_device_with_history__no_gap_for_old_seqs(db: Database) -> None:
    _run(db, ("registration", ff.registration(DEV, seq=40)), ("event", ff.event(DEV, 41)))
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(SequenceGap)) == 0


def test_event__alarm_opens_one_incident_per_episode(db: Database) -> None:
    _run(db, ("registration", ff.registration(DEV)))
    _run(db, ("event", ff.event(DEV, 1, "alarm", lvl=1, lel=12.0)), ("event", ff.event(DEV, 2, "valve_closed", src="alarm")))
    _run(db, ("event", ff.event(DEV, 3, "alarm", lvl=2, lel=40.0)))
    with db.session() as s:
        (alarm,) = s.scalars(select(Alarm)).all()
        assert (alarm.state, alarm.level, alarm.peak_lel, alarm.opened_seq) == ("open", 2, 40.0, 1)
        assert alarm.valve_closed_at is not None
        assert s.scalars(select(Notification.topic)).all() == ["alarm.opened"]
        actions = s.scalars(select(AuditLog.action).where(AuditLog.entity == "alarm").order_by(AuditLog.id)).all()
        assert actions == ["alarm.opened", "alarm.valve_closed", "alarm.updated"]
        d = s.scalars(select(Device)).one()
        assert d.health["alarm"] == 2 and d.health["valve"] == 1


def test_heartbeat__health_and_reading(db: Database) -> None:
    _run(db, ("heartbeat", ff.heartbeat(DEV, lel=3.5, rssi=-61, uptime=99)))
    with db.session() as s:
        d = s.scalars(select(Device)).one()
        assert d.health["lel"] == 3.5 and d.online
        r = s.scalars(select(Reading)).one()
        assert (r.lel, r.rssi, r.uptime_s) == (3.5, -61, 99)


def test_ack__carries_pending_commands_then_result_confirms(db: Database) -> None:
    _run(db, ("registration", ff.registration(DEV)))
    with db.session() as s:
        cmd, _ = commands.create(s, device_id=DEV, op="selftest", created_by="op1", ttl_s=3600)
        s.commit()
    (r,) = _run(db, ("heartbeat", ff.heartbeat(DEV)))
    assert r.ack["pc"] == 1 and r.ack["cmds"][0]["id"] == cmd.id and r.ack["cmds"][0]["op"] == "selftest"  # type: ignore[index]
    (r,) = _run(db, ("heartbeat", ff.heartbeat(DEV)))
    assert r.ack["pc"] == 1 and "cmds" not in r.ack  # type: ignore[operator]
    (r,) = _run(db, ("command_result", ff.command_result(DEV, cmd.id, "done", ok=True)))
    assert r.error is None and r.ack["pc"] == 0  # type: ignore[index]
    with db.session() as s:
        c = s.get(Command, cmd.id)
        assert c is not None and c.state == "confirmed" and c.result == {"id": cmd.id, "st": "done", "ok": True}


def test_command_result__unknown_command__not_found(db: Database) -> None:
    _run(db, ("registration", ff.registration(DEV)))
    (r,) = _run(db, ("command_result", ff.command_result(DEV, 999)))
    assert isinstance(r.error, NotFound) and str(r.error) == "command 999 not found for device 'gg-a4cf12b3c4d5'"
