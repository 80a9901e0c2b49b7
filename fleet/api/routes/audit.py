"""/api/v1/audit: the append-only history, filtered by record, actor, action and time."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from sqlalchemy import select

from fleet.api.deps import PageDep, SessionDep
from fleet.api.schemas import AuditPublic, AuditsPublic
from fleet.services import queries
from fleet.store.models import AuditLog

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=AuditsPublic)
def list_audit(session: SessionDep, page: PageDep, entity: str | None = None, entity_id: str | None = None,
               actor: str | None = None, action: str | None = None, since: datetime | None = None,
               until: datetime | None = None) -> AuditsPublic:
    stmt = select(AuditLog)
    for col, value in ((AuditLog.entity, entity), (AuditLog.entity_id, entity_id), (AuditLog.actor, actor),
                       (AuditLog.action, action)):
        if value:
            stmt = stmt.where(col == value)
    if since:
        stmt = stmt.where(AuditLog.at >= since)
    if until:
        stmt = stmt.where(AuditLog.at < until)
    rows, count = queries.page(session, stmt, offset=page.offset, limit=page.limit, order=AuditLog.id.desc())
    return AuditsPublic(data=[AuditPublic.model_validate(r) for r in rows], count=count)
