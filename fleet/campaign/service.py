"""The campaign on the store: installs with their cost split, acceptance (self-check, spot-check),
findings, supply stops, and progress / ranking per township.

Progress is one aggregate query whatever the number of sites: per site, which needs its
in-service assets cover (built from `rules.SATISFIES`) and whether the site's rule
(`rules.REQUIREMENTS`) is met, summed per township (or per community inside one township). The
rule table is turned into SQL here, so the page, the report and `site_needs` agree.

Functions take a Session and keyword arguments and leave the commit to the caller."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from fleet.campaign.models import (
    Finding,
    FindingState,
    Inspection,
    InspectionKind,
    InspectionResult,
    Install,
    InstallItem,
    SupplyStop,
)
from fleet.campaign.plan import DEFAULT_PLAN, Plan, Stage
from fleet.campaign.rules import NEEDS, REQUIREMENTS, SATISFIES, SiteNeeds, cost_split, sample_size, site_needs, spot_check_sample
from fleet.core.clock import now
from fleet.core.errors import BadInput, Conflict, NotFound
from fleet.store.models import Asset, AssetStatus, AuditLog, Device, ProductModel, Site

DEVICE_KINDS = frozenset({"alarm", "shutoff", "alarm_shutoff"})


def _audit(session: Session, actor: str, action: str, entity: str, entity_id: Any,
           detail: dict[str, Any] | None = None) -> None:
    session.add(AuditLog(at=now(), actor=actor, action=action, entity=entity, entity_id=str(entity_id),
                         detail=detail))


def _who(name: str | None, what: str) -> str:
    name = (name or "").strip()
    if not name:
        raise BadInput(f"{what}: a name is required")
    return name


def get_site(session: Session, site_id: int) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(f"site {site_id} not found")
    return site


def site_kinds(session: Session, site_ids: Sequence[int] | None = None, *, as_of: date | None = None
               ) -> dict[int, set[str]]:
    """site id -> kinds of its in-service assets (installed on or before `as_of`)."""
    q = select(Asset.site_id, Asset.kind).where(Asset.status == AssetStatus.in_service.value,
                                                Asset.site_id.is_not(None)).distinct()
    if as_of is not None:
        q = q.where(Asset.installed_on <= as_of)
    out: dict[int, set[str]] = defaultdict(set)
    if site_ids is None:
        for sid, kind in session.execute(q):
            out[sid].add(kind)
        return out
    ids = list(site_ids)
    for i in range(0, len(ids), 900):
        for sid, kind in session.execute(q.where(Asset.site_id.in_(ids[i : i + 900]))):
            out[sid].add(kind)
    return out


def needs_of(session: Session, site: Site, *, as_of: date | None = None) -> SiteNeeds:
    return site_needs(site.category, site.supply, site_kinds(session, [site.id], as_of=as_of).get(site.id, ()))


# --- installs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ItemSpec:
    """One item of an install: its kind, catalogue model code (optional), serial (devices)."""

    kind: str
    model_code: str | None = None
    serial: str | None = None
    location: str | None = None


def record_install(session: Session, *, site_id: int, installed_on: date, installer: str,
                   items: Sequence[ItemSpec], company: str | None = None, total_fen: int | None = None,
                   note: str | None = None, plan: Plan = DEFAULT_PLAN) -> Install:
    """Record an install: the assets it put in (replacing in-service ones of the same kind) and
    who pays what. Devices need a serial; a non-residential user's alarm and shutoff must be of
    an approved catalogue model (STANDARDS "product catalogue")."""
    site = get_site(session, site_id)
    installer = _who(installer, "installer")
    if not items:
        raise BadInput("items: an install needs at least one item")
    if installed_on > now().date():
        raise BadInput(f"installed_on {installed_on} is in the future (today is {now().date()})")
    if total_fen is not None and site.category != "non_residential":
        raise BadInput("total_fen: only a non-residential user's own contract price is given by hand; "
                       "residential costs come from the tender prices")
    seen_serials: set[str] = set()
    resolved: list[tuple[ItemSpec, ProductModel | None]] = []
    for n, item in enumerate(items, start=1):
        where = f"items[{n}]"
        if item.kind not in SATISFIES:
            raise BadInput(f"{where}.kind {item.kind!r}: expected one of {', '.join(SATISFIES)}")
        model = None
        if item.model_code:
            model = session.scalars(select(ProductModel).where(ProductModel.code == item.model_code)).one_or_none()
            if model is None:
                raise BadInput(f"{where}.model {item.model_code!r}: not in the catalogue")
            if model.kind != item.kind:
                raise BadInput(f"{where}.model {item.model_code!r} is a {model.kind}, not a {item.kind}")
        if item.kind in DEVICE_KINDS:
            if not (item.serial or "").strip():
                raise BadInput(f"{where}.serial: a {item.kind} is a device and needs its serial number")
            if site.category == "non_residential" and (model is None or not model.approved):
                raise BadInput(f"{where}.model {item.model_code!r}: a non-residential user's {item.kind} must be "
                               "an approved catalogue model")
        if item.serial:
            if item.serial in seen_serials:
                raise BadInput(f"{where}.serial {item.serial!r}: listed twice in this install")
            seen_serials.add(item.serial)
            clash = session.scalars(select(Asset.id).where(Asset.serial == item.serial, Asset.kind == item.kind,
                                                           Asset.status == AssetStatus.in_service.value)).first()
            if clash is not None:
                raise Conflict(f"{where}.serial {item.serial!r}: already in service as asset {clash}",
                               reason="already_installed")
        resolved.append((item, model))

    replacing = set(session.scalars(select(Asset.kind).where(
        Asset.site_id == site.id, Asset.status == AssetStatus.in_service.value,
        Asset.kind.in_([i.kind for i in items]))))
    split = cost_split(site.category, [i.kind for i in items], plan.pricing, total_fen=total_fen, replacing=replacing)
    inst = Install(site_id=site.id, installed_on=installed_on, installer=installer, company=company,
                   total_fen=split.total_fen, city_fen=split.city_fen, gas_company_fen=split.gas_company_fen,
                   user_fen=split.user_fen, note=note, created_at=now())
    session.add(inst)
    session.flush()
    for item, model in resolved:
        olds = list(session.scalars(select(Asset).where(Asset.site_id == site.id, Asset.kind == item.kind,
                                                        Asset.status == AssetStatus.in_service.value)))
        asset = Asset(kind=item.kind, product_model_id=model.id if model else None, serial=item.serial,
                      site_id=site.id, installed_on=installed_on, status=AssetStatus.in_service.value,
                      location=item.location, created_at=now())
        session.add(asset)
        session.flush()
        for old in olds:
            old.status = AssetStatus.replaced.value
            old.replaced_at = now()
            old.replaced_by_id = asset.id
        if item.kind in DEVICE_KINDS and item.serial:
            _link_device(session, item.serial, asset, site)
        price = plan.pricing.item_price_fen.get(item.kind, 0) if site.category == "residential" else 0
        session.add(InstallItem(install_id=inst.id, asset_id=asset.id, price_fen=price))
    _audit(session, installer, "install", "site", site.id,
           {"install_id": inst.id, "items": [i.kind for i in items], **split.as_dict()})
    session.flush()
    return inst


def _link_device(session: Session, serial: str, asset: Asset, site: Site) -> None:
    """Tie a connected device already known to the fleet (by its protocol id or hardware uid)
    to the installed asset and its site, so its offline and fault work orders name the site."""
    dev = session.scalars(select(Device).where(or_(Device.device_id == serial, Device.uid == serial))).first()
    if dev is not None:
        dev.asset_id = asset.id
        dev.site_id = site.id


# --- acceptance -------------------------------------------------------------------------------

def _findings(session: Session, inspection: Inspection, texts: Iterable[str], rectify_days: int) -> list[Finding]:
    out = []
    for text in texts:
        text = text.strip()
        if not text:
            continue
        f = Finding(inspection_id=inspection.id, site_id=inspection.site_id, description=text,
                    state=FindingState.open.value, found_on=inspection.inspected_on,
                    rectify_by=inspection.inspected_on + timedelta(days=rectify_days))
        session.add(f)
        out.append(f)
    return out


def record_inspection(session: Session, *, kind: str, site_id: int, inspected_on: date, inspector: str,
                      result: str, findings: Sequence[str] = (), sample: str | None = None,
                      note: str | None = None, rectify_days: int = 30) -> Inspection:
    """A township self-check or a city spot-check of one site. A failed check needs at least one
    finding (what must be rectified); a pass may still list minor findings."""
    if kind not in {k.value for k in InspectionKind}:
        raise BadInput(f"kind {kind!r}: expected one of " + ", ".join(k.value for k in InspectionKind))
    if result not in {r.value for r in InspectionResult}:
        raise BadInput(f"result {result!r}: expected 'pass' or 'fail'")
    if result == InspectionResult.failed.value and not any(f.strip() for f in findings):
        raise BadInput("findings: a failed check must say what is to be rectified")
    if inspected_on > now().date():
        raise BadInput(f"inspected_on {inspected_on} is in the future (today is {now().date()})")
    site = get_site(session, site_id)
    if kind == InspectionKind.spot_check.value and not sample:
        raise BadInput("sample: a spot-check names the seed of the draw it came from")
    insp = Inspection(kind=kind, site_id=site.id, inspected_on=inspected_on, inspector=_who(inspector, "inspector"),
                      result=result, sample=sample, note=note, created_at=now())
    session.add(insp)
    session.flush()
    made = _findings(session, insp, findings, rectify_days)
    _audit(session, insp.inspector, kind, "site", site.id, {"result": result, "findings": len(made)})
    session.flush()
    return insp


def installed_sites_by_township(session: Session, *, as_of: date | None = None) -> dict[str, list[int]]:
    """Sites with at least one install (on or before `as_of`), by township: the spot-check population."""
    q = (select(Site.township, Site.id).join(Install, Install.site_id == Site.id)
         .where(Site.township.is_not(None)).distinct())
    if as_of is not None:
        q = q.where(Install.installed_on <= as_of)
    out: dict[str, list[int]] = defaultdict(list)
    for tw, sid in session.execute(q):
        out[tw].append(sid)
    return dict(out)


def draw_spot_check(session: Session, *, seed: str | int, as_of: date | None = None,
                    plan: Plan = DEFAULT_PLAN, township: str | None = None) -> dict[str, list[int]]:
    """The city's spot-check sample per township (site ids), reproducible from `seed`."""
    pop = installed_sites_by_township(session, as_of=as_of)
    if township is not None:
        pop = {township: pop.get(township, [])}
    return spot_check_sample(pop, seed=seed, rate=plan.spot_check_rate, minimum=plan.spot_check_minimum)


def rectify_finding(session: Session, *, finding_id: int, on: date, by: str) -> Finding:
    f = session.get(Finding, finding_id)
    if f is None:
        raise NotFound(f"finding {finding_id} not found")
    if f.state != FindingState.open.value:
        raise Conflict(f"finding {finding_id} is {f.state}; only an open finding can be rectified", reason="bad_state")
    if on < f.found_on:
        raise BadInput(f"rectified on {on}: before the finding was made ({f.found_on})")
    f.state, f.rectified_on, f.rectified_by = FindingState.rectified.value, on, _who(by, "rectified by")
    _audit(session, f.rectified_by, "rectify", "finding", f.id)
    return f


def close_finding(session: Session, *, finding_id: int, on: date, by: str) -> Finding:
    """Close (销号) a rectified finding after checking the rectification."""
    f = session.get(Finding, finding_id)
    if f is None:
        raise NotFound(f"finding {finding_id} not found")
    if f.state != FindingState.rectified.value:
        raise Conflict(f"finding {finding_id} is {f.state}; only a rectified finding can be closed", reason="bad_state")
    f.state, f.closed_on, f.closed_by = FindingState.closed.value, on, _who(by, "closed by")
    _audit(session, f.closed_by, "close", "finding", f.id)
    return f


# --- supply stops -----------------------------------------------------------------------------

def stop_supply(session: Session, *, site_id: int, reason: str, by: str, at: datetime | None = None) -> SupplyStop:
    """Stop gas to a non-residential user that has not fixed a hazard."""
    site = get_site(session, site_id)
    if site.category != "non_residential":
        raise BadInput(f"site {site_id} is residential; supply stops apply to non-residential users")
    if not reason.strip():
        raise BadInput("reason: say which hazard was not fixed")
    active = session.scalars(select(SupplyStop.id).where(SupplyStop.site_id == site_id,
                                                         SupplyStop.restored_at.is_(None))).first()
    if active is not None:
        raise Conflict(f"site {site_id}: supply already stopped (stop {active})", reason="already_stopped")
    stop = SupplyStop(site_id=site_id, reason=reason.strip(), stopped_at=at or now(), stopped_by=_who(by, "stopped by"))
    session.add(stop)
    session.flush()
    _audit(session, stop.stopped_by, "stop_supply", "site", site_id, {"reason": stop.reason})
    return stop


def _stop(session: Session, stop_id: int) -> SupplyStop:
    stop = session.get(SupplyStop, stop_id)
    if stop is None:
        raise NotFound(f"supply stop {stop_id} not found")
    return stop


def hazard_removed(session: Session, *, stop_id: int, by: str, at: datetime | None = None,
                   plan: Plan = DEFAULT_PLAN) -> SupplyStop:
    """The hazard is gone: the restore clock starts (supply back within `plan.restore_hours`)."""
    stop = _stop(session, stop_id)
    if stop.hazard_removed_at is not None:
        raise Conflict(f"supply stop {stop_id}: hazard already recorded as removed at "
                       f"{stop.hazard_removed_at:%Y-%m-%d %H:%M}", reason="bad_state")
    at = at or now()
    if at < stop.stopped_at:
        raise BadInput(f"hazard removed at {at:%Y-%m-%d %H:%M}: before the stop ({stop.stopped_at:%Y-%m-%d %H:%M})")
    stop.hazard_removed_at = at
    stop.restore_due_at = at + timedelta(hours=plan.restore_hours)
    _audit(session, _who(by, "confirmed by"), "hazard_removed", "supply_stop", stop.id)
    return stop


def restore_supply(session: Session, *, stop_id: int, by: str, at: datetime | None = None) -> SupplyStop:
    stop = _stop(session, stop_id)
    if stop.restored_at is not None:
        raise Conflict(f"supply stop {stop_id}: already restored", reason="bad_state")
    if stop.hazard_removed_at is None:
        raise Conflict(f"supply stop {stop_id}: record the hazard as removed before restoring supply",
                       reason="bad_state")
    at = at or now()
    if at < stop.hazard_removed_at:
        raise BadInput("restored before the hazard was removed")
    stop.restored_at, stop.restored_by = at, _who(by, "restored by")
    _audit(session, stop.restored_by, "restore_supply", "supply_stop", stop.id)
    return stop


def restore_state(stop: SupplyStop, at: datetime | None = None) -> tuple[str, timedelta | None]:
    """(state, time left or overdue) of a stop's restore clock at `at`:
    stopped | restore_due (time left) | restore_overdue (time past) | restored | restored_late."""
    at = at or now()
    if stop.restored_at is not None:
        late = stop.restore_due_at is not None and stop.restored_at > stop.restore_due_at
        return ("restored_late" if late else "restored"), None
    if stop.restore_due_at is None:
        return "stopped", None
    if at <= stop.restore_due_at:
        return "restore_due", stop.restore_due_at - at
    return "restore_overdue", at - stop.restore_due_at


@dataclass
class NonCompliant:
    site: Site
    missing: tuple[str, ...]
    open_findings: int
    stop: SupplyStop | None
    restore: str | None


def non_compliant(session: Session, *, township: str | None = None, as_of: date | None = None) -> list[NonCompliant]:
    """Non-residential users missing a required item or with an open finding, with their supply state."""
    q = select(Site).where(Site.category == "non_residential").order_by(Site.township, Site.account_no)
    if township:
        q = q.where(Site.township == township)
    sites = list(session.scalars(q))
    ids = [s.id for s in sites]
    kinds = site_kinds(session, ids, as_of=as_of)
    open_f: dict[int, int] = defaultdict(int)
    stops: dict[int, SupplyStop] = {}
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        for sid, n in session.execute(select(Finding.site_id, func.count()).where(
                Finding.site_id.in_(chunk), Finding.state == FindingState.open.value).group_by(Finding.site_id)):
            open_f[sid] = n
        for stop in session.scalars(select(SupplyStop).where(SupplyStop.site_id.in_(chunk))
                                    .order_by(SupplyStop.stopped_at)):
            stops[stop.site_id] = stop  # the latest
    out = []
    for s in sites:
        needs = site_needs(s.category, s.supply, kinds.get(s.id, ()))
        stop = stops.get(s.id)
        active = stop is not None and stop.restored_at is None
        if needs.missing or open_f[s.id] or active:
            out.append(NonCompliant(s, needs.missing, open_f[s.id], stop if active else None,
                                    restore_state(stop)[0] if active and stop else None))
    return out


# --- progress ---------------------------------------------------------------------------------

def _in_township(q: Any, col: Any, township: str | None) -> Any:
    """Narrow a per-site subquery to one township's sites by a join (none for the city); a join,
    because SQLite plans `site_id IN (select ...)` inside a GROUP BY badly (20x slower)."""
    if not township:
        return q
    return q.join(Site, Site.id == col).where(Site.township == township)


def _need_flags(as_of: date, township: str | None = None) -> Any:
    """Subquery: per site, 1/0 for each need its in-service assets cover by `as_of`."""
    cols = [Asset.site_id.label("site_id")]
    for need in NEEDS:
        kinds = [k for k, covers in SATISFIES.items() if need in covers]
        cols.append(func.max(case((Asset.kind.in_(kinds), 1), else_=0)).label(need))
    q = select(*cols).where(Asset.status == AssetStatus.in_service.value, Asset.site_id.is_not(None),
                            Asset.installed_on <= as_of)
    return _in_township(q, Asset.site_id, township).group_by(Asset.site_id).subquery("flags")


def _compliant_expr(flags: Any) -> ColumnElement[int]:
    """1 when the site's rule (REQUIREMENTS) is met by its flags, else 0: the rule table as SQL."""
    whens = []
    for (category, supply), rule in REQUIREMENTS.items():
        have = and_(*[func.coalesce(flags.c[n], 0) == 1 for n in rule.required])
        whens.append((and_(Site.category == category, Site.supply == supply, have), 1))
    return case(*whens, else_=0)


def _insp_flags(as_of: date, township: str | None = None) -> Any:
    """Subquery: per site, whether it was self-checked (and passed), spot-checked (and passed)."""
    sc, sp = InspectionKind.self_check.value, InspectionKind.spot_check.value
    ok = InspectionResult.passed.value
    q = (select(
        Inspection.site_id.label("site_id"),
        func.max(case((Inspection.kind == sc, 1), else_=0)).label("self_checked"),
        func.max(case((and_(Inspection.kind == sc, Inspection.result == ok), 1), else_=0)).label("self_passed"),
        func.max(case((Inspection.kind == sp, 1), else_=0)).label("spot_checked"),
        func.max(case((and_(Inspection.kind == sp, Inspection.result == ok), 1), else_=0)).label("spot_passed"),
    ).where(Inspection.inspected_on <= as_of))
    return _in_township(q, Inspection.site_id, township).group_by(Inspection.site_id).subquery("insp")


@dataclass
class StageProgress:
    stage: Stage
    done: int
    target: int
    status: str  # done | in_progress | not_started | overdue | n/a

    @property
    def pct(self) -> float:
        return 100.0 if self.target == 0 else round(100.0 * self.done / self.target, 1)


@dataclass
class AreaProgress:
    """Progress of one township (or one community inside a township)."""

    area: str
    sites: int = 0
    residential: int = 0
    non_residential: int = 0
    residential_ok: int = 0
    non_residential_ok: int = 0
    non_residential_accepted: int = 0
    installed_sites: int = 0
    self_checked: int = 0
    self_passed: int = 0
    spot_checked: int = 0
    spot_passed: int = 0
    open_findings: int = 0
    ledger_since: datetime | None = None
    stages: list[StageProgress] = field(default_factory=list)
    rank: int | None = None

    @property
    def compliant(self) -> int:
        return self.residential_ok + self.non_residential_ok

    @property
    def completion_pct(self) -> float:
        return 0.0 if not self.sites else round(100.0 * self.compliant / self.sites, 1)

    @property
    def spot_pass_pct(self) -> float | None:
        return None if not self.spot_checked else round(100.0 * self.spot_passed / self.spot_checked, 1)


def _status(done: int, target: int, deadline: date, as_of: date) -> str:
    if target == 0:
        return "n/a"
    if done >= target:
        return "done"
    if as_of > deadline:
        return "overdue"
    return "in_progress" if done else "not_started"


def _stages(p: AreaProgress, plan: Plan, as_of: date) -> list[StageProgress]:
    measures = {
        "ledger": (1 if p.sites and p.ledger_since and p.ledger_since.date() <= as_of else 0, 1),
        "pilot": (1 if p.installed_sites else 0, 1),
        "non_residential": (p.non_residential_accepted, p.non_residential),
        "residential": (p.residential_ok, p.residential),
        "self_check": (p.self_checked, p.installed_sites),
        "spot_check": (p.spot_checked, sample_size(p.installed_sites, plan.spot_check_rate, plan.spot_check_minimum)),
    }
    out = []
    for st in plan.stages:
        done, target = measures[st.measure]
        out.append(StageProgress(st, min(done, target) if target else done, target,
                                 _status(done, target, st.deadline, as_of)))
    return out


def stages_of(p: AreaProgress, plan: Plan, as_of: date) -> list[StageProgress]:
    """The plan's stages of one area from its counters (how the progress snapshot gets them)."""
    return _stages(p, plan, as_of)


def progress(session: Session, *, as_of: date | None = None, township: str | None = None,
             plan: Plan = DEFAULT_PLAN) -> list[AreaProgress]:
    """Progress per township (or, with `township`, per community of it) as of a date, with each
    plan stage's done / target / status. Sorted by area name; `rank()` orders them."""
    as_of = as_of or now().date()
    out = []
    for _, p in _progress_rows(session, as_of, township, [Site.community if township else Site.township]):
        p.stages = _stages(p, plan, as_of)
        out.append(p)
    return out


def progress_by_community(session: Session, *, as_of: date) -> list[tuple[str, AreaProgress]]:
    """(township, counters of one of its communities) for every community of the city, sorted
    by township then community, without stages: what the progress snapshot stores. Every counter
    is a count of sites, so a township's figures are its communities' sums (ledger_since: the
    earliest), which is how fleet/campaign/snapshot.py serves both levels from one query."""
    return [(keys[0], p) for keys, p in _progress_rows(session, as_of, None, [Site.township, Site.community])]


def _progress_rows(session: Session, as_of: date, township: str | None, group: Sequence[Any]
                   ) -> list[tuple[tuple[str, ...], AreaProgress]]:
    """The one aggregate: counters per value of the `group` columns (NULL read as ""), in SQL
    order; each AreaProgress is named by the last group column."""
    flags, insp = _need_flags(as_of, township), _insp_flags(as_of, township)
    area_cols = [func.coalesce(col, literal("")).label(f"area{i}") for i, col in enumerate(group)]
    compliant = _compliant_expr(flags)
    res = Site.category == "residential"
    non = Site.category == "non_residential"
    # GROUP BY, not DISTINCT: SQLite builds an automatic index on a grouped subquery it joins to,
    # but scanned the DISTINCT one once per site (one township at a million sites: 145 s -> 1.3 s).
    installed = _in_township(select(Install.site_id).where(Install.installed_on <= as_of), Install.site_id,
                             township).group_by(Install.site_id).subquery("inst")
    open_f = (select(Finding.site_id, func.count().label("n"))
              .where(Finding.found_on <= as_of,
                     (Finding.state == FindingState.open.value) | (Finding.rectified_on > as_of))
              .group_by(Finding.site_id).subquery("openf"))

    def n(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    q = (select(
        *area_cols,
        func.count(Site.id),
        n(res), n(non),
        n(and_(res, compliant == 1)), n(and_(non, compliant == 1)),
        n(and_(non, compliant == 1, func.coalesce(insp.c.self_passed, 0) == 1)),
        n(installed.c.site_id.is_not(None)),
        n(func.coalesce(insp.c.self_checked, 0) == 1), n(func.coalesce(insp.c.self_passed, 0) == 1),
        n(func.coalesce(insp.c.spot_checked, 0) == 1), n(func.coalesce(insp.c.spot_passed, 0) == 1),
        func.coalesce(func.sum(open_f.c.n), 0),
        func.min(Site.created_at),
    ).select_from(Site)
        .outerjoin(flags, flags.c.site_id == Site.id)
        .outerjoin(insp, insp.c.site_id == Site.id)
        .outerjoin(installed, installed.c.site_id == Site.id)
        .outerjoin(open_f, open_f.c.site_id == Site.id)
        .group_by(*area_cols).order_by(*area_cols))
    if township:
        q = q.where(Site.township == township)
    k = len(area_cols)
    out = []
    for row in session.execute(q):
        keys = tuple(row[:k])
        p = AreaProgress(keys[-1], *[int(v or 0) for v in row[k : k + 12]], ledger_since=row[k + 12])
        if isinstance(p.ledger_since, str):  # SQLite func.min over a UTCDateTime column comes back raw
            p.ledger_since = datetime.fromisoformat(p.ledger_since)
        if p.ledger_since is not None and p.ledger_since.tzinfo is None:  # stored as UTC (store/types.py)
            p.ledger_since = p.ledger_since.replace(tzinfo=timezone.utc)
        out.append((keys, p))
    return out


def rank(areas: Sequence[AreaProgress]) -> list[AreaProgress]:
    """The city's ranking table: completion rate (compliant sites / sites) first, then the
    spot-check pass rate, then fewer open findings, then the name (so the order is stable).
    Equal figures share a rank ("1, 2, 2, 4")."""

    def key(p: AreaProgress) -> tuple[float, float, int]:
        return (-p.completion_pct, -(p.spot_pass_pct or 0.0), p.open_findings)

    ordered = sorted(areas, key=lambda p: (key(p), p.area))
    prev: tuple[float, float, int] | None = None
    for i, p in enumerate(ordered, start=1):
        if key(p) != prev:
            current = i
            prev = key(p)
        p.rank = current
    return ordered


def totals(areas: Sequence[AreaProgress], *, name: str, plan: Plan = DEFAULT_PLAN,
           as_of: date | None = None) -> AreaProgress:
    """One row adding up `areas` (the city total)."""
    t = AreaProgress(name)
    for p in areas:
        for f in ("sites", "residential", "non_residential", "residential_ok", "non_residential_ok",
                  "non_residential_accepted", "installed_sites", "self_checked", "self_passed", "spot_checked",
                  "spot_passed", "open_findings"):
            setattr(t, f, getattr(t, f) + getattr(p, f))
        if p.ledger_since and (t.ledger_since is None or p.ledger_since < t.ledger_since):
            t.ledger_since = p.ledger_since
    # Each stage of the total is the sum of the areas' (ledgers: townships done / townships).
    as_of = as_of or now().date()
    t.stages = []
    for i, st in enumerate(plan.stages):
        done = sum(p.stages[i].done for p in areas)
        target = sum(p.stages[i].target for p in areas)
        t.stages.append(StageProgress(st, done, target, _status(done, target, st.deadline, as_of)))
    return t


def townships(session: Session) -> list[str]:
    """Every township, in order. Every campaign page lists them: walked one index seek per
    township (a recursive "next township after this one") instead of reading every site's, which
    at a million sites took 47-110 ms of each page on SQLite and now takes well under 1 ms."""
    t = select(select(func.min(Site.township)).scalar_subquery().label("x")).cte("tw", recursive=True)
    after = select(func.min(Site.township)).where(Site.township > t.c.x).scalar_subquery()
    t = t.union_all(select(after).where(t.c.x.is_not(None)))
    return list(session.scalars(select(t.c.x).where(t.c.x.is_not(None))))
