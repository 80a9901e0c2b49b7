"""Shared list helpers: a filtered SELECT turned into (rows, total count)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


def page(session: Session, stmt: Select[Any], *, offset: int, limit: int, order: Any) -> tuple[list[Any], int]:
    """Run `stmt` for one page (ordered by `order`) and count all its matches."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(session.scalars(stmt.order_by(*order if isinstance(order, tuple) else (order,)).offset(offset).limit(limit)))
    return rows, total
