"""The append-only audit log: every change an operator or the fleet makes to an alarm or a
command, and every health transition, gets one row. Nothing here updates or deletes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from fleet.core.clock import now
from fleet.store.models import AuditLog


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | int,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditLog:
    """Add one audit row to the session (committed with the change it describes)."""
    row = AuditLog(
        at=at or now(), actor=actor, action=action, entity=entity, entity_id=str(entity_id), detail=detail
    )
    session.add(row)
    return row
