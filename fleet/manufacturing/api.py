"""/api/v1/manufacturing: `gasguard flash` records each board here with a maker's token
(fleet/security/policy.py: POST maker only, GET makers and administrators)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from fleet.api.deps import PageDep, SessionDep, WriteDep
from fleet.manufacturing import service

router = APIRouter(prefix="/manufacturing", tags=["manufacturing"])


class RecordIn(BaseModel):
    """What boards/flash.py sends for a board it flashed and verified (its local record, less
    the port and the fleet state; extra keys such as `seconds` are ignored)."""

    unique_id: str = Field(pattern=r"^[0-9a-f]{2,29}$", description="the chip's unique id, lowercase hex")
    model: str = Field(min_length=1, max_length=64, description="device model (catalogue code)")
    flashed_at: datetime
    result: Literal["ok"] = "ok"
    device_id: str | None = Field(default=None, max_length=32, description="gg-<unique_id>, checked if given")
    board: str | None = Field(default=None, max_length=64)
    chip: str | None = Field(default=None, max_length=32)
    chip_description: str | None = Field(default=None, max_length=128)
    mac: str | None = Field(default=None, pattern=r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
    flash_size: int | None = Field(default=None, ge=0, description="bytes, as esptool detected it")
    app_version: str | None = Field(default=None, max_length=64)
    image_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class RecordPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    chip_id: str
    device_id: str
    model: str
    board: str | None
    chip: str | None
    chip_description: str | None
    mac: str | None
    flash_size: int | None
    app_version: str | None
    image_sha256: str | None
    flashed_at: datetime
    flashes: int
    first_recorded_at: datetime
    recorded_at: datetime
    recorded_by: str


class RecordsPublic(BaseModel):
    data: list[RecordPublic]
    count: int


def _username(request: Request) -> str:
    p = getattr(request.state, "principal", None)
    return getattr(p, "username", None) or "unknown"


@router.post("", response_model=RecordPublic, status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "this chip was recorded already (the same or a later flash)"}})
async def post_record(request: Request, response: Response, write: WriteDep, body: RecordIn) -> RecordPublic:
    """Record one flashed board. 201 for a new chip; 200 for a chip recorded before (the same
    record again changes nothing, a later flash updates the row)."""
    data = body.model_dump(exclude={"unique_id", "result"}) | {"chip_id": body.unique_id}
    by = _username(request)

    def run(s):  # noqa: ANN001, ANN202
        row, created = service.record(s, data=data, by=by)
        return RecordPublic.model_validate(row), created

    out, created = await write(run)
    if not created:
        response.status_code = status.HTTP_200_OK
    return out  # type: ignore[no-any-return]


@router.get("", response_model=RecordsPublic)
def list_records(session: SessionDep, page: PageDep,
                 model: Annotated[str | None, Query(max_length=64)] = None) -> RecordsPublic:
    """Every recorded board, newest first."""
    rows, count = service.list_records(session, model=model, offset=page.offset, limit=page.limit)
    return RecordsPublic(data=[RecordPublic.model_validate(r) for r in rows], count=count)
