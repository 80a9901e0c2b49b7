"""Gas alarms as incidents: one record from the first alarm event until an operator (or the
device's all-clear after acknowledgement) resolves it, however many messages it takes.

States: open -> acknowledged -> resolved (open -> resolved is allowed too, with who and when).
An alarm nobody acknowledges within `escalate_after_s` is escalated, then again every
`escalation_repeat_s`; each escalation and each opening queues a webhook notification."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.core.clock import now
from fleet.core.errors import BadInput, Conflict, NotFound
from fleet.services import audit
from fleet.store.models import Alarm, AlarmState, Device, Event, Notification

log = logging.getLogger(__name__)

ACTIVE = (AlarmState.open.value, AlarmState.acknowledged.value)


def active_for(session: Session, device_id: str) -> Alarm | None:
    return session.scalars(
        select(Alarm).where(Alarm.device_id == device_id, Alarm.state.in_(ACTIVE)).order_by(Alarm.id.desc())
    ).first()


def _notify(session: Session, alarm: Alarm, topic: str, device: Device | None, at: datetime) -> None:
    payload: dict[str, Any] = {
        "topic": topic,
        "alarm_id": alarm.id,
        "device_id": alarm.device_id,
        "state": alarm.state,
        "level": alarm.level,
        "peak_lel": alarm.peak_lel,
        "opened_at": alarm.opened_at.isoformat(),
        "escalation_level": alarm.escalation_level,
    }
    if device is not None and device.site is not None:
        site = device.site
        payload["site"] = {"account_no": site.account_no, "name": site.name, "address": site.address,
                           "township": site.township, "contact": site.contact, "phone": site.phone}
    session.add(Notification(topic=topic, alarm_id=alarm.id, payload=payload, state="pending",
                             attempts=0, created_at=at, next_attempt_at=at))


def on_alarm_event(session: Session, device: Device, event: dict[str, Any], at: datetime) -> Alarm:
    """An `alarm` event: open an incident, or update the one already active on this device."""
    level = int(event.get("lvl") or 1)
    lel = event.get("lel")
    alarm = active_for(session, device.device_id)
    if alarm is None:
        alarm = Alarm(device_id=device.device_id, site_id=device.site_id, state=AlarmState.open.value,
                      level=level, peak_lel=lel, opened_seq=event.get("seq"), opened_at=at,
                      escalation_level=0, valve_closed_at=_valve_closed_since(session, device.device_id))
        session.add(alarm)
        session.flush()
        audit.record(session, actor=device.device_id, action="alarm.opened", entity="alarm", entity_id=alarm.id,
                     detail={"level": level, "lel": lel, "seq": event.get("seq")}, at=at)
        _notify(session, alarm, "alarm.opened", device, at)
        log.info("alarm %s opened on %s (level %s, %s %%LEL)", alarm.id, device.device_id, level, lel)
        return alarm
    changed = False
    if level > alarm.level:
        alarm.level = level
        changed = True
    if lel is not None and (alarm.peak_lel is None or lel > alarm.peak_lel):
        alarm.peak_lel = lel
        changed = True
    if alarm.cleared_at is not None:  # gas came back before anyone closed the incident
        alarm.cleared_at = None
        changed = True
    if changed:
        audit.record(session, actor=device.device_id, action="alarm.updated", entity="alarm", entity_id=alarm.id,
                     detail={"level": alarm.level, "peak_lel": alarm.peak_lel, "seq": event.get("seq")}, at=at)
    return alarm


def _valve_closed_since(session: Session, device_id: str) -> datetime | None:
    """The sensor's comparator closes the valve at once, before the alarm's confirmation window
    ends, so its `valve_closed` comes first: the incident shows that close if the device has
    not reported the valve reopened since."""
    last = session.scalars(
        select(Event).where(Event.device_id == device_id, Event.origin == "device",
                            Event.kind.in_(("valve_closed", "valve_reopened")))
        .order_by(Event.seq.desc()).limit(1)
    ).first()
    return last.received_at if last is not None and last.kind == "valve_closed" else None


def on_alarm_clear(session: Session, device: Device, event: dict[str, Any], at: datetime) -> Alarm | None:
    """The device says the gas is gone. An acknowledged incident is resolved; an open one stays
    open (someone must still see it) with the clear time noted."""
    alarm = active_for(session, device.device_id)
    if alarm is None:
        return None
    alarm.cleared_at = at
    if alarm.state == AlarmState.acknowledged.value:
        alarm.state = AlarmState.resolved.value
        alarm.resolved_at = at
        alarm.resolved_by = f"{device.device_id} (all clear)"
        audit.record(session, actor=device.device_id, action="alarm.resolved", entity="alarm", entity_id=alarm.id,
                     detail={"by": "alarm_clear", "seq": event.get("seq")}, at=at)
    else:
        audit.record(session, actor=device.device_id, action="alarm.cleared", entity="alarm", entity_id=alarm.id,
                     detail={"seq": event.get("seq")}, at=at)
    return alarm


def on_valve_closed(session: Session, device: Device, event: dict[str, Any], at: datetime) -> None:
    alarm = active_for(session, device.device_id)
    if alarm is not None and alarm.valve_closed_at is None:
        alarm.valve_closed_at = at
        audit.record(session, actor=device.device_id, action="alarm.valve_closed", entity="alarm",
                     entity_id=alarm.id, detail={"src": event.get("src"), "seq": event.get("seq")}, at=at)


def get(session: Session, alarm_id: int) -> Alarm:
    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFound(f"alarm {alarm_id} not found", reason="alarm_not_found")
    return alarm


def _who(by: str) -> str:
    by = (by or "").strip()
    if not by:
        raise BadInput("by: say who is acting (a name or operator id)", reason="missing_actor")
    return by


def acknowledge(session: Session, *, alarm_id: int, by: str, note: str | None = None) -> Alarm:
    """An operator has seen the alarm. Acknowledging twice is harmless (the first one counts);
    a resolved alarm cannot be acknowledged."""
    by = _who(by)
    alarm = get(session, alarm_id)
    if alarm.state == AlarmState.acknowledged.value:
        return alarm
    if alarm.state == AlarmState.resolved.value:
        raise Conflict(f"alarm {alarm_id} is already resolved", reason="alarm_resolved")
    t = now()
    alarm.state = AlarmState.acknowledged.value
    alarm.acknowledged_at = t
    alarm.acknowledged_by = by
    if note:
        alarm.note = note
    audit.record(session, actor=by, action="alarm.acknowledged", entity="alarm", entity_id=alarm.id,
                 detail={"note": note} if note else None, at=t)
    log.info("alarm %s on %s acknowledged by %s", alarm.id, alarm.device_id, by)
    return alarm


def resolve(session: Session, *, alarm_id: int, by: str, note: str | None = None) -> Alarm:
    """Close the incident (the site was checked, the valve reopened by hand)."""
    by = _who(by)
    alarm = get(session, alarm_id)
    if alarm.state == AlarmState.resolved.value:
        raise Conflict(f"alarm {alarm_id} is already resolved", reason="alarm_resolved")
    t = now()
    if alarm.acknowledged_at is None:
        alarm.acknowledged_at = t
        alarm.acknowledged_by = by
    alarm.state = AlarmState.resolved.value
    alarm.resolved_at = t
    alarm.resolved_by = by
    if note:
        alarm.note = note
    audit.record(session, actor=by, action="alarm.resolved", entity="alarm", entity_id=alarm.id,
                 detail={"note": note} if note else None, at=t)
    return alarm


def escalate_due(session: Session, *, after_s: int, repeat_s: int) -> list[Alarm]:
    """Escalate open (unacknowledged) alarms older than `after_s`, again every `repeat_s`."""
    t = now()
    first_cut = t - timedelta(seconds=after_s)
    again_cut = t - timedelta(seconds=repeat_s)
    rows = session.scalars(
        select(Alarm).where(Alarm.state == AlarmState.open.value, Alarm.opened_at <= first_cut)
    ).all()
    done: list[Alarm] = []
    for alarm in rows:
        if alarm.escalated_at is not None and alarm.escalated_at > again_cut:
            continue
        alarm.escalation_level = (alarm.escalation_level or 0) + 1
        alarm.escalated_at = t
        audit.record(session, actor="fleet", action="alarm.escalated", entity="alarm", entity_id=alarm.id,
                     detail={"escalation_level": alarm.escalation_level}, at=t)
        device = session.scalars(select(Device).where(Device.device_id == alarm.device_id)).first()
        _notify(session, alarm, "alarm.escalated", device, t)
        log.info("alarm %s on %s not acknowledged after %.0f s: escalation %d",
                    alarm.id, alarm.device_id, (t - alarm.opened_at).total_seconds(), alarm.escalation_level)
        done.append(alarm)
    return done
