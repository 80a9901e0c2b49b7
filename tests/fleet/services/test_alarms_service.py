"""fleet/services/alarms.py (named _service: tests/fleet/api/routes/test_alarms.py holds the basename, and
pytest imports test modules by basename here): acknowledge, resolve, escalate, with the audit trail."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fleet.core.clock import FrozenClock
from fleet.core.errors import BadInput, Conflict, NotFound
from fleet.ingest.core import Ingestor, Item
from fleet.services import alarms
from fleet.store.db import Database
from fleet.store.models import Alarm, AuditLog, Notification
from utils import fleet_factories as ff
from utils.fleet_runtime import make_settings

DEV = "gg-a4cf12b3c4d5"


def _alarm(db: Database, *events: dict) -> int:
    with db.session() as s:
        if s.scalars(select(Alarm.id)).first() is None:
            ff.device(s, DEV)
        Ingestor(make_settings(db.url)).process(s, [Item("event", e, at=ff.at()) for e in events])
        s.commit()
        return s.scalars(select(Alarm.id).order_by(Alarm.id.desc())).first()  # type: ignore[return-value]


def test_acknowledge__twice__first_counts(db: Database, frozen_clock: FrozenClock) -> None:
    aid = _alarm(db, ff.event(DEV, 1, "alarm"))
    with db.session() as s:
        alarms.acknowledge(s, alarm_id=aid, by="张三", note="去现场")
        s.commit()
    frozen_clock.advance(10)
    with db.session() as s:
        a = alarms.acknowledge(s, alarm_id=aid, by="李四")
        s.commit()
        assert (a.state, a.acknowledged_by, a.note) == ("acknowledged", "张三", "去现场")


def test_acknowledge__invalid(db: Database) -> None:
    aid = _alarm(db, ff.event(DEV, 1, "alarm"))
    with db.session() as s:
        with pytest.raises(NotFound, match="^alarm 999 not found$"):
            alarms.acknowledge(s, alarm_id=999, by="x")
        with pytest.raises(BadInput, match=r"^by: say who is acting \(a name or operator id\)$"):
            alarms.acknowledge(s, alarm_id=aid, by="  ")
        alarms.resolve(s, alarm_id=aid, by="王五")
        with pytest.raises(Conflict, match=f"^alarm {aid} is already resolved$"):
            alarms.acknowledge(s, alarm_id=aid, by="x")


def test_alarm_clear__after_ack__resolves__new_alarm_opens_new_incident(db: Database) -> None:
    aid = _alarm(db, ff.event(DEV, 1, "alarm"))
    with db.session() as s:
        alarms.acknowledge(s, alarm_id=aid, by="张三")
        s.commit()
    _alarm(db, ff.event(DEV, 2, "alarm_clear"))
    aid2 = _alarm(db, ff.event(DEV, 3, "alarm"))
    assert aid2 != aid
    with db.session() as s:
        first = s.get(Alarm, aid)
        assert first is not None and first.state == "resolved" and first.resolved_by == f"{DEV} (all clear)"
        actions = s.scalars(select(AuditLog.action).where(AuditLog.entity_id == str(aid)).order_by(AuditLog.id)).all()
        assert actions == ["alarm.opened", "alarm.acknowledged", "alarm.resolved"]


def test_alarm_clear__unacknowledged__stays_open(db: Database) -> None:
    aid = _alarm(db, ff.event(DEV, 1, "alarm"), ff.event(DEV, 2, "alarm_clear"))
    with db.session() as s:
        a = s.get(Alarm, aid)
        assert a is not None and a.state == "open" and a.cleared_at is not None


def test_escalate_due__after_delay_then_repeat(db: Database, frozen_clock: FrozenClock) -> None:
    aid = _alarm(db, ff.event(DEV, 1, "alarm"))

    def step(advance: float) -> list[int]:
        frozen_clock.advance(advance)
        with db.session() as s:
            done = alarms.escalate_due(s, after_s=300, repeat_s=900)
            s.commit()
            return [a.escalation_level for a in done]

    assert step(299) == []
    assert step(1) == [1]
    assert step(899) == []
    assert step(1) == [2]
    with db.session() as s:
        alarms.acknowledge(s, alarm_id=aid, by="张三")
        s.commit()
    assert step(5000) == []
    with db.session() as s:
        topics = s.scalars(select(Notification.topic).order_by(Notification.id)).all()
        assert topics == ["alarm.opened", "alarm.escalated", "alarm.escalated"]
