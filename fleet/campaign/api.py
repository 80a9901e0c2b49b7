"""Campaign JSON API, `fleet.campaign.api.router` (prefix `/campaign`), for the fleet app to
include under `/api/v1`: progress and ranking, a site's needs, installs, inspections, the
spot-check draw, findings, non-compliant users and supply stops.

Routes raise the fleet's domain errors (fleet/core/errors.py); the app's handler turns them into
`{"detail", "reason"}` with the status from the one error table."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from fleet.campaign import service, snapshot
from fleet.campaign.pages import ScopeDep, SessionDep
from fleet.campaign.plan import load_plan
from fleet.campaign.service import ItemSpec
from fleet.core.clock import now

router = APIRouter(prefix="/campaign", tags=["campaign"])


class StagePublic(BaseModel):
    key: str
    deadline: date
    done: int
    target: int
    pct: float
    status: str


class AreaPublic(BaseModel):
    area: str
    rank: int | None
    sites: int
    residential: int
    non_residential: int
    residential_ok: int
    non_residential_ok: int
    non_residential_accepted: int
    compliant: int
    completion_pct: float
    installed_sites: int
    self_checked: int
    spot_checked: int
    spot_passed: int
    spot_pass_pct: float | None
    open_findings: int
    stages: list[StagePublic]


class ProgressPublic(BaseModel):
    as_of: date
    township: str | None
    computed_at: datetime = Field(description="when these figures were computed (UTC)")
    source: Literal["snapshot", "live"] = Field(
        description="snapshot: the stored figures the background refresh keeps for today; live: computed now")
    stale: bool = Field(description="a snapshot with campaign writes since it was computed (next refresh)")
    data: list[AreaPublic]
    total: AreaPublic


def _area(p: service.AreaProgress) -> AreaPublic:
    return AreaPublic(
        area=p.area, rank=p.rank, sites=p.sites, residential=p.residential, non_residential=p.non_residential,
        residential_ok=p.residential_ok, non_residential_ok=p.non_residential_ok,
        non_residential_accepted=p.non_residential_accepted, compliant=p.compliant, completion_pct=p.completion_pct,
        installed_sites=p.installed_sites, self_checked=p.self_checked, spot_checked=p.spot_checked,
        spot_passed=p.spot_passed, spot_pass_pct=p.spot_pass_pct, open_findings=p.open_findings,
        stages=[StagePublic(key=s.stage.key, deadline=s.stage.deadline, done=s.done, target=s.target, pct=s.pct,
                            status=s.status) for s in p.stages])


@router.get("/progress", response_model=ProgressPublic)
def get_progress(session: SessionDep, township: ScopeDep, as_of: date | None = None,
                 fresh: Annotated[bool, Query(description="compute now instead of serving the snapshot")] = False,
                 ) -> ProgressPublic:
    """Progress per township (ranked), or per community of `township`, against the plan's stages.
    Today's figures come from the progress snapshot when there is one (fleet/campaign/snapshot.py;
    see `computed_at`, `source`, `stale`); another `as_of`, or `fresh=true`, is computed live."""
    v = snapshot.view(session, as_of=as_of, township=township, fresh=fresh, plan=load_plan())
    return ProgressPublic(as_of=v.as_of, township=v.township, computed_at=v.computed_at, source=v.source,
                          stale=v.stale, data=[_area(p) for p in v.areas], total=_area(v.total))


class NeedsPublic(BaseModel):
    site_id: int
    must: list[str]
    has: list[str]
    missing: list[str]
    encouraged_missing: list[str]
    compliant: bool


@router.get("/sites/{site_id}/needs", response_model=NeedsPublic)
def get_needs(session: SessionDep, site_id: int) -> NeedsPublic:
    """What the site must have (by its category and supply), has, and lacks."""
    n = service.needs_of(session, service.get_site(session, site_id))
    return NeedsPublic(site_id=site_id, must=list(n.must), has=list(n.has), missing=list(n.missing),
                       encouraged_missing=list(n.encouraged_missing), compliant=n.compliant)


class ItemIn(BaseModel):
    kind: Literal["alarm", "shutoff", "alarm_shutoff", "self_closing_valve", "hose", "meter"]
    model: str | None = Field(default=None, max_length=64, description="catalogue model code")
    serial: str | None = Field(default=None, max_length=128)
    location: str | None = Field(default=None, max_length=256)


class InstallIn(BaseModel):
    site_id: int
    installed_on: date
    installer: str = Field(min_length=1, max_length=128)
    company: str | None = Field(default=None, max_length=128)
    items: list[ItemIn] = Field(min_length=1)
    total_fen: int | None = Field(default=None, ge=0, description="non-residential: the user's own contract price")
    note: str | None = None


class InstallPublic(BaseModel):
    id: int
    site_id: int
    installed_on: date
    installer: str
    total_fen: int
    city_fen: int
    gas_company_fen: int
    user_fen: int


@router.post("/installs", response_model=InstallPublic, status_code=status.HTTP_201_CREATED)
def post_install(session: SessionDep, body: InstallIn) -> InstallPublic:
    """Record an install; the cost split follows the plan's tender prices."""
    inst = service.record_install(
        session, site_id=body.site_id, installed_on=body.installed_on, installer=body.installer,
        company=body.company, total_fen=body.total_fen, note=body.note, plan=load_plan(),
        items=[ItemSpec(i.kind, i.model, i.serial, i.location) for i in body.items])
    session.commit()
    return InstallPublic(id=inst.id, site_id=inst.site_id, installed_on=inst.installed_on, installer=inst.installer,
                         total_fen=inst.total_fen, city_fen=inst.city_fen, gas_company_fen=inst.gas_company_fen,
                         user_fen=inst.user_fen)


class InspectionIn(BaseModel):
    kind: Literal["self_check", "spot_check"]
    site_id: int
    inspected_on: date
    inspector: str = Field(min_length=1, max_length=128)
    result: Literal["pass", "fail"]
    findings: list[str] = []
    sample: str | None = Field(default=None, max_length=64, description="spot-check: the seed of the draw")
    note: str | None = None


class InspectionPublic(BaseModel):
    id: int
    kind: str
    site_id: int
    result: str
    finding_ids: list[int]


@router.post("/inspections", response_model=InspectionPublic, status_code=status.HTTP_201_CREATED)
def post_inspection(session: SessionDep, body: InspectionIn) -> InspectionPublic:
    """A township self-check or a city spot-check, with the findings to rectify."""
    from sqlalchemy import select

    from fleet.campaign.models import Finding

    insp = service.record_inspection(session, **body.model_dump())
    session.commit()
    ids = list(session.scalars(select(Finding.id).where(Finding.inspection_id == insp.id).order_by(Finding.id)))
    return InspectionPublic(id=insp.id, kind=insp.kind, site_id=insp.site_id, result=insp.result, finding_ids=ids)


@router.get("/spot-check")
def get_spot_check(session: SessionDep, township: ScopeDep,
                   seed: Annotated[str, Query(min_length=1, max_length=64)],
                   as_of: date | None = None) -> dict[str, list[int]]:
    """The spot-check sample (site ids) per township, reproducible from `seed`."""
    return service.draw_spot_check(session, seed=seed, as_of=as_of, plan=load_plan(), township=township)


class ByIn(BaseModel):
    by: str = Field(min_length=1, max_length=128)
    on: date | None = None


@router.post("/findings/{finding_id}/rectify")
def post_rectify(session: SessionDep, finding_id: int, body: ByIn) -> dict[str, str]:
    f = service.rectify_finding(session, finding_id=finding_id, on=body.on or now().date(), by=body.by)
    session.commit()
    return {"state": f.state}


@router.post("/findings/{finding_id}/close")
def post_close_finding(session: SessionDep, finding_id: int, body: ByIn) -> dict[str, str]:
    f = service.close_finding(session, finding_id=finding_id, on=body.on or now().date(), by=body.by)
    session.commit()
    return {"state": f.state}


class StopIn(BaseModel):
    site_id: int
    reason: str = Field(min_length=1)
    by: str = Field(min_length=1, max_length=128)
    at: datetime | None = None


class StopPublic(BaseModel):
    id: int
    site_id: int
    stopped_at: datetime
    hazard_removed_at: datetime | None
    restore_due_at: datetime | None
    restored_at: datetime | None
    state: str


def _stop(stop) -> StopPublic:  # noqa: ANN001
    return StopPublic(id=stop.id, site_id=stop.site_id, stopped_at=stop.stopped_at,
                      hazard_removed_at=stop.hazard_removed_at, restore_due_at=stop.restore_due_at,
                      restored_at=stop.restored_at, state=service.restore_state(stop)[0])


@router.post("/supply-stops", response_model=StopPublic, status_code=status.HTTP_201_CREATED)
def post_stop(session: SessionDep, body: StopIn) -> StopPublic:
    stop = service.stop_supply(session, site_id=body.site_id, reason=body.reason, by=body.by, at=body.at)
    session.commit()
    return _stop(stop)


class WhenIn(BaseModel):
    by: str = Field(min_length=1, max_length=128)
    at: datetime | None = None


@router.post("/supply-stops/{stop_id}/hazard-removed", response_model=StopPublic)
def post_hazard_removed(session: SessionDep, stop_id: int, body: WhenIn) -> StopPublic:
    """The hazard is gone: the 24-hour restore clock starts."""
    stop = service.hazard_removed(session, stop_id=stop_id, by=body.by, at=body.at, plan=load_plan())
    session.commit()
    return _stop(stop)


@router.post("/supply-stops/{stop_id}/restore", response_model=StopPublic)
def post_restore(session: SessionDep, stop_id: int, body: WhenIn) -> StopPublic:
    stop = service.restore_supply(session, stop_id=stop_id, by=body.by, at=body.at)
    session.commit()
    return _stop(stop)


class NonCompliantPublic(BaseModel):
    site_id: int
    account_no: str
    name: str
    township: str | None
    missing: list[str]
    open_findings: int
    supply: str


@router.get("/non-compliant", response_model=list[NonCompliantPublic])
def get_non_compliant(session: SessionDep, township: ScopeDep) -> list[NonCompliantPublic]:
    """Non-residential users missing a required item or with an open finding, and their supply state."""
    return [NonCompliantPublic(site_id=n.site.id, account_no=n.site.account_no, name=n.site.name,
                               township=n.site.township, missing=list(n.missing), open_findings=n.open_findings,
                               supply=n.restore or "supplied")
            for n in service.non_compliant(session, township=township)]
