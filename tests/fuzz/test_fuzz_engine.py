"""The fuzz engines themselves: they must notice a crash, a hang and a recursion blow-up, keep
the input, and write the summary the docs quote."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench.fuzz import engine
from bench.fuzz.__main__ import main
from bench.fuzz.mutator import Rng, mutate
from bench.fuzz.targets import Target


def _target(call, allowed=(ValueError,)) -> Target:  # noqa: ANN001
    return Target("t", "test target", lambda: (call, allowed, [b"\x00\x01\x02", b"abc"]))


def test_run_mutate__counts_a_stray_exception_as_a_crash_with_its_input(tmp_path: Path):
    def call(data: bytes) -> None:
        if len(data) > 3:
            raise KeyError("boom")
        raise ValueError("refused")

    r = engine.run_mutate(_target(call), 500, crash_dir=tmp_path)
    assert r.crashes > 0 and r.refused > 0 and r.crashes + r.refused == 500
    f = r.findings[0]
    assert f.kind == "KeyError" and len(bytes.fromhex(f.input_hex)) > 3
    assert "test_fuzz_engine.py" in f.where
    assert any(p.name.startswith("t-KeyError-") for p in tmp_path.iterdir())


def test_run_mutate__a_slow_input_is_a_hang():
    def call(data: bytes) -> None:
        if data == b"abc":
            t = time.process_time()
            while time.process_time() - t < 1.0:
                pass

    r = engine.run_mutate(_target(call), 3, time_limit_s=0.2)
    assert r.hangs == 1 and r.crashes == 0
    assert r.findings[0].kind == "Hang" and r.findings[0].input_hex == b"abc".hex()


def test_run_mutate__recursion_is_a_crash():
    def call(data: bytes) -> None:
        def down(n: int) -> int:
            return down(n + 1) + 1

        down(0)

    r = engine.run_mutate(_target(call), 2)
    assert r.crashes == 2 and r.findings[0].kind == "RecursionError"


def test_mutator__deterministic_and_bounded():
    a = [mutate(Rng(3), b"\xa1\x01\x02" * 5, [b"xyz"], max_len=64) for _ in range(1)]
    r1, r2 = Rng(5), Rng(5)
    s1 = [mutate(r1, b"\xa1\x01\x02", [b"xyz"], max_len=64) for _ in range(300)]
    s2 = [mutate(r2, b"\xa1\x01\x02", [b"xyz"], max_len=64) for _ in range(300)]
    assert s1 == s2 and a
    assert all(len(x) <= 64 for x in s1)
    assert len(set(s1)) > 200  # it does vary


def test_cli__writes_json_and_markdown_summaries(tmp_path: Path):
    rc = main(["--parser", "cbor,oscore.option", "--runs", "500", "--engine", "mutate", "--out", str(tmp_path)])
    assert rc == 0
    d = json.loads((tmp_path / "summary.json").read_text())
    assert [r["parser"] for r in d["results"]] == ["cbor", "oscore.option"]
    assert all(r["inputs"] == 500 and r["crashes"] == 0 for r in d["results"])
    assert d["machine"]["cores"] >= 1
    md = (tmp_path / "summary.md").read_text()
    assert "| `cbor` | mutate | 500 |" in md and "| known |" in md


def test_cli__unknown_parser_is_refused_with_the_choices():
    with pytest.raises(SystemExit, match="unknown parser nope; choose from: all, cbor"):
        main(["--parser", "nope", "--runs", "1"])


def test_run_atheris__short_coverage_guided_run(tmp_path: Path):
    pytest.importorskip("atheris")
    from bench.fuzz.targets import TARGETS

    r = engine.run_atheris(TARGETS["oscore.option"], 3000, workdir=tmp_path)
    assert r.inputs == 3000, r.note
    assert (r.crashes, r.hangs) == (0, 0), r.findings
    assert r.coverage and r.coverage > 10
