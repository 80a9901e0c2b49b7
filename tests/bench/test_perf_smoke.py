"""`gasguard bench perf --smoke`: every scenario for a few seconds, so the benchmark cannot rot.

Asserts the report's structure and that messages were answered and stored; never a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.perf.scenarios import fleet_available

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("perf")
    scenarios = ["-s%s" % n for n in ("steady", "scale", "storm", "restart", "million", "soak", "ablation")]
    cmd = [sys.executable, "-m", "fleet.cli", "bench", "perf", "--smoke", *scenarios, "--json", str(d / "perf.json"),
           "--md", str(d / "perf.md"), "--workdir", str(d / "work")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rep = json.loads((d / "perf.json").read_text())
    rep["_md"] = (d / "perf.md").read_text()
    rep["_stdout"] = proc.stdout
    return rep


def test_smoke__headline_keys_and_machine(report: dict) -> None:
    for key in ("ingest_msgs_per_s", "baseline_msgs_per_s", "ratio", "p99_ack_ms", "machine", "method", "goals", "scenarios"):
        assert key in report, key
    m = report["machine"]
    assert m["cpu_model"] and m["cpus"] >= 1 and m["kernel"] and m["python"].startswith("CPython")
    assert m["packages"]["aiocoap"] and m["packages"]["cbor2"]
    assert len(m["load_average_at_start"]) == 3
    assert report["smoke"] is True
    assert set(report["scenarios"]) == {"steady", "scale", "storm", "restart", "million", "soak", "ablation"}
    assert all("error" not in r for r in report["scenarios"].values()), {n: r.get("error") for n, r in report["scenarios"].items()}
    assert "# gasguard performance report" in report["_md"] and "## Goals" in report["_md"]
    assert "baseline" in report["_stdout"]


def test_smoke__baseline_answered(report: dict) -> None:
    st = report["scenarios"]["steady"]
    base = st["baseline"]["main"]
    assert report["baseline_msgs_per_s"] > 0
    assert base["answered"] > 0 and base["codes"] == {"2.04": base["answered"]}
    assert base["server_cpu_us_per_msg"] > 0 and base["kernel_udp_drops"] >= 0
    assert st["baseline"]["register"]["registered"] == st["devices"]


def test_smoke__million_rows_loaded(report: dict) -> None:
    mil = report["scenarios"]["million"]
    assert mil["rows"]["devices"] == mil["devices"] > 0


@pytest.mark.skipif(fleet_available() is not None, reason="fleet not written yet: %s" % fleet_available())
def test_smoke__fleet_answered_and_stored(report: dict) -> None:
    st = report["scenarios"]["steady"]
    fleet = st["fleet"]["main"]
    assert report["ingest_msgs_per_s"] > 0 and report["ratio"] > 0 and report["p99_ack_ms"] is not None
    assert fleet["answered"] > 0 and fleet["codes"] == {"2.04": fleet["answered"]}
    assert st["store"]["every_ack_stored"] is True
    assert st["store"]["after_max_run"]["devices"] == st["devices"]

    aio = st["fleet_aiocoap"]["main"]  # the same fleet with coap_ingest = "aiocoap"
    assert aio["answered"] > 0 and aio["codes"] == {"2.04": aio["answered"]}
    assert st["aiocoap_path_store"]["every_ack_stored"] is True
    assert report["aiocoap_path_msgs_per_s"] > 0 and report["fast_over_aiocoap_path"] > 0

    scale = report["scenarios"]["scale"]  # gasguard serve --ingest-workers 0, then 1
    assert [r["processes"] for r in scale["runs"]] == [1, 2] and len(scale["runs"][1]["worker_pids"]) == 1
    assert all(r["msgs_per_s"] > 0 and r["every_ack_stored"] and r["lost"] == 0 for r in scale["runs"]), scale["runs"]
    assert scale["best"]["msgs_per_s"] == max(r["msgs_per_s"] for r in scale["runs"])

    storm = report["scenarios"]["storm"]
    assert storm["alarms_sent"] > 0 and storm["alarms_acknowledged"] == storm["alarms_sent"]
    assert storm["alarms_visible"] == storm["alarms_sent"], storm["watcher"]

    restart = report["scenarios"]["restart"]
    assert restart["events_acknowledged"] > 0
    assert restart["acknowledged_but_missing"] == 0, restart["missing_sample"]
    assert restart["readings_stored"] >= restart["heartbeats_acknowledged"] > 0
    assert restart["nothing_acknowledged_lost"] is True

    soak = report["scenarios"]["soak"]
    assert soak["generator"]["main"]["answered"] > 0 and soak["rss_mb_end"] is not None
    assert soak["kernel_udp_drops"] is not None

    ab = report["scenarios"]["ablation"]["variants"]
    assert len(ab) == 7 and all(v["msgs_per_s"] > 0 for v in ab), ab

    mil = report["scenarios"]["million"]
    assert set(mil["queries"]) == {"dashboard_overview", "alarms_now", "offline_devices", "calibration_due", "township_progress",
                                   "township_progress_one", "township_progress_page"}
    assert mil["progress_snapshot_refresh"]["communities"] > 0  # the snapshot was computed after the load
    timed = {n: q for n, q in mil["queries"].items() if "skipped" not in q}
    assert {"dashboard_overview", "alarms_now", "offline_devices"} <= set(timed)
    assert all(q["status"] == {"200": q["count"]} for q in timed.values()), mil["queries"]
    assert all("not written yet" in q["skipped"] or "does not serve" in q["skipped"] for n, q in mil["queries"].items() if n not in timed)


def _postgres_url() -> str | None:
    """The PostgreSQL server the suite uses, or None (skip; a failure when it is required)."""
    import os

    import sqlalchemy as sa

    url = os.environ.get("GASGUARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.exec_driver_sql("select 1")
        engine.dispose()
        return url
    except Exception as e:  # noqa: BLE001 - unreachable for any reason
        reason = "PostgreSQL not reachable at %s: %s" % (url, type(e).__name__)
        if os.environ.get("GASGUARD_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (GASGUARD_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    return None


@pytest.mark.postgres
@pytest.mark.skipif(fleet_available() is not None, reason="fleet not written yet")
def test_smoke__postgresql_steady_and_restart_store_everything(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = _postgres_url()
    cmd = [sys.executable, "-m", "fleet.cli", "bench", "perf", "--smoke", "-s", "steady", "-s", "restart",
           "--db", str(url), "--json", str(tmp_path / "pg.json")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rep = json.loads((tmp_path / "pg.json").read_text())
    assert rep["database"].startswith("127.0.0.1") or "postgres" not in rep["database"]  # no password in the report
    st = rep["scenarios"]["steady"]
    assert st["fleet"]["main"]["answered"] > 0 and st["store"]["every_ack_stored"] is True
    assert st["aiocoap_path_store"]["every_ack_stored"] is True
    restart = rep["scenarios"]["restart"]
    assert restart["events_acknowledged"] > 0 and restart["acknowledged_but_missing"] == 0
    # The run's own databases are gone afterwards.
    assert len(rep["postgres_databases"]) == 3  # steady, steady-aiocoap, restart
    engine = sa.create_engine(str(url))
    with engine.connect() as conn:
        left = set(conn.exec_driver_sql("SELECT datname FROM pg_database").scalars())
    engine.dispose()
    assert not left & set(rep["postgres_databases"])
