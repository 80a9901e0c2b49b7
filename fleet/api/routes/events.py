"""/api/v1/events: every device's timeline, filtered."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter

from fleet.api.deps import PageDep, SessionDep
from fleet.api.schemas import EventPublic, EventsPublic
from fleet.services import devices

router = APIRouter(prefix="/events", tags=["events"])


@router.get("", response_model=EventsPublic)
def list_events(session: SessionDep, page: PageDep, device_id: str | None = None, kind: str | None = None,
                origin: Literal["device", "fleet"] | None = None, since: datetime | None = None,
                until: datetime | None = None) -> EventsPublic:
    rows, count = devices.list_events(session, device_id=device_id, kind=kind, origin=origin, since=since,
                                      until=until, offset=page.offset, limit=page.limit)
    return EventsPublic(data=[EventPublic.model_validate(r) for r in rows], count=count)
