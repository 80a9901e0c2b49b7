"""Campaign dashboard pages (server-rendered, Chinese by default, `?lang=en` to switch), mounted
by the fleet app as `fleet.campaign.pages.router` at `/campaign`:

- `/campaign`: progress per township with the ranking and the plan's stages; `?township=` shows
  one township per community;
- `/campaign/sites`: the ledger with each site's must-have / has / missing items;
- `/campaign/non-compliant`: non-residential users missing items or with open findings, with
  their supply stop and the 24-hour restore clock;
- `/campaign/report`: the monthly report, with Excel and PDF downloads;
- `/campaign/ledger`: template download, export, and import with every rejected row listed.

Scope: `?township=` narrows every page to one township. An authentication layer may pin a user
to a township by setting `request.state.township`; then the pages show only that township and
refuse another with 403. The language choice is the `lang` cookie, shared with the fleet
dashboard. The app must have `app.state.fleet` with `.db` (a fleet.store.db.Database) and
optionally `.settings` (for the default language)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet.campaign import ledger, report, service, snapshot
from fleet.campaign.i18n import translator
from fleet.campaign.plan import load_plan
from fleet.campaign.rules import site_needs
from fleet.campaign.service import ItemSpec
from fleet.core.clock import now
from fleet.core.errors import BadInput, FleetError
from fleet.store.models import Site

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

router = APIRouter(prefix="/campaign", include_in_schema=False)


def db_session(request: Request) -> Iterator[Session]:
    """A session on the fleet's database for one request."""
    with request.app.state.fleet.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(db_session)]


def pick_lang(request: Request) -> str:
    q = request.query_params.get("lang")
    if q in ("zh", "en"):
        return q
    c = request.cookies.get("lang")
    if c in ("zh", "en"):
        return c
    settings = getattr(request.app.state.fleet, "settings", None)
    return getattr(settings, "lang", "zh") or "zh"


def scope(request: Request) -> str | None:
    """The township this request is about (None = the whole city), honouring a pinned scope."""
    pinned = getattr(request.state, "township", None)
    asked = request.query_params.get("township") or None
    if pinned:
        if asked and asked != pinned:
            raise HTTPException(status_code=403, detail=f"township {asked!r}: you can see {pinned!r} only")
        return pinned
    return asked


ScopeDep = Annotated[str | None, Depends(scope)]


def _href(path: str, **params: Any) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "", False)}
    return path + ("?" + urlencode(clean) if clean else "")


NAV = (("progress", "/campaign"), ("sites", "/campaign/sites"), ("non_compliant", "/campaign/non-compliant"),
       ("spot_check", "/campaign/spot-check"), ("report", "/campaign/report"), ("ledger_io", "/campaign/ledger"),
       ("workorders", "/workorders"))


def render(request: Request, session: Session, name: str, *, title_key: str, active: str, township: str | None,
           status: int = 200, keep: dict[str, Any] | None = None, **ctx: Any) -> HTMLResponse:
    """Render a campaign page with the shared header, language switch and township selector."""
    lang = pick_lang(request)
    t = translator(lang)
    query = dict(request.query_params)
    query["lang"] = "en" if lang == "zh" else "zh"
    pinned = getattr(request.state, "township", None)
    context = {
        "request": request, "lang": lang, "t": t, "title": t(title_key), "active": active,
        "nav": [(k, _href(p, township=township)) for k, p in NAV],
        "lang_href": _href(request.url.path, **query), "township": township, "pinned": bool(pinned),
        "townships": [pinned] if pinned else service.townships(session), "keep": keep or {},
        "needs_text": lambda needs: "、".join(t(f"need_{n}") for n in needs), **ctx,
    }
    resp = TEMPLATES.TemplateResponse(request, f"campaign/{name}", context, status_code=status)
    if request.query_params.get("lang") in ("zh", "en"):
        resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return resp


def _as_of(text: str | None) -> date:
    if not text:
        return now().date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(status_code=400, detail=f"as_of {text!r}: expected YYYY-MM-DD") from None


@router.get("", response_class=HTMLResponse)
def progress_page(request: Request, session: SessionDep, township: ScopeDep,
                  as_of: Annotated[str | None, Query()] = None,
                  fresh: Annotated[bool, Query()] = False) -> HTMLResponse:
    """Today's figures (the city's ranking, or one township's communities) are served from the
    progress snapshot (fleet/campaign/snapshot.py), with when they were computed; `?fresh=1`
    computes them now."""
    v = snapshot.view(session, as_of=_as_of(as_of), township=township, fresh=fresh, plan=load_plan())
    return render(request, session, "progress.html", title_key="progress", active="progress", township=township,
                  keep={"as_of": as_of} if as_of else {}, areas=v.areas, total=v.total, as_of=v.as_of,
                  computed_at=v.computed_at, source=v.source, stale=v.stale,
                  fresh_href=_href("/campaign", township=township, as_of=as_of, fresh="1"))


@router.get("/sites", response_class=HTMLResponse)
def sites_page(request: Request, session: SessionDep, township: ScopeDep,
               missing: Annotated[bool, Query()] = False,
               offset: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> HTMLResponse:
    q = select(Site).order_by(Site.township, Site.community, Site.account_no)
    if township:
        q = q.where(Site.township == township)
    if missing:
        # The "missing" filter needs each site's needs, so it pages in Python over the township.
        sites = list(session.scalars(q))
        kinds = service.site_kinds(session, [s.id for s in sites] if township else None)
        pairs = [(s, site_needs(s.category, s.supply, kinds.get(s.id, ()))) for s in sites]
        pairs = [p for p in pairs if p[1].missing]
        count, rows = len(pairs), pairs[offset : offset + limit]
    else:
        count = session.scalar(select(func.count()).select_from(q.subquery())) or 0
        sites = list(session.scalars(q.offset(offset).limit(limit)))
        kinds = service.site_kinds(session, [s.id for s in sites])
        rows = [(s, site_needs(s.category, s.supply, kinds.get(s.id, ()))) for s in sites]
    base = {"township": township, "missing": "1" if missing else None, "limit": limit}
    prev_href = _href("/campaign/sites", **base, offset=max(0, offset - limit)) if offset else None
    next_href = _href("/campaign/sites", **base, offset=offset + limit) if offset + limit < count else None
    return render(request, session, "sites.html", title_key="sites", active="sites", township=township,
                  keep={"missing": "1"} if missing else {}, rows=rows, count=count, only_missing=missing,
                  prev_href=prev_href, next_href=next_href)


@router.get("/non-compliant", response_class=HTMLResponse)
def non_compliant_page(request: Request, session: SessionDep, township: ScopeDep) -> HTMLResponse:
    rows = service.non_compliant(session, township=township)
    return render(request, session, "noncompliant.html", title_key="non_compliant", active="non_compliant",
                  township=township, rows=rows)


def _month(text: str | None) -> str:
    if text:
        return text
    first = now().date().replace(day=1)
    return f"{first:%Y-%m}"


@router.get("/report", response_class=HTMLResponse)
def report_page(request: Request, session: SessionDep, township: ScopeDep,
                month: Annotated[str | None, Query()] = None) -> HTMLResponse:
    m = _month(month)
    try:
        rep = report.monthly_report(session, month=m, township=township, plan=load_plan())
    except FleetError as e:
        raise HTTPException(status_code=400, detail=e.message) from None
    header, lines = report.table(rep)
    lines = [[report.display(v) for v in line] for line in lines]
    return render(request, session, "report.html", title_key="report", active="report", township=township,
                  keep={"month": m}, rep=rep, header=header, lines=lines, month=m,
                  xlsx_href=_href("/campaign/report.xlsx", month=m, township=township),
                  pdf_href=_href("/campaign/report.pdf", month=m, township=township))


def _report_file(session: Session, township: str | None, month: str | None, kind: str) -> Response:
    m = _month(month)
    try:
        rep = report.monthly_report(session, month=m, township=township, plan=load_plan())
    except FleetError as e:
        raise HTTPException(status_code=400, detail=e.message) from None
    name = f"monthly-{rep.month}{'-' + township if township else ''}.{kind}"
    disposition = {"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(name)}"}
    if kind == "pdf":
        return Response(report.to_pdf(rep), media_type="application/pdf", headers=disposition)
    from io import BytesIO

    buf = BytesIO()
    report.write_xlsx(rep, buf)
    return Response(buf.getvalue(), media_type=XLSX, headers=disposition)


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)


@router.get("/report.xlsx")
def report_xlsx(session: SessionDep, township: ScopeDep, month: Annotated[str | None, Query()] = None) -> Response:
    return _report_file(session, township, month, "xlsx")


@router.get("/report.pdf")
def report_pdf(session: SessionDep, township: ScopeDep, month: Annotated[str | None, Query()] = None) -> Response:
    return _report_file(session, township, month, "pdf")


@router.get("/ledger", response_class=HTMLResponse)
def ledger_page(request: Request, session: SessionDep, township: ScopeDep) -> HTMLResponse:
    return _ledger_render(request, session, township)


def _ledger_render(request: Request, session: Session, township: str | None, status: int = 200,
                   **ctx: Any) -> HTMLResponse:
    return render(request, session, "ledger.html", title_key="ledger_io", active="ledger_io", township=township,
                  status=status, template_href="/campaign/ledger/template.xlsx",
                  export_href=_href("/campaign/ledger/export.xlsx", township=township),
                  export_res_href=_href("/campaign/ledger/export.xlsx", township=township, category="residential"),
                  export_non_href=_href("/campaign/ledger/export.xlsx", township=township, category="non_residential"),
                  import_href=_href("/campaign/ledger", township=township), **({"result": None, "error": None} | ctx))


@router.post("/ledger", response_class=HTMLResponse)
def ledger_upload(request: Request, session: SessionDep, township: ScopeDep,
                  file: Annotated[UploadFile, File()], skip_bad: Annotated[bool, Form()] = False) -> HTMLResponse:
    data = file.file.read()
    try:
        result = ledger.import_ledger(session, data, township=township, skip_bad=skip_bad, actor="dashboard")
    except FleetError as e:
        return _ledger_render(request, session, township, status=400, error=f"{file.filename}: {e.message}")
    status = 422 if result.rejected and not result.written else 200
    return _ledger_render(request, session, township, status=status, result=result)


@router.get("/ledger/template.xlsx")
def ledger_template() -> Response:
    from io import BytesIO

    buf = BytesIO()
    ledger.template_workbook().save(buf)
    return Response(buf.getvalue(), media_type=XLSX,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote('台账模板.xlsx')}"})


@router.get("/ledger/export.xlsx")
def ledger_export(session: SessionDep, township: ScopeDep,
                  category: Annotated[Literal["residential", "non_residential"] | None, Query()] = None) -> Response:
    """The ledger as Excel; STANDARDS keeps residential and non-residential ledgers apart."""
    from io import BytesIO

    buf = BytesIO()
    ledger.export_workbook(session, township=township, category=category).save(buf)
    part = {"residential": "-居民", "non_residential": "-非居民"}.get(category or "", "")
    name = f"台账-{township or '全市'}{part}.xlsx"
    return Response(buf.getvalue(), media_type=XLSX,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(name)}"})


# --- one site: needs, assets, installs, checks, findings, supply -------------------------------

def _site_in_scope(session: Session, site_id: int, township: str | None) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise HTTPException(status_code=404, detail=f"site {site_id} not found")
    if township and site.township != township:
        raise HTTPException(status_code=403, detail=f"site {site_id} is not in {township}")
    return site


def _error_page(request: Request, session: Session, township: str | None, e: FleetError) -> HTMLResponse:
    from fleet.core.errors import http_status

    session.rollback()
    return render(request, session, "error.html", title_key="error", active="sites", township=township,
                  status=http_status(e), message=e.message)


def _back(site_id: int, township: str | None) -> RedirectResponse:
    return RedirectResponse(_href(f"/campaign/sites/{site_id}", township=township), status_code=303)


@router.get("/sites/{site_id}", response_class=HTMLResponse)
def site_page(request: Request, session: SessionDep, township: ScopeDep, site_id: int) -> HTMLResponse:
    from fleet.campaign.models import Finding, Inspection, Install, SupplyStop
    from fleet.lifecycle.service import asset_lives

    site = _site_in_scope(session, site_id, township)
    stop = session.scalars(select(SupplyStop).where(SupplyStop.site_id == site.id)
                           .order_by(SupplyStop.stopped_at.desc(), SupplyStop.id.desc())).first()
    if stop is not None and stop.restored_at is not None:
        stop = None  # supplied again: a new stop can be recorded
    return render(
        request, session, "site.html", title_key="site_page", active="sites", township=township,
        site=site, needs=service.needs_of(session, site), lives=asset_lives(session, site_id=site.id),
        installs=list(session.scalars(select(Install).where(Install.site_id == site.id).order_by(Install.installed_on))),
        inspections=list(session.scalars(select(Inspection).where(Inspection.site_id == site.id)
                                         .order_by(Inspection.inspected_on, Inspection.id))),
        findings=list(session.scalars(select(Finding).where(Finding.site_id == site.id).order_by(Finding.id))),
        stop=stop, restore=service.restore_state(stop)[0] if stop else None, today=now().date().isoformat(),
        scope_qs=("?" + urlencode({"township": township})) if township else "")


@router.post("/sites/{site_id}/install")
def site_install(request: Request, session: SessionDep, township: ScopeDep, site_id: int,
                 installer: Annotated[str, Form()], installed_on: Annotated[date, Form()],
                 kind: Annotated[list[str], Form()], model: Annotated[list[str], Form()],
                 serial: Annotated[list[str], Form()], price_yuan: Annotated[str, Form()] = "") -> Response:
    """The install form: up to three items (kind, catalogue model, serial); empty rows are skipped."""
    from decimal import Decimal, InvalidOperation

    _site_in_scope(session, site_id, township)
    items = [ItemSpec(k, m.strip() or None, s.strip() or None) for k, m, s in zip(kind, model, serial, strict=False) if k]
    try:
        total = None
        if price_yuan.strip():
            try:
                total = int(Decimal(price_yuan.strip()) * 100)
            except InvalidOperation:
                raise BadInput(f"contract price {price_yuan!r}: expected an amount in yuan, e.g. 1500 or 1500.50") from None
        service.record_install(session, site_id=site_id, installed_on=installed_on, installer=installer, items=items,
                               total_fen=total, plan=load_plan())
        session.commit()
    except FleetError as e:
        return _error_page(request, session, township, e)
    return _back(site_id, township)


@router.post("/sites/{site_id}/inspect")
def site_inspect(request: Request, session: SessionDep, township: ScopeDep, site_id: int,
                 kind: Annotated[str, Form()], inspector: Annotated[str, Form()], result: Annotated[str, Form()],
                 findings: Annotated[str, Form()] = "", sample: Annotated[str, Form()] = "") -> Response:
    _site_in_scope(session, site_id, township)
    try:
        service.record_inspection(session, kind=kind, site_id=site_id, inspected_on=now().date(), inspector=inspector,
                                  result=result, findings=findings.splitlines(), sample=sample.strip() or None)
        session.commit()
    except FleetError as e:
        return _error_page(request, session, township, e)
    return _back(site_id, township)


@router.post("/findings/{finding_id}/{action}")
def finding_action(request: Request, session: SessionDep, township: ScopeDep, finding_id: int, action: str,
                   name: Annotated[str, Form()]) -> Response:
    from fleet.campaign.models import Finding

    f = session.get(Finding, finding_id)
    if f is None:
        raise HTTPException(status_code=404, detail=f"finding {finding_id} not found")
    _site_in_scope(session, f.site_id, township)
    try:
        if action == "rectify":
            service.rectify_finding(session, finding_id=finding_id, on=now().date(), by=name)
        elif action == "close":
            service.close_finding(session, finding_id=finding_id, on=now().date(), by=name)
        else:
            raise HTTPException(status_code=404, detail=f"no action {action!r}; rectify or close")
        session.commit()
    except FleetError as e:
        return _error_page(request, session, township, e)
    return _back(f.site_id, township)


@router.post("/sites/{site_id}/stop")
def site_stop(request: Request, session: SessionDep, township: ScopeDep, site_id: int,
              reason: Annotated[str, Form()], name: Annotated[str, Form()]) -> Response:
    _site_in_scope(session, site_id, township)
    try:
        service.stop_supply(session, site_id=site_id, reason=reason, by=name)
        session.commit()
    except FleetError as e:
        return _error_page(request, session, township, e)
    return _back(site_id, township)


@router.post("/stops/{stop_id}/{action}")
def stop_action(request: Request, session: SessionDep, township: ScopeDep, stop_id: int, action: str,
                name: Annotated[str, Form()]) -> Response:
    from fleet.campaign.models import SupplyStop

    stop = session.get(SupplyStop, stop_id)
    if stop is None:
        raise HTTPException(status_code=404, detail=f"supply stop {stop_id} not found")
    _site_in_scope(session, stop.site_id, township)
    try:
        if action == "hazard-removed":
            service.hazard_removed(session, stop_id=stop_id, by=name, plan=load_plan())
        elif action == "restore":
            service.restore_supply(session, stop_id=stop_id, by=name)
        else:
            raise HTTPException(status_code=404, detail=f"no action {action!r}; hazard-removed or restore")
        session.commit()
    except FleetError as e:
        return _error_page(request, session, township, e)
    return _back(stop.site_id, township)


@router.get("/spot-check", response_class=HTMLResponse)
def spot_check_page(request: Request, session: SessionDep, township: ScopeDep,
                    seed: Annotated[str | None, Query(max_length=64)] = None,
                    as_of: Annotated[str | None, Query()] = None) -> HTMLResponse:
    """The city's spot-check draw: enter a seed, get the same sample every time."""
    from fleet.campaign.models import Inspection

    day = _as_of(as_of)
    plan = load_plan()
    sample: list[tuple[str, list[Site]]] = []
    checked: dict[int, str] = {}
    if seed:
        drawn = service.draw_spot_check(session, seed=seed, as_of=day, plan=plan, township=township)
        ids = [i for v in drawn.values() for i in v]
        sites = {s.id: s for s in session.scalars(select(Site).where(Site.id.in_(ids)))} if ids else {}
        sample = [(tw, [sites[i] for i in v]) for tw, v in drawn.items()]
        if ids:
            for sid, result in session.execute(select(Inspection.site_id, Inspection.result).where(
                    Inspection.site_id.in_(ids), Inspection.kind == "spot_check", Inspection.sample == seed)
                    .order_by(Inspection.id)):
                checked[sid] = result
    return render(request, session, "spotcheck.html", title_key="spot_check", active="spot_check", township=township,
                  keep={}, seed=seed, as_of=day, sample=sample, checked=checked,
                  rate=f"{plan.spot_check_rate:.0%}", minimum=plan.spot_check_minimum)
