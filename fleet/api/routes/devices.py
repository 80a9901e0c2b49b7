"""/api/v1/devices: connected devices, their timeline, readings, sequence gaps, polls."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from fleet.api.deps import FleetDep, PageDep, SessionDep, WriteDep
from fleet.api.schemas import (
    DeviceCreate,
    DevicePublic,
    DevicesPublic,
    DeviceUpdate,
    EventPublic,
    EventsPublic,
    GapPublic,
    ReadingPublic,
)
from fleet.services import devices

router = APIRouter(prefix="/devices", tags=["devices"])



@router.get("", response_model=DevicesPublic)
def list_devices(session: SessionDep, page: PageDep, online: bool | None = None, site_id: int | None = None,
                 model: str | None = None, q: str | None = None) -> DevicesPublic:
    rows, count = devices.list_devices(session, online=online, site_id=site_id, model_code=model, q=q,
                                       offset=page.offset, limit=page.limit)
    return DevicesPublic(data=[DevicePublic.model_validate(r) for r in rows], count=count)


@router.post("", response_model=DevicePublic, status_code=status.HTTP_201_CREATED)
async def create_device(write: WriteDep, body: DeviceCreate) -> DevicePublic:
    return await write(lambda s: DevicePublic.model_validate(devices.create(s, data=body.model_dump())))


@router.get("/{device_id}", response_model=DevicePublic)
def get_device(session: SessionDep, device_id: str) -> DevicePublic:
    return DevicePublic.model_validate(devices.get(session, device_id))


@router.patch("/{device_id}", response_model=DevicePublic)
async def update_device(write: WriteDep, device_id: str, body: DeviceUpdate) -> DevicePublic:
    data = body.model_dump(exclude_unset=True)
    return await write(lambda s: DevicePublic.model_validate(devices.update(s, device_id=device_id, data=data)))


@router.get("/{device_id}/events", response_model=EventsPublic)
def device_events(session: SessionDep, page: PageDep, device_id: str, kind: str | None = None,
                  since: datetime | None = None, until: datetime | None = None) -> EventsPublic:
    devices.get(session, device_id)
    rows, count = devices.list_events(session, device_id=device_id, kind=kind, origin=None, since=since,
                                      until=until, offset=page.offset, limit=page.limit)
    return EventsPublic(data=[EventPublic.model_validate(r) for r in rows], count=count)


@router.get("/{device_id}/readings", response_model=list[ReadingPublic])
def device_readings(session: SessionDep, device_id: str, since: datetime | None = None,
                    until: datetime | None = None,
                    limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[ReadingPublic]:
    devices.get(session, device_id)
    return [ReadingPublic.model_validate(r) for r in devices.readings(session, device_id=device_id, since=since,
                                                                      until=until, limit=limit)]


@router.get("/{device_id}/gaps", response_model=list[GapPublic])
def device_gaps(session: SessionDep, device_id: str, open_only: bool = False) -> list[GapPublic]:
    devices.get(session, device_id)
    return [GapPublic.model_validate(g) for g in devices.gaps(session, device_id=device_id, open_only=open_only)]


@router.post("/{device_id}/poll")
async def poll_device(fleet: FleetDep, device_id: str) -> dict[str, Any]:
    """Ask the device for its health now (GET /health over CoAP) and store the answer."""
    body = await fleet.poll_device(device_id)
    return {"device_id": device_id, "health": {k: v.hex() if isinstance(v, bytes) else v for k, v in body.items()}}
