"""Malformed datagrams into a running virtual board (bench/fuzz/board.py, short): the gas step
during the stream still closes the valve (and nothing in the stream did before), the endpoint
still answers, no task crashed."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_board__keeps_detecting_and_answering_under_a_stream_of_malformed_datagrams(tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch):
    from bench.fuzz import board

    monkeypatch.setenv("GASGUARD_SIM_DIR", str(tmp_path / "registry"))
    r = board.run(3000, seed=5, rate=1000.0, workdir=tmp_path)
    assert r["sent"] == 3000
    assert r["replies"] > 500  # the board read and answered the stream (RST/ACK/4.xx)
    assert r["valve_before_gas"] == "open"
    assert 0 <= r["valve_closed_after_ms"] <= (board.CONFIRM_S + 10) * 1000
    assert r["well_known_core_after"] == "4.01"  # alive, and still refusing plain requests
    assert (r["crashed_tasks"], r["board_dead"], r["valve"]) == (0, "", "closed")
    assert r["ok"]
