"""/api/v1/alarms: incidents, acknowledge, resolve, their audit trail."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from fleet.api.deps import PageDep, SessionDep, WriteDep
from fleet.api.schemas import AlarmAction, AlarmPublic, AlarmsPublic, AlarmStateT, AuditPublic
from fleet.services import alarms, queries
from fleet.store.models import Alarm, AuditLog

router = APIRouter(prefix="/alarms", tags=["alarms"])


@router.get("", response_model=AlarmsPublic)
def list_alarms(session: SessionDep, page: PageDep, state: AlarmStateT | None = None, active: bool | None = None,
                device_id: str | None = None, site_id: int | None = None) -> AlarmsPublic:
    stmt = select(Alarm)
    if state:
        stmt = stmt.where(Alarm.state == state)
    if active is not None:
        stmt = stmt.where(Alarm.state.in_(alarms.ACTIVE) if active else Alarm.state == "resolved")
    if device_id:
        stmt = stmt.where(Alarm.device_id == device_id)
    if site_id is not None:
        stmt = stmt.where(Alarm.site_id == site_id)
    rows, count = queries.page(session, stmt, offset=page.offset, limit=page.limit, order=Alarm.id.desc())
    return AlarmsPublic(data=[AlarmPublic.model_validate(r) for r in rows], count=count)


@router.get("/{alarm_id}", response_model=AlarmPublic)
def get_alarm(session: SessionDep, alarm_id: int) -> AlarmPublic:
    return AlarmPublic.model_validate(alarms.get(session, alarm_id))


@router.post("/{alarm_id}/ack", response_model=AlarmPublic)
async def acknowledge(write: WriteDep, alarm_id: int, body: AlarmAction) -> AlarmPublic:
    alarm = await write(lambda s: alarms.acknowledge(s, alarm_id=alarm_id, by=body.by, note=body.note))
    return AlarmPublic.model_validate(alarm)


@router.post("/{alarm_id}/resolve", response_model=AlarmPublic)
async def resolve(write: WriteDep, alarm_id: int, body: AlarmAction) -> AlarmPublic:
    alarm = await write(lambda s: alarms.resolve(s, alarm_id=alarm_id, by=body.by, note=body.note))
    return AlarmPublic.model_validate(alarm)


@router.get("/{alarm_id}/audit", response_model=list[AuditPublic])
def alarm_audit(session: SessionDep, alarm_id: int) -> list[AuditPublic]:
    alarms.get(session, alarm_id)
    rows = session.scalars(select(AuditLog).where(AuditLog.entity == "alarm", AuditLog.entity_id == str(alarm_id))
                           .order_by(AuditLog.id))
    return [AuditPublic.model_validate(r) for r in rows]
