"""The township progress snapshot: `service.progress()` for the whole city as of today, kept in
the store so the progress page and `GET /api/v1/campaign/progress` answer in milliseconds.

Why: at a million sites the live query (four per-site aggregates joined to every site) takes
seconds (docs/performance.md, "Scenario: million"), and nothing about it can be read faster from
the raw rows. The figures only change when campaign data change or the date does, so they are
computed then, off the request path:

- `changes.py` counts every transaction that writes a table progress reads;
- the background task (fleet/tasks/progress_snapshot.py) calls `due()` and, when the count moved
  or the snapshot is not for today, `compute()` (a long read, in a worker thread) then `store()`
  (a short write, in the fleet's database thread);
- `view()` serves the snapshot when the caller asks for today and one for today exists; another
  date, no snapshot yet, or `fresh=True` compute live.

The snapshot holds one row per community of each township (`service.progress_by_community`):
every counter is a count of sites, so the city's ranking sums them per township and one
township's page (township staff are pinned to theirs) reads only its own rows.

Stages are not stored: they follow from the counters, the plan and the date (`service.stages_of`),
so a plan change needs no refresh. A snapshot served while newer writes wait for the next
refresh says so (`stale`); every answer carries `computed_at`."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fleet.campaign import changes, service
from fleet.campaign.models import ProgressArea, ProgressState
from fleet.campaign.plan import DEFAULT_PLAN, Plan
from fleet.campaign.service import AreaProgress
from fleet.core.clock import now
from fleet.store.db import Database

COUNTERS = ("sites", "residential", "non_residential", "residential_ok", "non_residential_ok",
            "non_residential_accepted", "installed_sites", "self_checked", "self_passed", "spot_checked",
            "spot_passed", "open_findings")
assert COUNTERS == tuple(f.name for f in fields(AreaProgress))[1:13]  # load() builds them positionally


@dataclass
class Computed:
    """One computation of the city's progress: every community's counters and what they include."""

    as_of: date
    computed_at: datetime  # when the computation started: every write before it is included
    changes: int  # the change count read before computing
    rows: list[tuple[str, AreaProgress]]  # (township, one of its communities), in SQL order
    ms: int  # how long the computation took


@dataclass
class View:
    """What the page and the API show: ranked areas, the total, and how fresh the figures are."""

    as_of: date
    township: str | None
    areas: list[AreaProgress]
    total: AreaProgress
    computed_at: datetime
    source: str  # "snapshot" | "live"
    stale: bool  # a snapshot with writes since it was computed (the next refresh takes them in)


def compute(session: Session) -> Computed:
    """Compute every community's progress as of today (read only; seconds at a million sites).
    Run it outside any township scope (fleet/security/scope.py), as the background task does."""
    t0 = time.perf_counter()
    started = now()
    seen = changes.current(session.connection())  # before the figures: they include at least this
    rows = service.progress_by_community(session, as_of=started.date())
    return Computed(started.date(), started, seen, rows, round((time.perf_counter() - t0) * 1000))


def store(session: Session, c: Computed) -> None:
    """Replace the snapshot with `c` (the caller commits)."""
    session.execute(delete(ProgressArea))
    session.add_all(ProgressArea(township=tw, community=p.area, position=i, ledger_since=p.ledger_since,
                                 **{k: getattr(p, k) for k in COUNTERS})
                    for i, (tw, p) in enumerate(c.rows))
    state = session.get(ProgressState, 1)
    if state is None:
        state = ProgressState(id=1, changes=c.changes)
        session.add(state)
    state.snapshot_as_of, state.snapshot_changes = c.as_of, c.changes
    state.computed_at, state.refresh_ms = c.computed_at, c.ms
    session.flush()


def due(session: Session, day: date | None = None) -> str | None:
    """Why the snapshot needs recomputing (None: it is current): none yet, another day, or writes."""
    day = day or now().date()
    row = session.execute(select(ProgressState.changes, ProgressState.snapshot_as_of,
                                 ProgressState.snapshot_changes).where(ProgressState.id == 1)).first()
    if row is None or row.snapshot_as_of is None:
        return "no snapshot yet"
    if row.snapshot_as_of != day:
        return f"snapshot is for {row.snapshot_as_of}, today is {day}"
    if row.changes != row.snapshot_changes:
        return f"{row.changes - (row.snapshot_changes or 0)} change(s) since"
    return None


def refresh(db: Database) -> Computed:
    """Compute and store in one go (the benchmark after a bulk load, tests)."""
    with db.session() as session:
        c = compute(session)
    with db.session() as session:
        store(session, c)
        session.commit()
    return c


@dataclass
class Loaded:
    computed_at: datetime
    changes: int
    current: int
    areas: list[AreaProgress]


def _add(into: AreaProgress, p: AreaProgress) -> None:
    for k in COUNTERS:
        setattr(into, k, getattr(into, k) + getattr(p, k))
    if p.ledger_since is not None and (into.ledger_since is None or p.ledger_since < into.ledger_since):
        into.ledger_since = p.ledger_since


def load(session: Session, *, day: date, township: str | None = None, plan: Plan = DEFAULT_PLAN) -> Loaded | None:
    """The snapshot for `day` with stages, per township (or per community of `township`), in
    the order the live query gives; None when there is no snapshot for `day`."""
    state_q = select(ProgressState.snapshot_as_of, ProgressState.computed_at, ProgressState.snapshot_changes,
                     ProgressState.changes).where(ProgressState.id == 1)
    # Plain rows, not ORM objects: the city's view reads every community (1,200 at the benchmark's
    # million sites), and building an object per row was most of its time.
    cols = [ProgressArea.township, ProgressArea.community, ProgressArea.ledger_since,
            *[getattr(ProgressArea, k) for k in COUNTERS]]
    rows_q = select(*cols).order_by(ProgressArea.position)
    if township:
        rows_q = rows_q.where(ProgressArea.township == township)
    for _ in range(3):  # a refresh committing between the reads: read again
        first = session.execute(state_q).first()
        if first is None or first.snapshot_as_of != day or first.computed_at is None:
            return None
        rows = session.execute(rows_q).all()
        again = session.execute(state_q).first()
        if again is not None and again.computed_at == first.computed_at:
            break
    else:
        return None
    by_area: dict[str, AreaProgress] = {}
    for r in rows:
        name = r[1] if township else r[0]
        part = AreaProgress(name, *r[3:], ledger_since=r[2])
        if name in by_area:
            _add(by_area[name], part)
        else:
            by_area[name] = part
    areas = list(by_area.values())
    for p in areas:
        p.stages = service.stages_of(p, plan, day)
    return Loaded(first.computed_at, first.snapshot_changes or 0, again.changes, areas)


def view(session: Session, *, as_of: date | None = None, township: str | None = None, fresh: bool = False,
         plan: Plan = DEFAULT_PLAN) -> View:
    """Progress for the page and the API: ranked (the city) or per community (`township`), with
    the total, from the snapshot when it can answer (see the module docstring)."""
    today = now().date()
    day = as_of or today
    areas: list[AreaProgress] | None = None
    if not fresh and day == today:
        snap = load(session, day=day, township=township, plan=plan)
        if snap is not None:
            areas, at, source, stale = snap.areas, snap.computed_at, "snapshot", snap.current != snap.changes
    if areas is None:
        at, source, stale = now(), "live", False
        areas = service.progress(session, as_of=day, township=township, plan=plan)
    if not township:
        areas = service.rank(areas)
    return View(day, township, areas, service.totals(areas, name="total", plan=plan, as_of=day), at, source, stale)
