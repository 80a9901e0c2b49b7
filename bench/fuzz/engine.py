"""Running inputs into a target and keeping score: two engines, one result shape.

- `mutate`: in-process, deterministic (bench/fuzz/mutator.py's PRNG over the seed corpus), no
  coverage feedback. It keeps going after a crash and counts every one; the CI tests use it.
- `atheris`: coverage-guided (libFuzzer through atheris, PyPI), in a child process per target:
  `python -m bench.fuzz.atheris_child`. libFuzzer stops at the first crash or hang and leaves
  the input in the artifacts folder; its own `-timeout` is the per-input limit.

A hang: the `mutate` engine arms a CPU-time timer around each input (ITIMER_VIRTUAL; its
SIGVTALRM raises `Hang`, a BaseException so no parser's `except Exception` swallows it) and
also counts any input whose CPU time passed the limit. CPU time, not wall time: on a shared,
niced machine a process can wait longer than any parser runs. libFuzzer's `-timeout` is wall
time, so the atheris engine gets a wider limit (`ATHERIS_TIMEOUT_S`). Both engines record the
slowest input (CPU time).
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.fuzz.mutator import Rng, mutate
from bench.fuzz.targets import KNOWN, TARGETS, KnownDrop, Target


class Hang(BaseException):
    """Raised by the per-input timer: the input ran past the time limit."""


@dataclass
class Crash:
    """One input that broke the rule: what came out, the input (hex) and where it was raised."""

    kind: str  # exception type name, "Hang", or "Finding"
    message: str
    input_hex: str
    where: str = ""


@dataclass
class RunResult:
    """The score of one target's run."""

    parser: str
    what: str
    engine: str
    inputs: int = 0
    refused: int = 0  # raised a documented error: the expected outcome for most inputs
    # (inputs + crashes + hangs aside: refused + accepted + sum(known) == inputs)
    accepted: int = 0
    crashes: int = 0
    hangs: int = 0
    seconds: float = 0.0
    slowest_ms: float = 0.0
    seed: int = 1
    time_limit_s: float = 1.0
    coverage: int | None = None  # libFuzzer's cov: figure (atheris only)
    corpus: int | None = None
    findings: list[Crash] = field(default_factory=list)
    known: dict[str, int] = field(default_factory=dict)  # inputs dropped by a known finding (targets.KNOWN)
    note: str = ""

    @property
    def rate(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rate_per_s"] = round(self.rate, 1)
        return d


def _where(tb: Any) -> str:
    frames = traceback.extract_tb(tb)
    if not frames:
        return ""
    f = frames[-1]
    return f"{os.path.relpath(f.filename)}:{f.lineno} in {f.name}"


def _on_alarm(signum: int, frame: Any) -> None:
    raise Hang()


def run_mutate(target: Target, runs: int, *, seed: int = 1, time_limit_s: float = 1.0,
               keep: int = 10, crash_dir: Path | None = None) -> RunResult:
    """Feed `runs` inputs (the seeds, then mutations of them) to target; never raises."""
    target.load()
    assert target.call is not None
    call, allowed, seeds = target.call, target.allowed, target.seeds
    res = RunResult(target.name, target.what, "mutate", seed=seed, time_limit_s=time_limit_s)
    rng = Rng(seed)
    KNOWN.clear()
    use_timer = hasattr(signal, "setitimer")
    old = signal.signal(signal.SIGVTALRM, _on_alarm) if use_timer else None
    limit = float(time_limit_s)
    start = time.perf_counter()
    try:
        for i in range(runs):
            data = seeds[i] if i < len(seeds) else mutate(rng, seeds[rng.below(len(seeds))], seeds)
            t0 = time.process_time()
            failed: tuple[str, str, Any] | None = None
            try:
                if use_timer:
                    signal.setitimer(signal.ITIMER_VIRTUAL, limit)
                try:
                    call(data)
                finally:
                    if use_timer:
                        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
                res.accepted += 1
            except KnownDrop:
                pass  # counted by the target in KNOWN
            except allowed:
                res.refused += 1
            except Hang:
                failed = ("Hang", f"ran past {limit} s", None)
            except RecursionError as e:
                failed = ("RecursionError", str(e)[:200], e.__traceback__)
            except Exception as e:  # noqa: BLE001 - every other exception is a finding
                failed = (type(e).__name__, str(e)[:300], e.__traceback__)
            dt = time.process_time() - t0
            res.slowest_ms = max(res.slowest_ms, dt * 1000.0)
            if failed is None and dt > limit:
                failed = ("Hang", f"took {dt:.2f} s (limit {limit} s)", None)
            if failed is not None:
                if failed[0] == "Hang":
                    res.hangs += 1
                else:
                    res.crashes += 1
                if len(res.findings) < keep:
                    res.findings.append(Crash(failed[0], failed[1], data.hex(), _where(failed[2])))
                if crash_dir is not None:
                    crash_dir.mkdir(parents=True, exist_ok=True)
                    name = f"{target.name}-{failed[0]}-{hashlib.sha1(data).hexdigest()[:12]}.bin"
                    (crash_dir / name).write_bytes(data)
            res.inputs += 1
    finally:
        if use_timer:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            signal.signal(signal.SIGVTALRM, old)
    res.seconds = time.perf_counter() - start
    res.known = dict(KNOWN)
    return res


ATHERIS_TIMEOUT_S = 10  # libFuzzer's per-input limit is wall time: leave room for a busy machine

_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_COV = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: \d+ corp: (\d+)")


def run_atheris(target: Target, runs: int, *, seed: int = 1, time_limit_s: float = 1.0,
                workdir: Path | None = None, max_len: int = 1024) -> RunResult:
    """Run target under libFuzzer (atheris) in a child process; parse what it reports."""
    res = RunResult(target.name, target.what, "atheris", seed=seed, time_limit_s=time_limit_s)
    work = Path(workdir or tempfile.mkdtemp(prefix="gg-fuzz-"))
    corpus = work / "corpus" / target.name
    artifacts = work / "artifacts" / target.name
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    stats = work / f"{target.name}.stats.json"
    cmd = [sys.executable, "-m", "bench.fuzz.atheris_child", target.name, str(stats),
           f"-runs={runs}", f"-seed={seed}", f"-timeout={max(ATHERIS_TIMEOUT_S, int(round(time_limit_s)))}",
           "-rss_limit_mb=2048", f"-max_len={max_len}", f"-artifact_prefix={artifacts}/",
           "-print_final_stats=1", str(corpus)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    res.seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    (work / f"{target.name}.log").write_text(log)
    done = _DONE.search(log)
    cov = _COV.findall(log)
    if cov:
        res.coverage = int(cov[-1][1])
        res.corpus = int(cov[-1][2])
    if stats.exists():
        import json

        s = json.loads(stats.read_text())
        res.refused, res.accepted, res.slowest_ms = s["refused"], s["accepted"], s["slowest_ms"]
        res.inputs = s["inputs"]
        res.known = s.get("known", {})
    if done:
        res.inputs = int(done.group(1))
    if proc.returncode != 0:
        kind = "Hang" if "timeout" in log.lower() and "ALARM" in log else "Crash"
        found = sorted(artifacts.iterdir())
        data = found[-1].read_bytes() if found else b""
        tail = log[log.find("=== Uncaught Python exception"):][:1500] if "Uncaught" in log else log[-1500:]
        if kind == "Hang":
            res.hangs += 1
        else:
            res.crashes += 1
        res.findings.append(Crash(kind, tail, data.hex(), str(found[-1]) if found else ""))
        res.note = f"libFuzzer exited {proc.returncode}; log in {work / (target.name + '.log')}"
    return res


def names(selection: str) -> list[str]:
    """'all', one name, or a comma-separated list -> target names (unknown names refused)."""
    if selection == "all":
        return list(TARGETS)
    out = [n.strip() for n in selection.split(",") if n.strip()]
    bad = [n for n in out if n not in TARGETS]
    if bad:
        raise SystemExit("unknown parser %s; choose from: all, %s" % (", ".join(bad), ", ".join(TARGETS)))
    return out
