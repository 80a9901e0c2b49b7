"""The short version of bench/oscore_fuzz.py (issue 10's fuzzing): mutated and random inputs
into the OSCORE option and plaintext parsers and into unprotect of requests and responses, on
the real MicroPython interpreter: no crash, nothing forged accepted, no hang (the timeout)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_oscore_fuzz__short_run_finds_nothing(tmp_path):
    out = tmp_path / "fuzz.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "oscore_fuzz.py"), "--n", "3000",
                           "--seed", "7", "--timeout", "120", "--json", str(out)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["parser"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"option", "plaintext", "request", "response"}
    for r in rows.values():
        assert r["inputs"] == 3000 and r["crashes"] == 0 and r["forged"] == 0, r
        assert r["refused"] > 0  # the mutations do reach the error paths
    assert rows["request"]["refused"] > 2900 and rows["response"]["refused"] > 2900
