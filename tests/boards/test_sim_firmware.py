"""The project's own firmware (firmware/, protocol/ copied under /lib, firmware/main.py as
/main.py) on the virtual board: it boots, and a gas step closes the valve."""

from __future__ import annotations

from pathlib import Path

import pytest

from boards.sim.board import repo_files

REPO = Path(__file__).resolve().parents[2]


def test_firmware__gas_step_closes_valve(virtual_boards):
    main = REPO / "firmware" / "main.py"
    if not main.exists():
        pytest.skip("firmware/main.py is not written yet")
    files = repo_files("firmware", "protocol")
    files["/main.py"] = main.read_bytes()
    boot = REPO / "firmware" / "boot.py"
    if boot.exists():
        files["/boot.py"] = boot.read_bytes()
    b = virtual_boards(files=files)
    # the app is up once it lights the green LED
    b.wait_event(lambda e: e["ev"] == "led" and e["n"] == "green" and e["v"] == 1, timeout=20)
    assert b.valve_state == "open"
    b.set_gas("methane", 40.0)
    step = b.events_of("control")[-1]["t"]
    closed = b.wait_event(lambda e: e["ev"] == "valve" and e["v"] == "closed", timeout=60)
    assert closed["t"] - step <= 60000  # GB 15322: alarm within 60 s
    assert b.valve_state == "closed"
    assert not b.dead_reason


def test_factory_image__boots_compiled_app(virtual_boards, tmp_path):
    image = pytest.importorskip("boards.image")
    img = tmp_path / "factory-vfs.img"
    img.write_bytes(image.build_vfs_image("sim"))
    b = virtual_boards(image=img)
    assert "/board.json" in b.read_files()
    b.wait_event(lambda e: e["ev"] == "led" and e["n"] == "green" and e["v"] == 1, timeout=20)
    b.set_gas("methane", 40.0)
    b.wait_event(lambda e: e["ev"] == "valve" and e["v"] == "closed", timeout=60)
