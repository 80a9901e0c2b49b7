"""`gasguard ledger template|import|export` and `gasguard report monthly|progress`.

Every command takes `--db URL` (default: the fleet's settings, `GASGUARD_DB` or the config file)
and brings that database up to the current schema first, so a new SQLite file just works."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fleet.core.errors import FleetError

ledger_app = typer.Typer(name="ledger", help="Township ledgers (台账) as Excel: template, import, export.",
                         no_args_is_help=True, add_completion=False)
report_app = typer.Typer(name="report", help="Campaign reports: the monthly report, progress and ranking.",
                         no_args_is_help=True, add_completion=False)

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbOpt = Annotated[str | None, typer.Option("--db", help="database URL or SQLite file (default: settings)")]
PlanOpt = Annotated[Path | None, typer.Option("--plan", help="campaign plan TOML (deadlines, prices)")]
TownshipOpt = Annotated[str | None, typer.Option("--township", "-t", help="one township (乡镇/街道)")]


def open_db(url: str | None):  # noqa: ANN201 - returns fleet.store.db.Database
    """The database at `url` (or the settings' one), migrated to the current schema."""
    from fleet.core.config import get_settings
    from fleet.store.db import Database
    from fleet.store.migrate import upgrade

    url = url or get_settings().db
    upgrade(url)
    return Database(url)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@ledger_app.command("template")
def ledger_template(out: Annotated[Path, typer.Argument(help="where to write the .xlsx template")]) -> None:
    """Write an empty ledger with the column names, drop-down lists and a sheet of instructions."""
    from fleet.campaign import ledger

    if out.suffix.lower() != ".xlsx":
        raise _fail(f"{out}: the template is an Excel file; name it .xlsx")
    ledger.save(ledger.template_workbook(), out)
    console.print(f"ledger template written to {out}")


@ledger_app.command("import")
def ledger_import(
    file: Annotated[Path, typer.Argument(help="the township's ledger (.xlsx)")],
    township: TownshipOpt = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="import the good rows even if some are rejected")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check only, write nothing")] = False,
    db: DbOpt = None,
) -> None:
    """Check every row; import all of them in one transaction, or nothing if any is rejected."""
    from fleet.campaign import ledger

    database = open_db(db)
    try:
        with database.session() as session, err.status(f"checking and importing {file.name} ..."):
            result = ledger.import_ledger(session, file, township=township, skip_bad=skip_bad, dry_run=dry_run)
    except FleetError as e:
        raise _fail(e.message) from None
    finally:
        database.dispose()
    for e in result.rejected:
        err.print(f"  {file.name}: {e}", highlight=False)
    if result.ignored_columns:
        err.print(f"  ignored column(s): {', '.join(result.ignored_columns)}", highlight=False)
    if result.rejected and not skip_bad:
        raise _fail(f"{len(result.rejected_rows)} of {result.rows} row(s) rejected; nothing imported. "
                    "Fix them and import again, or use --skip-bad to import the good rows.", 1)
    verb = "checked" if dry_run else "imported"
    console.print(f"{result.rows} row(s) {verb}: {result.created} new, {result.updated} updated, "
                  f"{result.unchanged} unchanged, {len(result.rejected_rows)} rejected")


@ledger_app.command("export")
def ledger_export(
    out: Annotated[Path, typer.Argument(help="where to write the .xlsx ledger")],
    township: TownshipOpt = None,
    category: Annotated[str | None, typer.Option(help="residential or non_residential")] = None,
    db: DbOpt = None,
) -> None:
    """Export the ledger with each site's must-have / has / missing items."""
    from fleet.campaign import ledger

    if category not in (None, "residential", "non_residential"):
        raise _fail(f"--category {category!r}: expected residential or non_residential")
    database = open_db(db)
    try:
        with database.session() as session, err.status("exporting the ledger ..."):
            wb = ledger.export_workbook(session, township=township, category=category)
        n = wb.active.max_row - 1
        wb.save(out)
    finally:
        database.dispose()
    console.print(f"{n} site(s) exported to {out}")


@report_app.command("monthly")
def report_monthly(
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    out: Annotated[Path, typer.Option("--out", help="FILE.xlsx or FILE.pdf")],
    township: TownshipOpt = None,
    plan: PlanOpt = None,
    db: DbOpt = None,
) -> None:
    """The monthly report for the city (one row per township) or one township (per community)."""
    from fleet.campaign import report
    from fleet.campaign.plan import load_plan
    from fleet.campaign.rules import RuleError

    if out.suffix.lower() not in (".xlsx", ".pdf"):
        raise _fail(f"--out {out}: choose a .xlsx or .pdf file name")
    try:
        the_plan = load_plan(plan)
    except RuleError as e:
        raise _fail(str(e)) from None
    database = open_db(db)
    try:
        with database.session() as session, err.status(f"building the {month} report ..."):
            rep = report.monthly_report(session, month=month, township=township, plan=the_plan)
            report.write(rep, out)
    except FleetError as e:
        raise _fail(e.message) from None
    finally:
        database.dispose()
    console.print(f"{rep.title}: {len(rep.rows)} row(s) written to {out}")


@report_app.command("progress")
def report_progress(
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD (default today)")] = None,
    township: TownshipOpt = None,
    plan: PlanOpt = None,
    db: DbOpt = None,
) -> None:
    """Progress per township (or per community of one) with the city's ranking."""
    from fleet.campaign import service
    from fleet.campaign.plan import load_plan

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise _fail(f"--as-of {as_of!r}: expected YYYY-MM-DD") from None
    the_plan = load_plan(plan)
    database = open_db(db)
    try:
        with database.session() as session:
            areas = service.rank(service.progress(session, as_of=day, township=township, plan=the_plan))
    finally:
        database.dispose()
    t = Table(title="progress" + (f": {township}" if township else ""))
    for h in ("rank", "area", "sites", "compliant", "completion", "spot pass", "open findings",
              *[s.key for s in the_plan.stages]):
        t.add_column(h)
    for p in areas:
        t.add_row(str(p.rank), p.area, str(p.sites), str(p.compliant), f"{p.completion_pct:.1f}%",
                  "-" if p.spot_pass_pct is None else f"{p.spot_pass_pct:.1f}%", str(p.open_findings),
                  *[f"{s.done}/{s.target} {s.status}" for s in p.stages])
    console.print(t)
