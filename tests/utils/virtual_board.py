"""Virtual boards for tests: a factory fixture that starts any number of boards and always
stops them (no stray MicroPython processes, ptys or temp files), and a real-mpremote helper.

    from utils.virtual_board import virtual_boards, mpremote   # in a conftest.py

    def test_x(virtual_boards):
        b = virtual_boards()                      # the `sim` board, fresh image
        b2 = virtual_boards("esp32-mq4", files={"/main.py": b"print(1)"})
        r = mpremote(b.port, "fs", "ls")
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from boards.sim.board import VirtualBoard


def mpremote(port: str, *args: str, timeout: float = 30.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real mpremote against a port; on failure the assertion shows its output."""
    exe = Path(sys.executable).with_name("mpremote")
    proc = subprocess.run([str(exe), "connect", port, *args], capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert proc.returncode == 0, "mpremote %s failed (%d):\n%s\n%s" % (
            " ".join(args), proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def virtual_boards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Factory: virtual_boards(board="sim", **VirtualBoard kwargs) -> a started VirtualBoard."""
    monkeypatch.setenv("GASGUARD_SIM_DIR", str(tmp_path / "registry"))
    started: list[VirtualBoard] = []

    def make(board: str = "sim", **kw: Any) -> VirtualBoard:
        kw.setdefault("workdir", tmp_path / ("board%d" % len(started)))
        Path(kw["workdir"]).mkdir(parents=True, exist_ok=True)
        vb = VirtualBoard(board, **kw)
        started.append(vb)
        vb.start()
        return vb

    yield make
    for vb in started:
        pid = vb.pid
        vb.stop()
        if pid is not None:
            try:
                import os

                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            raise AssertionError("virtual board %s left MicroPython running (pid %d)" % (vb.name, pid))
