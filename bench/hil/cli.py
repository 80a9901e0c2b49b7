"""`gasguard bench run`: the hardware-in-loop suite against a rig (mounted by bench/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def run(
    report: Annotated[Path, typer.Option("--report", help="write report.md, report.html, junit.xml, results.json here")],
    board: Annotated[str | None, typer.Option("--board", help="virtual rigs: the board definition (boards/defs) to "
                                              "boot; default: the rig file's board (sim)")] = None,
    rig: Annotated[str | None, typer.Option("--rig", help="rig file (bench/rigs/NAME.toml or a path); "
                                            "default: bench/rigs/sim.toml (the virtual board)")] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="run only these procedure tests (repeatable)")] = None,
    firmware: Annotated[Path | None, typer.Option("--firmware", help="virtual rigs: firmware source folder to "
                                                  "boot instead of this checkout's firmware/")] = None,
    parallel: Annotated[int, typer.Option("--parallel", help="virtual rigs: boards run at once (default: one "
                                          "per group of procedures, 4)")] = 4,
    port: Annotated[str | None, typer.Option("--port", help="real rigs: the board's serial port (overrides the rig file)")] = None,
) -> None:
    """Run the HIL procedures; exit 0 only when every procedure passes."""
    from bench.hil import runner

    if firmware is not None and not (firmware / "manifest.py").is_file():
        raise typer.BadParameter("%s has no manifest.py: give a copy of the firmware/ folder" % firmware,
                                 param_hint="--firmware")
    try:
        res = runner.run(rig or "sim", report, board=board, only=list(only) if only else None,
                         firmware_dir=firmware, parallel=parallel, port=port,
                         log=lambda m: typer.echo(m, err=True))
    except runner.RunError as e:
        typer.echo("error: %s" % e, err=True)
        raise typer.Exit(2) from None
    failed = [r for r in res["rows"] if not r["ok"]]
    typer.echo("%s: %d measurements, %d outside their limits; firmware %s on %s -> %s" % (
        "PASS" if res["passed"] else "FAIL", len(res["rows"]), len(failed), res["fw"], res["board"], report / "report.md"))
    for r in failed:
        typer.echo("  FAIL %s: %s %s (limit %s) %s" % (r["title"], r["value"], r["unit"], r["limit"], r["note"]))
    for p in res["problems"]:
        typer.echo("  problem: %s" % p)
    if not res["passed"]:
        raise typer.Exit(1)
