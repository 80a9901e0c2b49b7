"""`python -m bench.fuzz`: fuzz the parsers that take bytes from the network, write a summary.

    python -m bench.fuzz --parser all --runs 1000000 --out fuzz-results
    python -m bench.fuzz --parser cbor,coap --runs 20000 --engine mutate
    python -m bench.fuzz --list

Writes OUT/summary.json and OUT/summary.md after each parser (a stopped run keeps what ran),
and crash inputs under OUT/. Exit status 1 when any parser crashed or hung. Run it niced on a
shared machine: it uses one core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench.fuzz.engine import RunResult, names, run_atheris, run_mutate
from bench.fuzz.targets import TARGETS


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def markdown(results: list[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [
        "# Fuzzing summary",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores (one used), Python {info['python']}; {info['when']}.",
        "",
        "| parser | engine | inputs | refused | accepted | known | crashes | hangs | time | inputs/s | slowest input | coverage |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        known = sum(r.get("known", {}).values())
        lines.append(
            f"| `{r['parser']}` | {r['engine']} | {r['inputs']:,} | {r['refused']:,} | {r['accepted']:,} | {known:,} | "
            f"{r['crashes']} | {r['hangs']} | {r['seconds']:.0f} s | {r['rate_per_s']:,.0f} | "
            f"{r['slowest_ms']:.1f} ms | {r['coverage'] if r['coverage'] is not None else '–'} |")
    for r in results:
        for what, n in r.get("known", {}).items():
            lines += ["", f"**{r['parser']}**: {n:,} inputs dropped by a known finding: {what}"]
        for f in r["findings"]:
            lines += ["", f"**{r['parser']}**: {f['kind']}: {f['message'][:300]}", f"input: `{f['input_hex'][:400]}`",
                      f"at: {f['where']}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("--parser", default="all", help="all, a name, or names separated by commas (see --list)")
    p.add_argument("--runs", type=int, default=1_000_000, help="inputs per parser (default 1,000,000)")
    p.add_argument("--engine", choices=("atheris", "mutate"), default=None,
                   help="atheris (coverage-guided; default when installed) or mutate (deterministic PRNG)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--time-limit", type=float, default=1.0, help="seconds one input may take before it is a hang")
    p.add_argument("--out", type=Path, default=Path("fuzz-results"))
    p.add_argument("--list", action="store_true", help="list the parsers and exit")
    a = p.parse_args(argv)
    if a.list:
        for t in TARGETS.values():
            print(f"{t.name:20} {t.what}")
        return 0
    engine = a.engine
    if engine is None:
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "mutate"
    selected = names(a.parser)
    a.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    summary_path = a.out / "summary.json"
    results: list[dict[str, Any]] = []
    if summary_path.exists():  # keep rows of other parsers from an earlier run into the same folder
        try:
            old = json.loads(summary_path.read_text())
            results = [r for r in old.get("results", []) if r["parser"] not in selected or r["engine"] != engine]
        except (ValueError, KeyError):
            results = []
    bad = 0
    for name in selected:
        print(f"{name}: {a.runs:,} inputs ({engine})...", file=sys.stderr, flush=True)
        if engine == "atheris":
            r: RunResult = run_atheris(TARGETS[name], a.runs, seed=a.seed, time_limit_s=a.time_limit,
                                       workdir=a.out / "atheris")
        else:
            r = run_mutate(TARGETS[name], a.runs, seed=a.seed, time_limit_s=a.time_limit, crash_dir=a.out / "crashes")
        bad += r.crashes + r.hangs
        print(f"  {r.inputs:,} inputs in {r.seconds:.0f} s ({r.rate:,.0f}/s): {r.crashes} crashes, "
              f"{r.hangs} hangs, slowest {r.slowest_ms:.1f} ms", file=sys.stderr, flush=True)
        for f in r.findings[:3]:
            print(f"  {f.kind}: {f.message[:200]} at {f.where}\n    input {f.input_hex[:200]}", file=sys.stderr)
        results = [x for x in results if not (x["parser"] == name and x["engine"] == engine)] + [r.to_dict()]
        summary_path.write_text(json.dumps({"machine": info, "results": results}, indent=1))
        (a.out / "summary.md").write_text(markdown(results, info))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
