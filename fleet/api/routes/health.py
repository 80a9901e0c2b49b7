"""/api/v1/health: is the service well, and how is the fleet (counts, ingest, refusals)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from fleet.api.deps import FleetDep, SessionDep
from fleet.api.schemas import IngestErrorPublic, ServiceHealth
from fleet.core.clock import now
from fleet.ingest.writer import summary
from fleet.services import alarms
from fleet.store.models import Alarm, Device, IngestError

router = APIRouter(tags=["health"])


@router.get("/health", response_model=ServiceHealth)
def service_health(session: SessionDep, fleet: FleetDep) -> ServiceHealth:
    db_state = "ok"
    counts = {"total": 0, "online": 0, "offline": 0}
    active = 0
    try:
        for online, n in session.execute(select(Device.online, func.count()).group_by(Device.online)):
            counts["online" if online else "offline"] += n
            counts["total"] += n
        active = session.scalar(select(func.count()).select_from(Alarm).where(Alarm.state.in_(alarms.ACTIVE))) or 0
    except Exception as e:  # noqa: BLE001 - report, do not fail the health check itself
        db_state = f"error: {type(e).__name__}"
    ingest = summary(fleet.writer)
    if fleet.coap is not None:
        ingest["dedup_entries"] = fleet.coap.dedup_entries()
    if fleet.workers is not None:  # gasguard serve --ingest-workers N: pids, restarts, what each took
        ingest["workers"] = fleet.workers.summary()
    errors = {f"{r}:{why}": n for (r, why), n in sorted(fleet.counter.totals.items())}
    return ServiceHealth(status="ok" if db_state == "ok" else "degraded", database=db_state, time=now(),
                         coap_port=fleet.coap_port, devices=counts, alarms_active=active, ingest=ingest,
                         ingest_errors=errors)


@router.get("/ingest-errors", response_model=list[IngestErrorPublic])
def ingest_errors(session: SessionDep) -> list[IngestErrorPublic]:
    """Refused input per resource and reason, as last written by the ingest counters."""
    rows = session.scalars(select(IngestError).order_by(IngestError.resource, IngestError.reason))
    return [IngestErrorPublic.model_validate(r) for r in rows]
