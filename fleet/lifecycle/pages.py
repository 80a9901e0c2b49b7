"""Work-order pages, mounted by the fleet app as `fleet.lifecycle.pages.router` at `/workorders`:
the list (by state, scoped by township like the campaign pages) with assign / done / close
forms that post back and redirect. Shares the campaign pages' layout, language and scope rules."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from fleet.campaign.pages import ScopeDep, SessionDep, render
from fleet.core.errors import FleetError, http_status
from fleet.lifecycle import service
from fleet.lifecycle.models import WorkOrder, WorkOrderState
from fleet.store.models import Site

router = APIRouter(prefix="/workorders", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def workorders_page(request: Request, session: SessionDep, township: ScopeDep,
                    state: Annotated[str, Query()] = "open",
                    offset: Annotated[int, Query(ge=0)] = 0,
                    limit: Annotated[int, Query(ge=1, le=500)] = 200) -> HTMLResponse:
    if state not in {s.value for s in WorkOrderState}:
        raise HTTPException(status_code=400, detail=f"state {state!r}: expected one of "
                            + ", ".join(s.value for s in WorkOrderState))
    rows, count = service.list_work_orders(session, states=[state], township=township, offset=offset, limit=limit)
    ids = {w.site_id for w in rows if w.site_id}
    sites = {sid: f"{acct} {name}" for sid, acct, name in
             session.execute(select(Site.id, Site.account_no, Site.name).where(Site.id.in_(ids)))} if ids else {}
    return render(request, session, "workorders.html", title_key="workorders", active="workorders",
                  township=township, keep={"state": state}, rows=rows, count=count, state=state, sites=sites,
                  base="/workorders", scope_qs=("?" + urlencode({"township": township})) if township else "")


def _act(request: Request, session, township: str | None, wo_id: int, action: str, name: str) -> RedirectResponse:  # noqa: ANN001
    wo = session.get(WorkOrder, wo_id)
    if wo is None:
        raise HTTPException(status_code=404, detail=f"work order {wo_id} not found")
    if township and wo.site_id is not None:
        site_tw = session.scalar(select(Site.township).where(Site.id == wo.site_id))
        if site_tw != township:
            raise HTTPException(status_code=403, detail=f"work order {wo_id} is not in {township}")
    try:
        if action == "assign":
            service.assign(session, wo_id=wo_id, assignee=name, actor=name)
        elif action == "done":
            service.complete(session, wo_id=wo_id, by=name)
        else:
            service.close(session, wo_id=wo_id, by=name)
        session.commit()
    except FleetError as e:
        session.rollback()
        raise HTTPException(status_code=http_status(e), detail=e.message) from None
    back = {"state": wo.state}
    if township:
        back["township"] = township
    return RedirectResponse("/workorders?" + urlencode(back), status_code=303)


@router.post("/{wo_id}/assign")
def assign_form(request: Request, session: SessionDep, township: ScopeDep, wo_id: int,
                name: Annotated[str, Form()]) -> RedirectResponse:
    return _act(request, session, township, wo_id, "assign", name)


@router.post("/{wo_id}/done")
def done_form(request: Request, session: SessionDep, township: ScopeDep, wo_id: int,
              name: Annotated[str, Form()]) -> RedirectResponse:
    return _act(request, session, township, wo_id, "done", name)


@router.post("/{wo_id}/close")
def close_form(request: Request, session: SessionDep, township: ScopeDep, wo_id: int,
               name: Annotated[str, Form()]) -> RedirectResponse:
    return _act(request, session, township, wo_id, "close", name)
