"""Runs the HIL suite against a rig and writes the report.

Virtual rig: builds the factory vfs image of the firmware under test (boards.image, the compiled
app as flashed), starts one virtual board per group of procedures (GROUPS)
with the sim launcher (boards.sim.board.VirtualBoard), and runs one pytest session per board in
parallel: pytest-embedded's serial DUT on the board's pty, the rig over the control socket.
Real rig: one session on the rig file's serial port, procedures one after the other.

Every session writes JUnit XML and its measurements; the report merges them
(bench/hil/report.py). The run passes only if every session passed and every measured value is
within its limit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench.hil import report, rigfile

REPO = Path(__file__).resolve().parents[2]
SUITE = Path(__file__).resolve().parent

# Procedure tests grouped so that no group outlasts the longest single procedure on the virtual
# board; one virtual board per group. Measured here (2 shared cores, CI rig): loss_and_fleet_restart
# 160-181 s (delivery under 30 % loss follows the RFC 7252 retransmission timing, so it varies
# from run to run), slow_ramp ~128 s with the CI ramp, interference ~55 s, alarm_response ~52 s,
# short_spike ~28 s, power_loss ~25 s, events_survive_reboot ~23 s, warmup_alarm ~18 s,
# fast_path and sensor_faults ~5 s each.
GROUPS: tuple[tuple[str, ...], ...] = (
    ("loss_and_fleet_restart",),
    ("slow_ramp", "fast_path", "sensor_faults"),
    ("alarm_response", "interference"),
    ("short_spike", "warmup_alarm", "power_loss", "events_survive_reboot"),
)
ALL = tuple(t for g in GROUPS for t in g)


class RunError(RuntimeError):
    """The run could not start (bad rig file, firmware that does not build, no board)."""


def firmware_image(board: str, firmware_dir: Path | None, workdir: Path) -> Path:
    """The vfs image of the firmware under test: a copy of firmware/ (firmware_dir if given,
    e.g. a deliberately broken variant) and protocol/, compiled as the factory image does."""
    from boards.image import ImageError, build_vfs_image

    src = workdir / "src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(firmware_dir or REPO / "firmware", src / "firmware",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "protocol", src / "protocol", ignore=shutil.ignore_patterns("__pycache__", "vectors"))
    try:
        data = build_vfs_image(board, manifest=src / "firmware" / "manifest.py")
    except ImageError as e:
        raise RunError("firmware image: %s" % e) from None
    img = workdir / "firmware-vfs.img"
    img.write_bytes(data)
    return img


def _git_describe(path: Path) -> str:
    try:
        p = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                           capture_output=True, text=True, timeout=10)
        return p.stdout.strip()
    except OSError:
        return ""


def _pytest_cmd(rig_file: str, port: str, target: str, only: list[str], out: Path, junit: Path,
                logdir: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", str(SUITE), "-o", "addopts=", "-p", "pytest_embedded",
            "-p", "no:cacheprovider", "--rootdir", str(REPO), "-o", "junit_family=xunit1",
            "--embedded-services", "serial", "--port", port, "--root-logdir", str(logdir),
            "--hil-rig", rig_file, "--hil-target", target, "--hil-only", ",".join(only),
            "--hil-out", str(out), "--junitxml", str(junit), "-q", "-rA", *extra]


def run(rig_name: str, report_dir: Path, *, board: str | None = None, only: list[str] | None = None,
        firmware_dir: Path | None = None, parallel: int = len(GROUPS), port: str | None = None,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the suite; returns the merged results (also written under report_dir)."""
    try:
        rig = rigfile.load_rig(rig_name)
    except rigfile.RigError as e:
        raise RunError(str(e)) from None
    chosen = list(only) if only else list(ALL)
    bad = [c for c in chosen if c not in ALL]
    if bad:
        raise RunError("unknown procedure(s) %s; known: %s" % (", ".join(bad), ", ".join(ALL)))
    report_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gasguard-hil-"))
    started = time.monotonic()
    sessions: list[dict[str, Any]] = []
    boards: list[Any] = []
    env = dict(os.environ)
    env["GASGUARD_SIM_DIR"] = str(work / "registry")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    try:
        if rig["driver"] == "virtual":
            from boards.sim.board import SimError, VirtualBoard

            board_name = board or rig["board"]
            heap = rig.get("virtual", {}).get("heapsize")  # default: the launcher's (GASGUARD_SIM_HEAPSIZE)
            log("hil: building the firmware image for %s%s" % (board_name, " from %s" % firmware_dir if firmware_dir else ""))
            img = firmware_image(board_name, firmware_dir, work)
            groups = [[t for t in g if t in chosen] for g in GROUPS]
            groups = [g for g in groups if g]
            if parallel < len(groups):  # fold groups onto fewer boards
                folded: list[list[str]] = [[] for _ in range(max(1, parallel))]
                for i, g in enumerate(groups):
                    folded[i % len(folded)].extend(g)
                groups = folded
            os.environ["GASGUARD_SIM_DIR"] = env["GASGUARD_SIM_DIR"]
            for i, g in enumerate(groups):
                wd = work / ("board%d" % i)
                wd.mkdir()
                try:
                    kw = {"heapsize": str(heap)} if heap else {}
                    vb = VirtualBoard(board_name, image=img, name="hil%d-%s" % (i, os.getpid()), workdir=wd, **kw)
                    vb.start()
                except SimError as e:
                    raise RunError("virtual board: %s" % e) from None
                boards.append(vb)
                sessions.append({"group": g, "port": vb.port, "target": vb.name})
        else:
            sessions.append({"group": chosen, "port": port or rig["port"], "target": ""})
        procs = []
        for i, s in enumerate(sessions):
            s["out"] = work / ("results%d.json" % i)
            s["junit"] = work / ("junit%d.xml" % i)
            s["logdir"] = work / ("logs%d" % i)
            cmd = _pytest_cmd(rig["path"], s["port"], s["target"], s["group"], s["out"], s["junit"], s["logdir"], [])
            log("hil: session %d on %s: %s" % (i, s["port"], ", ".join(s["group"])))
            s["stdout"] = work / ("pytest%d.txt" % i)
            procs.append(subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=s["stdout"].open("w"),
                                          stderr=subprocess.STDOUT))
        for s, p in zip(sessions, procs):
            s["rc"] = p.wait()
            log("hil: session on %s finished (exit %d)" % (s["port"], s["rc"]))
    finally:
        for vb in boards:
            vb.stop()
    results = report.merge(sessions, rig, firmware=str(firmware_dir) if firmware_dir else "firmware/ @ " + _git_describe(REPO),
                           wall_s=time.monotonic() - started, expected=chosen)
    report.write(results, report_dir, sessions)
    shutil.rmtree(work, ignore_errors=True)
    return results
