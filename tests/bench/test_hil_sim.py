"""`gasguard bench run --board sim`: the whole HIL suite on virtual boards with the checkout's
firmware (what CI runs), and deliberately broken firmware variants that must make their
procedure fail: a confirmation window of 0 (the short-spike procedure) and a valve handler
that allocates (the fast-path procedure). Real time: a few minutes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def bench_run(report: Path, *args: str, timeout: float = 900) -> tuple[subprocess.CompletedProcess[str], dict]:
    cmd = [sys.executable, "-m", "fleet.cli", "bench", "run", "--board", "sim", "--report", str(report), *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    res = json.loads((report / "results.json").read_text()) if (report / "results.json").exists() else {}
    return proc, res


def broken_firmware(tmp_path: Path, module: str, old: str, new: str) -> Path:
    """A copy of firmware/ with one line changed; fails loudly if the line is not there."""
    dst = tmp_path / "broken" / "firmware"
    shutil.copytree(REPO / "firmware", dst, ignore=shutil.ignore_patterns("__pycache__"))
    src = (dst / module).read_text()
    assert src.count(old) == 1, "firmware/%s no longer contains %r: update this test's patch" % (module, old)
    (dst / module).write_text(src.replace(old, new))
    return dst


def test_bench_run_sim__every_procedure_passes_with_a_report(tmp_path: Path) -> None:
    proc, res = bench_run(tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert proc.returncode == 0, "bench run failed:\n%s\n%s\n%s" % (proc.stdout, proc.stderr[-3000:], md)
    assert res["passed"] and res["board"] == "sim" and res["fw"]
    ids = {r["id"] for r in res["rows"]}
    for pid in ("alarm_1_6x", "short_spike", "warmup_alarm", "slow_ramp", "interference_alcohol",
                "interference_cooking", "recovery", "fault_open", "fault_short", "valve_latched",
                "decision_to_drive", "fast_path_alloc", "fast_path_time", "power_loss", "events_reboot",
                "loss_restart"):
        assert pid in ids, pid
    alarm = next(r for r in res["rows"] if r["id"] == "alarm_1_6x")
    assert 15 <= alarm["value"] <= 30  # never before the 15 s window, always within 30 s
    ramp = next(r for r in res["rows"] if r["id"] == "slow_ramp")
    assert abs(ramp["value"] - 25) <= 3
    assert "PASS" in md and "narrow range" in md and res["fw"] in md
    junit = (tmp_path / "report" / "junit.xml").read_text()
    assert junit.count("<testcase") == 10 and "<failure" not in junit
    assert (tmp_path / "report" / "report.html").exists()


def test_bench_run__confirmation_window_0_fails_the_short_spike(tmp_path: Path) -> None:
    fw = broken_firmware(tmp_path, "app.py", "confirm_ms=int(s.confirm_s * 1000)", "confirm_ms=0")
    proc, res = bench_run(tmp_path / "report", "--only", "short_spike", "--firmware", str(fw))
    assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
    row = next(r for r in res["rows"] if r["id"] == "short_spike")
    assert not row["ok"] and row["value"] >= 1  # the spike alarmed
    assert "FAIL" in (tmp_path / "report" / "report.md").read_text()


def test_bench_run__allocating_handler_fails_the_fast_path(tmp_path: Path) -> None:
    fw = broken_firmware(tmp_path, "valve.py", "s[_S_TICK] = self._ticks()", "s[_S_TICK] = [self._ticks()][0]")
    proc, res = bench_run(tmp_path / "report", "--only", "fast_path", "--firmware", str(fw))
    assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
    row = next(r for r in res["rows"] if r["id"] == "fast_path_alloc")
    assert not row["ok"] and row["value"] == 21  # every call raised MemoryError under heap_lock


def test_bench_run__bad_rig_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ndriver = "virtual"\nboard = "sim"\n[procedures]\nramp_rate = 3.0\n')
    proc = subprocess.run([sys.executable, "-m", "fleet.cli", "bench", "run", "--rig", str(bad), "--report",
                           str(tmp_path / "r")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "procedures.ramp_rate = 3.0" in proc.stderr
