"""`gasguard bench run --board sim`: the whole HIL suite on virtual boards with the checkout's
firmware (what CI runs), and deliberately broken firmware variants that must make their
procedure fail: a confirmation window of 0 (the short-spike procedure) and a valve handler
that allocates (the fast-path procedure).

The runs spend their time waiting in real time (gas held, windows elapsing), not on the CPU,
so the module starts every run its selected tests need at once and each test waits for its
own: the module takes about as long as the full suite alone (about 3.5 min here)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# test name -> (the one procedure it runs, (firmware module, line, broken line)); None: the whole suite
RUNS: dict[str, tuple[str, tuple[str, str, str]] | None] = {
    "test_bench_run_sim__every_procedure_passes_with_a_report": None,
    "test_bench_run__confirmation_window_0_fails_the_short_spike": (
        "short_spike", ("app.py", "confirm_ms=int(s.confirm_s * 1000)", "confirm_ms=0")),
    "test_bench_run__allocating_handler_fails_the_fast_path": (
        "fast_path", ("valve.py", "s[_S_TICK] = self._ticks()", "s[_S_TICK] = [self._ticks()][0]")),
}


def _cmd(report: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "fleet.cli", "bench", "run", "--board", "sim", "--report", str(report), *args]


def broken_firmware(where: Path, module: str, old: str, new: str) -> Path:
    """A copy of firmware/ with one line changed; fails loudly if the line is not there."""
    dst = where / "firmware"
    shutil.copytree(REPO / "firmware", dst, ignore=shutil.ignore_patterns("__pycache__"))
    src = (dst / module).read_text()
    assert src.count(old) == 1, "firmware/%s no longer contains %r: update this test's patch" % (module, old)
    (dst / module).write_text(src.replace(old, new))
    return dst


class BenchRun:
    """One `gasguard bench run` in the background; result() waits for it."""

    def __init__(self, report: Path, *args: str) -> None:
        self.report = report
        self.log = report.with_name(report.name + ".log")
        self.proc = subprocess.Popen(_cmd(report, *args), cwd=REPO, stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT, text=True)

    def result(self, timeout: float = 900) -> tuple[int, str, dict[str, Any]]:
        """Exit status, everything it printed, and results.json ({} if none)."""
        rc = self.proc.wait(timeout)
        res = self.report / "results.json"
        return rc, self.log.read_text()[-4000:], json.loads(res.read_text()) if res.exists() else {}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # the runner's finally stops its boards
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def bench_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Every run the selected tests of this module need, started together."""
    wanted = [it.name for it in request.session.items
              if getattr(it, "module", None) is request.module and it.name in RUNS]
    runs: dict[str, BenchRun] = {}
    try:
        for name in wanted:
            where = tmp_path_factory.mktemp(name[len("test_bench_run"):].strip("_")[:30] or "run")
            spec = RUNS[name]
            args: list[str] = []
            if spec is not None:
                only, patch = spec
                args = ["--only", only, "--firmware", str(broken_firmware(where / "broken", *patch))]
            runs[name] = BenchRun(where / "report", *args)
        yield runs
    finally:
        for r in runs.values():
            r.stop()


def test_bench_run_sim__every_procedure_passes_with_a_report(bench_runs: dict[str, BenchRun]) -> None:
    run = bench_runs["test_bench_run_sim__every_procedure_passes_with_a_report"]
    rc, out, res = run.result()
    md = (run.report / "report.md").read_text()
    assert rc == 0, "bench run failed:\n%s\n%s" % (out, md)
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
    junit = (run.report / "junit.xml").read_text()
    assert junit.count("<testcase") == 10 and "<failure" not in junit
    assert (run.report / "report.html").exists()


def test_bench_run__confirmation_window_0_fails_the_short_spike(bench_runs: dict[str, BenchRun]) -> None:
    run = bench_runs["test_bench_run__confirmation_window_0_fails_the_short_spike"]
    rc, out, res = run.result()
    assert rc == 1, out
    row = next(r for r in res["rows"] if r["id"] == "short_spike")
    assert not row["ok"] and row["value"] >= 1  # the spike alarmed
    assert "FAIL" in (run.report / "report.md").read_text()


def test_bench_run__allocating_handler_fails_the_fast_path(bench_runs: dict[str, BenchRun]) -> None:
    run = bench_runs["test_bench_run__allocating_handler_fails_the_fast_path"]
    rc, out, res = run.result()
    assert rc == 1, out
    row = next(r for r in res["rows"] if r["id"] == "fast_path_alloc")
    assert not row["ok"] and row["value"] == 21  # every call raised MemoryError under heap_lock


def test_bench_run__bad_rig_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ndriver = "virtual"\nboard = "sim"\n[procedures]\nramp_rate = 3.0\n')
    proc = subprocess.run(_cmd(tmp_path / "r", "--rig", str(bad)), cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "procedures.ramp_rate = 3.0" in proc.stderr
