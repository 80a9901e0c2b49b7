"""`gasguard provision` end to end: the real command (a child process, the real mpremote
transport) against a virtual board booted from the factory vfs image and a real fleet process."""

from __future__ import annotations

import json

import pytest

from boards.sim.board import read_image
from fleet.provision.service import fingerprint
from provision_support import BOARD_HEAP, provision_cli

pytestmark = pytest.mark.timeout(240)


def _board_files(b):
    return read_image(b.image_path.read_bytes(), b.board.block_size, b.board.block_count)


def test_provision__registers_and_passes_acceptance_then_rerun_is_identical(virtual_boards, factory_vfs,
                                                                            fleet_process):
    b = virtual_boards(image=factory_vfs, heapsize=BOARD_HEAP)
    token = fleet_process.token()
    dev_id = "gg-" + b.uid.hex()
    args = ["--port", b.port, "--site", "HZ-0001", "--fleet", fleet_process.url, "--token", token,
            "--sp-low", "20", "--board", "sim"]
    r = provision_cli(*args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[6/6] Acceptance test" in r.stdout
    assert "provisioned" in r.stdout

    # the fleet: registered, with the site, the key it issued, a passed acceptance on record
    dev = fleet_process.status(dev_id, token)
    assert dev["registered_at"] and dev["site_code"] == "HZ-0001"
    assert fleet_process.query("select uid from devices where device_id = :d", d=dev_id)[0][0] == b.uid.hex()
    acc = fleet_process.api("GET", f"/provision/devices/{dev_id}/acceptance",
                            headers={"Authorization": f"Bearer {token}"}).json()
    assert [a["result"] for a in acc] == ["pass"]
    assert acc[0]["checks"]["fleet_alarm"] and acc[0]["checks"]["valve_closed"] and acc[0]["checks"]["buzzer"]
    assert acc[0]["checks"]["alarm_cleared"]
    # the test alarm is closed as a test, so no operator is left with it
    alarms = fleet_process.query("select state, note from alarms where device_id = :d", d=dev_id)
    assert alarms and all(st == "resolved" and "acceptance" in (note or "") for st, note in alarms)

    # the board: normal boot (no /maint), the configuration as written, the key the fleet issued
    files = _board_files(b)
    assert "/maint" not in files and "/config.json.tmp" not in files
    cfg = json.loads(files["/config.json"])
    assert cfg["device_id"] == dev_id and cfg["site"] == "HZ-0001" and cfg["alarm"] == {"low": 20.0}
    assert cfg["fleet"] == {"host": "127.0.0.1", "port": fleet_process.coap_port}
    # the fleet speaks OSCORE (docs/oscore.md §11): the key is on the board, the device registered and
    # passed its acceptance test over OSCORE, and the fleet keeps the secret sealed
    key = fleet_process.api("POST", f"/provision/devices/{dev_id}/key", json={"uid": b.uid.hex()},
                            headers={"Authorization": f"Bearer {token}"}).json()
    assert key["in_use"] and key["oscore"] is None and key["version"] == 1  # in use: the secret is not sent again
    assert key["fleet_oscore"] and fingerprint(cfg["oscore"]) == key["fingerprint"]
    sealed, since = fleet_process.query("select master_secret, oscore_since from device_credentials "
                                        "where device_id = :d", d=dev_id)[0]
    assert sealed.startswith("gg1:") and cfg["oscore"]["master_secret"] not in sealed and since is not None
    assert b.valve_state == "open"  # reopened after the test

    # again: same device id, same key, same bytes; only the reboot and registration happen again
    before = files["/config.json"]
    r2 = provision_cli(*args, "--no-acceptance")
    assert r2.returncode == 0, r2.stdout + r2.stderr
    assert "the key the board already holds: version 1" in r2.stdout
    assert "already holds exactly this configuration" in r2.stdout
    assert _board_files(b)["/config.json"] == before


def test_provision__missing_port__exact_error_and_nothing_touched(fleet_process, tmp_path):
    port = str(tmp_path / "ttyUSB9")
    r = provision_cli("--port", port, "--site", "HZ-0001", "--fleet", fleet_process.url, "--token", "x")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout.strip() == (
        f"error: {port}: no such serial port; plug the board in and check the name "
        "(`python -m serial.tools.list_ports` lists them; on Linux /dev/ttyUSB0 or /dev/ttyACM0)")


def test_provision__no_token__refused_before_the_board(fleet_process, tmp_path):
    r = provision_cli("--port", "/dev/null", "--site", "HZ-0001", "--fleet", fleet_process.url)
    assert r.returncode == 2
    assert r.stdout.strip() == ("error: no enrolment token: pass --token or set GASGUARD_ENROL_TOKEN (the fleet "
                                "operator issues one: POST /api/v1/provision/tokens)")


def test_provision__fleet_unreachable_at_key_step__board_restored__rerun_succeeds(virtual_boards, factory_vfs,
                                                                                  fleet_process):
    b = virtual_boards(image=factory_vfs, heapsize=BOARD_HEAP)
    token = fleet_process.token()
    # a port where no fleet listens (a bound, unlistened socket refuses connections)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = "http://127.0.0.1:%d" % s.getsockname()[1]
        r = provision_cli("--port", b.port, "--site", "HZ-0002", "--fleet", dead, "--token", token,
                          "--no-acceptance")
    assert r.returncode == 1, r.stdout + r.stderr
    out = " ".join(r.stdout.split())
    assert "✓ /maint written, board reset into its maintenance boot" in out
    assert f"✗ the fleet at {dead} cannot be reached (ConnectError" in out
    assert "provisioning stopped at: Device key from the fleet" in r.stdout
    assert "The board is reset into its normal boot, running its app with no configuration yet." in out
    assert f"Do next: check the fleet address ({dead}) and this laptop's network, then run the same command " \
           "again (it is safe to repeat)." in out
    files = _board_files(b)
    assert "/maint" not in files and "/config.json" not in files  # as it came from the factory
    assert b.boots[-1]["detail"] == "machine.reset"  # and running its app again

    r = provision_cli("--port", b.port, "--site", "HZ-0002", "--fleet", fleet_process.url, "--token", token,
                      "--no-acceptance")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "✓ new key: version 1" in r.stdout
    dev = fleet_process.status(f"gg-{b.uid.hex()}", token)
    assert dev["registered_at"] and dev["site_code"] == "HZ-0002"
