"""bench/oscore_cost.py still runs on MicroPython and reports what docs/oscore.md records
(a few messages only: this checks the tool and the exact byte figures, not the timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_oscore_cost__reports_heap_and_wire_bytes(tmp_path):
    out = tmp_path / "cost.json"
    subprocess.run([sys.executable, str(REPO / "bench" / "oscore_cost.py"), "--n", "3",
                    "--json", str(out)], check=True, capture_output=True, timeout=120)
    report = json.loads(out.read_text())
    rows = {r["operation"]: r for r in report["rows"]}
    hb = rows["protect_request 100 B heartbeat"]
    # a few messages in, the sequence number is below 256: a 1-byte Partial IV, 14 bytes added
    assert (hb["plain_bytes"], hb["protected_bytes"]) == (112, 126)
    assert 0 < hb["alloc_bytes"] <= 1024
    late = rows["protect_request 100 B, seq 70000"]
    assert late["protected_bytes"] - late["plain_bytes"] == 16
    ack = rows["unprotect_response 6 B ack"]
    assert ack["protected_bytes"] - ack["plain_bytes"] == 11
    assert 0 < report["context_bytes"] < 8192 and report["import_bytes"] > 0
