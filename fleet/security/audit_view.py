"""Reading the audit log for people: filtered rows, and the same rows as CSV or Excel."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet.store.models import AuditLog

COLUMNS = ("id", "at", "actor", "action", "entity", "entity_id", "address", "detail")
EXPORT_MAX = 200_000


def query(session: Session, *, actor: str | None = None, action: str | None = None, entity: str | None = None,
          since: datetime | None = None, until: datetime | None = None, limit: int = 200
          ) -> tuple[list[AuditLog], int]:
    stmt = select(AuditLog)
    for col, value in ((AuditLog.actor, actor), (AuditLog.action, action), (AuditLog.entity, entity)):
        if value:
            stmt = stmt.where(col == value)
    if since:
        stmt = stmt.where(AuditLog.at >= since)
    if until:
        stmt = stmt.where(AuditLog.at < until)
    count = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(session.scalars(stmt.order_by(AuditLog.id.desc()).limit(limit)))
    return rows, count


def _row(r: AuditLog) -> list[Any]:
    d = r.detail or {}
    return [r.id, r.at.isoformat(), r.actor, r.action, r.entity, r.entity_id, d.get("address") or "",
            json.dumps(d, ensure_ascii=False, sort_keys=True) if d else ""]


def to_csv(rows: list[AuditLog]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow(_row(r))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel opens Chinese text correctly


def to_xlsx(rows: list[AuditLog]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "audit"
    ws.append(list(COLUMNS))
    for r in rows:
        ws.append(_row(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
