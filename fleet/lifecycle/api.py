"""Lifecycle JSON API, `fleet.lifecycle.api.router`, for the fleet app to include under
`/api/v1`: work orders (list, raise, assign, done, close), calibration records, and an asset's
lifecycle dates. Routes raise the fleet's domain errors; the app maps them to statuses."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from fleet.campaign.pages import ScopeDep, SessionDep
from fleet.core.errors import NotFound
from fleet.lifecycle import service
from fleet.store.models import Asset

router = APIRouter(tags=["lifecycle"])


class WorkOrderPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    state: str
    site_id: int | None
    asset_id: int | None
    device_id: str | None
    due_on: date | None
    payer: str
    raised_at: datetime
    assignee: str | None
    done_by: str | None
    closed_by: str | None
    note: str | None


class WorkOrdersPublic(BaseModel):
    data: list[WorkOrderPublic]
    count: int


@router.get("/workorders", response_model=WorkOrdersPublic)
def list_work_orders(session: SessionDep, township: ScopeDep,
                     state: Annotated[list[str] | None, Query()] = None, kind: str | None = None,
                     due_before: date | None = None,
                     offset: Annotated[int, Query(ge=0)] = 0,
                     limit: Annotated[int, Query(ge=1, le=500)] = 50) -> WorkOrdersPublic:
    """Work orders, soonest due first (default: open and assigned)."""
    rows, count = service.list_work_orders(session, states=state or ["open", "assigned"], kind=kind,
                                           township=township, due_before=due_before, offset=offset, limit=limit)
    return WorkOrdersPublic(data=[WorkOrderPublic.model_validate(w) for w in rows], count=count)


class RaiseIn(BaseModel):
    on: date | None = None


@router.post("/workorders/raise", response_model=WorkOrdersPublic)
def raise_work_orders(session: SessionDep, body: RaiseIn) -> WorkOrdersPublic:
    """Apply the lifecycle rules as of `on` (default today); returns the orders raised now."""
    from fleet.campaign.plan import load_plan

    made = service.raise_work_orders(session, on=body.on, policy=load_plan().lifecycle)
    session.commit()
    return WorkOrdersPublic(data=[WorkOrderPublic.model_validate(w) for w in made], count=len(made))


class ActIn(BaseModel):
    name: str = Field(min_length=1, max_length=128, description="assignee (assign) or who did it")
    note: str | None = None


@router.post("/workorders/{wo_id}/{action}", response_model=WorkOrderPublic)
def act(session: SessionDep, wo_id: int, action: Literal["assign", "done", "close"], body: ActIn) -> WorkOrderPublic:
    if action == "assign":
        wo = service.assign(session, wo_id=wo_id, assignee=body.name)
    elif action == "done":
        wo = service.complete(session, wo_id=wo_id, by=body.name, note=body.note)
    else:
        wo = service.close(session, wo_id=wo_id, by=body.name)
    session.commit()
    return WorkOrderPublic.model_validate(wo)


class CalibrationIn(BaseModel):
    calibrated_on: date
    by: str = Field(min_length=1, max_length=128)
    result: Literal["pass", "fail"]
    certificate_no: str | None = Field(default=None, max_length=64)
    note: str | None = None


class LifePublic(BaseModel):
    asset_id: int
    kind: str
    installed_on: date | None
    last_calibrated_on: date | None
    calibration_due: date | None
    sensor_eol: date | None
    service_eol: date | None
    problems: list[str]


def _life(session, asset_id: int) -> LifePublic:  # noqa: ANN001
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise NotFound(f"asset {asset_id} not found")
    for life in service.asset_lives(session, site_id=asset.site_id):
        if life.asset.id == asset_id:
            d = life.dates
            return LifePublic(asset_id=asset_id, kind=asset.kind, installed_on=asset.installed_on,
                              last_calibrated_on=life.last_calibrated_on, calibration_due=d.calibration_due,
                              sensor_eol=d.sensor_eol, service_eol=d.service_eol, problems=list(d.problems))
    return LifePublic(asset_id=asset_id, kind=asset.kind, installed_on=asset.installed_on, last_calibrated_on=None,
                      calibration_due=None, sensor_eol=None, service_eol=None,
                      problems=[f"asset is {asset.status}" if asset.installed_on else "no install date"])


@router.get("/assets/{asset_id}/lifecycle", response_model=LifePublic)
def get_lifecycle(session: SessionDep, asset_id: int) -> LifePublic:
    """Calibration due, sensor and service end of life of one asset."""
    return _life(session, asset_id)


@router.post("/assets/{asset_id}/calibrations", response_model=LifePublic, status_code=status.HTTP_201_CREATED)
def post_calibration(session: SessionDep, asset_id: int, body: CalibrationIn) -> LifePublic:
    """Record a calibration (a pass resets the clock); answers with the asset's new dates."""
    service.record_calibration(session, asset_id=asset_id, calibrated_on=body.calibrated_on, by=body.by,
                               result=body.result, certificate_no=body.certificate_no, note=body.note)
    session.commit()
    return _life(session, asset_id)
