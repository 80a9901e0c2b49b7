"""Dashboard pages: the overview (alarms now, devices online and offline) and a device page
(health, timeline, readings chart), with an acknowledge form that posts back and redirects."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlalchemy.orm import lazyload

from fleet.api.deps import FleetDep, SessionDep
from fleet.coap.oscore_models import oscore_refusals, oscore_since
from fleet.core.errors import FleetError, http_status
from fleet.services import alarms, devices
from fleet.store.models import Alarm, Device, Site
from fleet.web.chart import lel_chart
from fleet.web.i18n import pick_lang, translator

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


def _ctx(request: Request, lang_q: str | None) -> dict[str, Any]:
    settings = request.app.state.fleet.settings
    lang = pick_lang(lang_q or request.cookies.get("lang"), settings.lang)
    try:
        tz = ZoneInfo(settings.display_tz)
    except (ZoneInfoNotFoundError, ValueError):
        tz = timezone.utc

    def fmt(t: datetime | None) -> str:
        return t.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if t else "—"

    other = "en" if lang == "zh" else "zh"
    query = {k: v for k, v in request.query_params.items() if k not in ("ack", "resolve")}
    switch = request.url.path + "?" + urlencode({**query, "lang": other})
    return {"request": request, "lang": lang, "t": translator(lang), "fmt": fmt, "switch_url": switch}


def _render(name: str, ctx: dict[str, Any], lang_q: str | None, status: int = 200) -> HTMLResponse:
    resp = templates.TemplateResponse(ctx["request"], name, ctx, status_code=status)
    if lang_q in ("zh", "en"):
        resp.set_cookie("lang", lang_q, max_age=365 * 86400, samesite="lax")
    return resp


LangQ = Annotated[str | None, Query(alias="lang")]

# The overview's rows come with their site already; a device's own joined product model and
# site are not shown there, and joining them for 1,000 alarms and 400 devices cost about 40 %
# of the page's queries at a million devices. Loaded on access, should a template ever use them.
_LISTED = (lazyload(Device.product_model), lazyload(Device.site))


# The overview lists the first OVERVIEW_ALARMS active alarms (open before acknowledged, newest
# first) with the total; `?alarms=N` shows more, up to ALARMS_MAX. Listing all 1,000 open alarms
# of a million-device city with their device and site cost most of the page (docs/performance.md).
OVERVIEW_ALARMS = 50
ALARMS_MAX = 1000
ALARMS_API = "/api/v1/alarms?active=true"


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, session: SessionDep, lang: LangQ = None,
             alarms_n: Annotated[int, Query(alias="alarms", ge=1, le=ALARMS_MAX)] = OVERVIEW_ALARMS) -> HTMLResponse:
    ctx = _ctx(request, lang)
    # Index reads: the count from ix_alarms_state_opened_at, the rows by walking that index in
    # (state, opened_at) descending order, each alarm's device and site by their unique keys.
    active_count = session.scalar(select(func.count()).select_from(Alarm).where(Alarm.state.in_(alarms.ACTIVE))) or 0
    active = session.execute(
        select(Alarm, Device, Site)
        .join(Device, Device.device_id == Alarm.device_id)
        .outerjoin(Site, Site.id == Device.site_id)
        .where(Alarm.state.in_(alarms.ACTIVE))
        .order_by(Alarm.state.desc(), Alarm.opened_at.desc()).limit(alarms_n).options(*_LISTED)
    ).all()
    # Two index counts rather than a GROUP BY over every device (online is NOT NULL): the
    # offline ones are a few per cent, and SQLite counts a whole table from its smallest index.
    total = session.scalar(select(func.count()).select_from(Device)) or 0
    offline_n = session.scalar(select(func.count()).select_from(Device).where(Device.online.is_(False))) or 0
    counts = {True: total - offline_n, False: offline_n}
    offline = session.execute(
        select(Device, Site).outerjoin(Site, Site.id == Device.site_id).where(Device.online.is_(False))
        .order_by(Device.last_offline_at.desc()).limit(200).options(*_LISTED)
    ).all()
    online = session.execute(
        select(Device, Site).outerjoin(Site, Site.id == Device.site_id).where(Device.online.is_(True))
        .order_by(Device.device_id).limit(200).options(*_LISTED)
    ).all()
    more_n = min(active_count, ALARMS_MAX)
    more = (request.url.path + "?" + urlencode({"alarms": more_n})) if len(active) < more_n else None
    ctx.update(active=active, active_count=active_count, more_alarms_href=more, more_alarms_n=more_n,
               alarms_api=ALARMS_API, online_count=counts[True], offline_count=counts[False], offline=offline,
               online=online, refresh_s=15)
    return _render("index.html", ctx, lang)


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def device_page(request: Request, session: SessionDep, device_id: str, lang: LangQ = None) -> HTMLResponse:
    ctx = _ctx(request, lang)
    try:
        device = devices.get(session, device_id)
    except FleetError as e:
        ctx.update(message=str(e))
        return _render("error.html", ctx, lang, status=http_status(e))
    events, _ = devices.list_events(session, device_id=device_id, kind=None, origin=None, since=None, until=None,
                                    offset=0, limit=100)
    readings = devices.readings(session, device_id=device_id, since=None, until=None, limit=500)
    h = device.health or {}
    thresholds = [(float(h[k]), k) for k in ("sp_low", "sp_high") if isinstance(h.get(k), int | float) and h[k] > 0]
    chart = lel_chart([(r.at, r.lel) for r in readings if r.lel is not None], thresholds=thresholds,
                      label=ctx["t"]("readings")) if readings else None
    active = alarms.active_for(session, device_id)
    ctx.update(device=device, events=events, chart=chart, active=active,
               gaps=devices.gaps(session, device_id=device_id, open_only=False),
               refusals=oscore_refusals(session, device_id), oscore_since=oscore_since(session, device_id))
    return _render("device.html", ctx, lang)


async def _alarm_action(fleet: Any, action: str, alarm_id: int, by: str, next_url: str) -> RedirectResponse:
    fn = alarms.acknowledge if action == "ack" else alarms.resolve

    def change() -> str:  # in the fleet's database thread (see fleet/api/deps.py StoreWriter)
        with fleet.db.session() as session:
            try:
                fn(session, alarm_id=alarm_id, by=by)
                session.commit()
                return "ok"
            except FleetError as e:
                return e.reason

    outcome = await fleet.writer.run(change)
    target = next_url if next_url.startswith("/") and not next_url.startswith("//") else "/"
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}{action}={outcome}", status_code=303)


@router.post("/alarms/{alarm_id}/ack")
async def acknowledge(fleet: FleetDep, alarm_id: int, by: Annotated[str, Form()] = "",
                      next: Annotated[str, Form()] = "/") -> RedirectResponse:
    """The dashboard's acknowledge button (a plain form post, then back to the page)."""
    return await _alarm_action(fleet, "ack", alarm_id, by, next)


@router.post("/alarms/{alarm_id}/resolve")
async def resolve(fleet: FleetDep, alarm_id: int, by: Annotated[str, Form()] = "",
                  next: Annotated[str, Form()] = "/") -> RedirectResponse:
    """The dashboard's resolve button for an acknowledged alarm (site checked, valve reopened)."""
    return await _alarm_action(fleet, "resolve", alarm_id, by, next)
