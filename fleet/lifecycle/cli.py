"""`gasguard workorders list|raise|assign|done|close|calibrate`.

Every command takes `--db URL` (default: the fleet's settings) and migrates it first. `raise`
applies the lifecycle rules as of a day (default: today), which is what a nightly job runs."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fleet.core.errors import FleetError

app = typer.Typer(name="workorders", help="Work orders: calibration due, end of life, offline and faulty devices.",
                  no_args_is_help=True, add_completion=False)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbOpt = Annotated[str | None, typer.Option("--db", help="database URL or SQLite file (default: settings)")]


def _open(db: str | None):  # noqa: ANN202 - fleet.store.db.Database
    from fleet.campaign.cli import open_db

    return open_db(db)


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _fail(f"{option} {text!r}: expected YYYY-MM-DD") from None


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@app.command("list")
def list_cmd(
    state: Annotated[list[str] | None, typer.Option("--state", help="open, assigned, done, closed, cancelled "
                                                    "(repeatable; default open and assigned)")] = None,
    kind: Annotated[str | None, typer.Option(help="calibration_due, sensor_eol, valve_eol, hose_eol, "
                                             "device_offline, device_fault")] = None,
    township: Annotated[str | None, typer.Option("--township", "-t")] = None,
    due_before: Annotated[str | None, typer.Option("--due-before", help="YYYY-MM-DD")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 200,
    db: DbOpt = None,
) -> None:
    """List work orders, soonest due first."""
    from fleet.lifecycle import service

    database = _open(db)
    try:
        with database.session() as s:
            rows, count = service.list_work_orders(s, states=state or ["open", "assigned"], kind=kind,
                                                   township=township, due_before=_day(due_before, "--due-before"),
                                                   limit=limit)
    except FleetError as e:
        raise _fail(e.message) from None
    finally:
        database.dispose()
    if as_json:
        for w in rows:
            typer.echo(json.dumps({"id": w.id, "kind": w.kind, "state": w.state, "site_id": w.site_id,
                                   "asset_id": w.asset_id, "device_id": w.device_id,
                                   "due_on": w.due_on.isoformat() if w.due_on else None, "payer": w.payer,
                                   "assignee": w.assignee}, ensure_ascii=False))
        return
    t = Table(title=f"work orders ({len(rows)} of {count})")
    for h in ("id", "kind", "state", "due", "site", "asset / device", "payer", "assignee"):
        t.add_column(h)
    for w in rows:
        t.add_row(str(w.id), w.kind, w.state, str(w.due_on or ""), str(w.site_id or ""),
                  w.device_id or str(w.asset_id or ""), w.payer, w.assignee or "")
    console.print(t)


@app.command("raise")
def raise_cmd(
    on: Annotated[str | None, typer.Option("--on", help="apply the rules as of YYYY-MM-DD (default today)")] = None,
    plan: Annotated[Path | None, typer.Option("--plan", help="plan TOML with a [lifecycle] table (lead times)")] = None,
    db: DbOpt = None,
) -> None:
    """Raise the work orders that have fallen due (idempotent; run it daily)."""
    from fleet.campaign.plan import load_plan
    from fleet.campaign.rules import RuleError
    from fleet.lifecycle import service

    try:
        policy = load_plan(plan).lifecycle
    except RuleError as e:
        raise _fail(str(e)) from None
    database = _open(db)
    try:
        with database.session() as s:
            made = service.raise_work_orders(s, on=_day(on, "--on"), policy=policy)
            s.commit()
            summary: dict[str, int] = {}
            for w in made:
                summary[w.kind] = summary.get(w.kind, 0) + 1
    finally:
        database.dispose()
    console.print(f"{len(made)} work order(s) raised" + (": " + ", ".join(f"{k} {n}" for k, n in sorted(summary.items()))
                                                          if summary else ""))


def _transition(action: str, wo_id: int, db: str | None, **kwargs: str) -> None:
    from fleet.lifecycle import service

    database = _open(db)
    try:
        with database.session() as s:
            wo = getattr(service, action)(s, wo_id=wo_id, **kwargs)
            s.commit()
            console.print(f"work order {wo.id}: {wo.state}")
    except FleetError as e:
        raise _fail(e.message) from None
    finally:
        database.dispose()


@app.command("assign")
def assign_cmd(wo_id: int, to: Annotated[str, typer.Option("--to", help="who does the work")],
               actor: Annotated[str, typer.Option(help="who assigns")] = "operator", db: DbOpt = None) -> None:
    """Assign a work order to someone."""
    _transition("assign", wo_id, db, assignee=to, actor=actor)


@app.command("done")
def done_cmd(wo_id: int, by: Annotated[str, typer.Option("--by")],
             note: Annotated[str | None, typer.Option()] = None, db: DbOpt = None) -> None:
    """Mark a work order done."""
    kwargs = {"by": by} | ({"note": note} if note else {})
    _transition("complete", wo_id, db, **kwargs)


@app.command("close")
def close_cmd(wo_id: int, by: Annotated[str, typer.Option("--by")], db: DbOpt = None) -> None:
    """Close a done work order after checking it."""
    _transition("close", wo_id, db, by=by)


@app.command("calibrate")
def calibrate_cmd(
    asset_id: int,
    by: Annotated[str, typer.Option("--by", help="who calibrated (lab or person)")],
    result: Annotated[str, typer.Option("--result", help="pass or fail")],
    on: Annotated[str | None, typer.Option("--on", help="YYYY-MM-DD (default today)")] = None,
    cert: Annotated[str | None, typer.Option("--cert", help="certificate number (required for a pass)")] = None,
    db: DbOpt = None,
) -> None:
    """Record a calibration; a pass resets the detector's calibration clock."""
    from fleet.lifecycle import service

    database = _open(db)
    try:
        with database.session() as s:
            day = _day(on, "--on") or service.today()
            rec = service.record_calibration(s, asset_id=asset_id, calibrated_on=day, by=by, result=result,
                                             certificate_no=cert)
            s.commit()
            console.print(f"calibration {rec.id} recorded for asset {asset_id}: {result}")
    except FleetError as e:
        raise _fail(e.message) from None
    finally:
        database.dispose()
