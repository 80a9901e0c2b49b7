"""`gasguard bench`: the benchmarks and rig tests. This module only mounts commands; each one's
code lives in its own package (bench/perf for `perf`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Benchmarks and hardware-in-loop rig tests.", no_args_is_help=True)

PERF_SCENARIOS = ("steady", "scale", "storm", "restart", "million", "soak", "ablation", "oscore")
DEFAULT_SCENARIOS = ("steady", "scale", "storm", "restart", "million", "soak")


@app.command()
def perf(
    json_path: Annotated[Path, typer.Option("--json", help="write the JSON report here")],
    md_path: Annotated[Path | None, typer.Option("--md", help="also write a Markdown report here")] = None,
    smoke: Annotated[bool, typer.Option("--smoke", help="a few seconds per scenario: checks the tooling, not figures")] = False,
    scenario: Annotated[list[str] | None, typer.Option("--scenario", "-s", help="run only these (repeatable): " + ", ".join(PERF_SCENARIOS) + "; default all but ablation")] = None,
    db: Annotated[str, typer.Option("--db", help="'sqlite' (a fresh file per scenario), 'postgresql' (the server of "
                                    "$GASGUARD_TEST_POSTGRES_URL or 127.0.0.1:5432) or a PostgreSQL URL; on PostgreSQL "
                                    "each scenario gets its own database gg_bench_<scenario>")] = "sqlite",
    profile: Annotated[bool, typer.Option("--profile", help="py-spy the fleet during the steady run")] = False,
    workdir: Annotated[Path | None, typer.Option("--workdir", help="keep databases, logs and raw generator output here")] = None,
    soak_seconds: Annotated[float, typer.Option("--soak-seconds", min=1, help="length of the soak (the goal says 600)")] = 600.0,
    soak_server: Annotated[str, typer.Option("--soak-server", help="soak the 'fleet' or the 'proposal'")] = "fleet",
) -> None:
    """Ingest throughput against a bare aiocoap baseline, alarm storm, restart, 1M devices, soak."""
    import os

    from bench.perf import runner

    if db == "postgresql":
        db = os.environ.get("GASGUARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    elif db != "sqlite" and not db.startswith(("postgresql", "postgres:")):
        raise typer.BadParameter("expected 'sqlite', 'postgresql' or a postgresql:// URL, got %r" % db, param_hint="--db")

    chosen = list(scenario) if scenario else list(DEFAULT_SCENARIOS)
    bad = [s for s in chosen if s not in PERF_SCENARIOS]
    if bad:
        raise typer.BadParameter("unknown scenario %s; choose from %s" % (", ".join(bad), ", ".join(PERF_SCENARIOS)), param_hint="--scenario")
    if soak_server not in ("fleet", "proposal"):
        raise typer.BadParameter("expected 'fleet' or 'proposal', got %r" % soak_server, param_hint="--soak-server")
    rep = runner.run(chosen, json_path, md_path, smoke, db=db, profile=profile, workdir=workdir,
                     log=lambda msg: typer.echo(msg, err=True), soak_seconds=soak_seconds, soak_server=soak_server)
    typer.echo("ingest %s msgs/s, baseline %s msgs/s, ratio %s, p99 at half rate %s ms -> %s" % (
        rep["ingest_msgs_per_s"], rep["baseline_msgs_per_s"], rep["ratio"], rep["p99_ack_ms"], json_path))
    failed = [n for n, r in rep["scenarios"].items() if "error" in r]
    if failed:
        typer.echo("failed scenario(s): %s (details in the report)" % ", ".join(failed), err=True)
        raise typer.Exit(1)


from bench.hil.cli import run as _hil_run  # noqa: E402  (the HIL suite's command, owned by bench/hil)

app.command("run")(_hil_run)


from bench.hil.cli import run as _hil_run  # noqa: E402  (the HIL suite's command, owned by bench/hil)

app.command("run")(_hil_run)
