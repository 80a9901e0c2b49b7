"""`gasguard flash` without hardware (boards/flash.py): the esptool plan, argument and image
checks, absent and busy ports (a real pseudo-terminal held by another process), esptool itself
on a port where no chip answers, batch flashing with records, and the fleet recorder against a
real HTTP server."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from boards.flash import (
    DeviceFacts,
    FlashError,
    FlashPlan,
    RecordLog,
    check_image,
    check_port,
    esptool_runner,
    flash_many,
    http_recorder,
    plan_flash,
    resend_pending,
    summary_table,
)
from boards.image import build_factory_image, build_vfs_image
from boards.registry import load_board
from utils.esp_rom import FakeEsp32
from utils.esp_standin import standin_firmware

WHEN = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def board():
    return load_board("esp32-mq4")


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory, board) -> Path:
    d = tmp_path_factory.mktemp("flash")
    fw = d / "fw.bin"
    fw.write_bytes(standin_firmware("esp32"))
    out = d / "factory.bin"
    build_factory_image(board, fw, out, app_version="1.4.2", build_time=WHEN)
    return out


@pytest.fixture
def pty_port():
    """A real serial device node nobody holds: the follower side of a pseudo-terminal."""
    leader, follower = pty.openpty()
    name = os.ttyname(follower)
    yield name
    os.close(leader)
    os.close(follower)


def _quiet() -> Console:
    return Console(file=open(os.devnull, "w"), width=120)  # noqa: SIM115


# --- the plan ---------------------------------------------------------------------------------


def test_plan_flash__esptool_command(factory: Path, board):
    (plan,) = plan_flash(["/dev/ttyUSB0"], board, factory, baud=921600)
    assert plan.esptool_argv() == [
        "esptool", "--chip", "esp32", "--port", "/dev/ttyUSB0", "--baud", "921600",
        "--before", "default-reset", "--after", "hard-reset",
        "write-flash", "--flash-size", "keep", "0x0", str(factory),
    ]
    assert (plan.offset, plan.image_size, plan.app_version, plan.model) == (0, 0x400000, "1.4.2", "esp32-mq4")
    assert plan.steps()[1] == "refuse anything but an ESP32"
    assert plan.steps()[5] == "write factory.bin (4194304 bytes) at 0x0 and verify its MD5 in flash"


def test_plan_flash__one_plan_per_port(factory: Path, board):
    plans = plan_flash(["/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyACM0"], board, factory, model="GG-A1")
    assert [p.port for p in plans] == ["/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyACM0"]
    assert {p.image_sha256 for p in plans} == {plans[0].image_sha256}
    assert {p.model for p in plans} == {"GG-A1"}


@pytest.mark.parametrize(("ports", "baud", "message"), [
    ([], 460800, "no port given; name at least one with --port (repeat it to flash several)"),
    (["/dev/ttyUSB0", "/dev/ttyUSB0"], 460800,
     "--port /dev/ttyUSB0 is given more than once; each board needs its own port"),
    (["/dev/ttyUSB0"], 9600, "--baud 9600: not a rate esptool's flasher stub uses; choose one of "
                             "115200, 230400, 460800, 921600, 1500000, 2000000"),
])
def test_plan_flash__invalid_arguments(factory: Path, board, ports, baud, message):
    with pytest.raises(FlashError) as e:
        plan_flash(ports, board, factory, baud=baud)
    assert str(e.value) == message


def test_plan_flash__virtual_board_refused(factory: Path):
    with pytest.raises(FlashError) as e:
        plan_flash(["/dev/ttyUSB0"], load_board("sim"), factory)
    assert str(e.value) == ("board sim is the virtual board (virtual = true): it runs under "
                            "`gasguard sim`, not on hardware; flash a real board file such as "
                            "esp32-mq4")


# --- the image --------------------------------------------------------------------------------


def test_check_image__missing(tmp_path: Path, board):
    with pytest.raises(FlashError) as e:
        check_image(tmp_path / "f.bin", board)
    assert str(e.value) == (f"{tmp_path / 'f.bin'}: no such file; build one with `gasguard image "
                            f"build --board esp32-mq4 --micropython FIRMWARE.bin --out {tmp_path / 'f.bin'}`")


def test_check_image__bare_vfs_refused(tmp_path: Path, board):
    p = tmp_path / "vfs.bin"
    p.write_bytes(build_vfs_image(board, build_time=WHEN))
    with pytest.raises(FlashError) as e:
        check_image(p, board)
    assert str(e.value) == (f"{p}: a bare vfs image, not a factory image; flash the factory image "
                            "from `gasguard image build` (it holds the MicroPython firmware too)")


def test_check_image__for_another_board(factory: Path):
    with pytest.raises(FlashError) as e:
        check_image(factory, load_board("esp32c3-mq5"))
    assert str(e.value) == (f"{factory}: not a factory image for board esp32c3-mq5: firmware for "
                            "ESP32, but board esp32c3-mq5 is an ESP32-C3")


def test_check_image__truncated(tmp_path: Path, factory: Path, board):
    p = tmp_path / "short.bin"
    p.write_bytes(factory.read_bytes()[: 3 * 0x100000])
    with pytest.raises(FlashError) as e:
        check_image(p, board)
    assert str(e.value).startswith(f"{p}: the filesystem at 0x200000: the image is 1048576 bytes "
                                   "but its superblock says 512 blocks of 4096")


# --- ports ------------------------------------------------------------------------------------


def test_check_port__absent():
    with pytest.raises(FlashError) as e:
        check_port("/dev/ttyUSB97")
    assert str(e.value) == (
        "/dev/ttyUSB97: no such serial port; plug the board in and check the name "
        "(`python -m serial.tools.list_ports` lists them; on Linux /dev/ttyUSB0 or /dev/ttyACM0)")


def test_check_port__free_pty(pty_port: str):
    check_port(pty_port)  # no error: esptool could open it


def test_check_port__busy_pty(pty_port: str):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import serial, sys, time\n"
         f"p = serial.Serial({pty_port!r}, exclusive=True)\n"
         "print('held', flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FlashError) as e:
            check_port(pty_port)
        comm = Path(f"/proc/{holder.pid}/comm").read_text().strip()  # "python3", "python3.11"...
        assert str(e.value) == (
            f"{pty_port}: the port is busy (held by {holder.pid} ({comm})); close the program "
            "using it (a serial monitor, mpremote, another flash) and try again")
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    check_port(pty_port)  # free again once the holder is gone


def test_esptool_runner__no_chip_answers(factory: Path, board, pty_port: str):
    """Real esptool on a real serial device where no ESP bootloader listens."""
    (plan,) = plan_flash([pty_port], board, factory)
    (result,) = flash_many([plan], console=_quiet())
    assert not result.ok
    assert result.error.startswith(f"{pty_port}: no ESP bootloader answered (Failed to connect")
    assert result.error.endswith("check the cable, hold BOOT while pressing RESET if the board has "
                                 "no auto-reset, and try again")


def test_esptool_runner__absent_port(factory: Path, board):
    (plan,) = plan_flash(["/dev/ttyUSB97"], board, factory)
    with pytest.raises(FlashError, match=r"^/dev/ttyUSB97: no such serial port"):
        esptool_runner(plan, lambda done, total: None, lambda text: None)


# --- batch flashing and records ---------------------------------------------------------------


def _fake_runner(fail_port: str | None = None):
    seen: list[str] = []
    lock = threading.Lock()

    def run(plan: FlashPlan, progress, note) -> DeviceFacts:
        with lock:
            seen.append(plan.port)
        if plan.port == fail_port:
            raise FlashError(f"{plan.port}: writing failed: MD5 of file does not match data in flash")
        for done in range(0, plan.image_size + 1, plan.image_size // 4):
            progress(done, plan.image_size)
        n = int(plan.port[-1])
        return DeviceFacts("esp32", "ESP32-D0WD-V3 (revision v3.1)", f"24:0a:c4:00:00:0{n}", 0x400000)

    run.seen = seen  # type: ignore[attr-defined]
    return run


def test_flash_many__records_each_board(tmp_path: Path, factory: Path, board):
    plans = plan_flash(["/dev/fake1", "/dev/fake2", "/dev/fake3"], board, factory, model="GG-A1")
    sent: list[dict] = []
    log = RecordLog(tmp_path / "records.jsonl")
    runner = _fake_runner(fail_port="/dev/fake2")
    results = flash_many(plans, runner=runner, recorder=sent.append, records=log,
                         console=_quiet(), clock=lambda: WHEN)
    assert sorted(runner.seen) == ["/dev/fake1", "/dev/fake2", "/dev/fake3"]
    assert [(r.plan.port, r.ok, r.fleet) for r in results] == [
        ("/dev/fake1", True, "recorded"), ("/dev/fake2", False, "not sent"),
        ("/dev/fake3", True, "recorded")]
    assert results[1].error == "/dev/fake2: writing failed: MD5 of file does not match data in flash"
    assert sorted(r["mac"] for r in sent) == ["24:0a:c4:00:00:01", "24:0a:c4:00:00:03"]
    one = next(r for r in sent if r["mac"].endswith("1"))
    assert one.pop("seconds") >= 0
    assert one == {
        "flashed_at": "2026-03-01T08:30:00Z", "result": "ok", "board": "esp32-mq4",
        "model": "GG-A1", "chip": "esp32", "chip_description": "ESP32-D0WD-V3 (revision v3.1)",
        "mac": "24:0a:c4:00:00:01", "unique_id": "240ac4000001", "device_id": "gg-240ac4000001",
        "flash_size": 0x400000,
        "app_version": "1.4.2", "image_sha256": plans[0].image_sha256, "error": None,
    }
    final = {(r["port"], r["fleet"]) for r in log.read()}
    assert ("/dev/fake1", "recorded") in final and ("/dev/fake2", "not sent") in final
    csv_rows = log.csv_path.read_text().splitlines()
    assert csv_rows[0].startswith("flashed_at,port,result,device_id,board,model,chip")
    assert len(csv_rows) == 4  # header + one row per board


def test_flash_many__fleet_unreachable_keeps_records(tmp_path: Path, factory: Path, board):
    plans = plan_flash(["/dev/fake1"], board, factory)
    log = RecordLog(tmp_path / "records.jsonl")

    def down(rec: dict) -> None:
        raise ConnectionError("fleet unreachable")

    (result,) = flash_many(plans, runner=_fake_runner(), recorder=down, records=log,
                           console=_quiet(), clock=lambda: WHEN)
    assert result.ok and result.fleet == "pending"
    assert [r["fleet"] for r in log.read()] == ["pending", "pending"]
    sent: list[dict] = []
    assert resend_pending(log, sent.append) == (1, 0)
    assert [r["unique_id"] for r in sent] == ["240ac4000001"]
    assert log.read()[-1]["fleet"] == "recorded"
    assert resend_pending(log, sent.append) == (0, 0)  # nothing left: running it twice is safe


def test_summary_table__one_row_per_port(factory: Path, board):
    plans = plan_flash(["/dev/fake1", "/dev/fake2"], board, factory)
    results = flash_many(plans, runner=_fake_runner(fail_port="/dev/fake2"), console=_quiet())
    console = Console(record=True, width=200)
    console.print(summary_table(results))
    text = console.export_text()
    assert "24:0a:c4:00:00:01" in text and "ok" in text
    assert "failed" in text and "MD5 of file does not match" in text


class _FleetStub(BaseHTTPRequestHandler):
    received: list[tuple[str, dict]] = []
    tokens: list[str | None] = []  # the Authorization header of each POST

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _FleetStub.received.append((self.path, body))
        _FleetStub.tokens.append(self.headers.get("Authorization"))
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_http_recorder__posts_json_to_the_fleet(tmp_path: Path, factory: Path, board):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FleetStub)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        plans = plan_flash(["/dev/fake1"], board, factory)
        (result,) = flash_many(plans, runner=_fake_runner(), recorder=http_recorder(url, token="mk-1"),
                               records=RecordLog(tmp_path / "r.jsonl"), console=_quiet())
    finally:
        server.shutdown()
        server.server_close()
    assert result.fleet == "recorded"
    (path, body), = _FleetStub.received
    assert path == "/api/v1/manufacturing"
    assert (body["unique_id"], body["board"], body["result"]) == ("240ac4000001", "esp32-mq4", "ok")
    assert _FleetStub.tokens[-1] == "Bearer mk-1"


def test_http_recorder__refused(tmp_path: Path):
    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(409)
            self.end_headers()
            self.wfile.write(b"already recorded")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rec = http_recorder(f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(FlashError) as e:
            rec({"unique_id": "x"})
    finally:
        server.shutdown()
        server.server_close()
    assert str(e.value) == "the fleet refused the record: 409 already recorded"


# --- the command ------------------------------------------------------------------------------


def _app():
    import typer

    from boards.flash import flash

    app = typer.Typer()
    app.command()(flash)
    return app


def test_cli_dry_run__prints_plan(factory: Path):
    r = CliRunner().invoke(_app(), ["--board", "esp32-mq4", "--port", "/dev/ttyUSB0",
                                    "--port", "/dev/ttyUSB1", "--dry-run", str(factory)],
                           env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    assert (f"= esptool --chip esp32 --port /dev/ttyUSB1 --baud 460800 --before default-reset "
            f"--after hard-reset write-flash --flash-size keep 0x0 {factory}") in r.output


def test_cli__absent_port_exits_2(tmp_path: Path, factory: Path):
    r = CliRunner().invoke(_app(), ["--board", "esp32-mq4", "--port", "/dev/ttyUSB97",
                                    "--records", str(tmp_path / "r.jsonl"), str(factory)],
                           env={"COLUMNS": "300"})
    assert r.exit_code == 2
    assert "error: /dev/ttyUSB97: no such serial port" in r.output
    assert not (tmp_path / "r.jsonl").exists()


def test_cli__unknown_board_exits_2(factory: Path):
    r = CliRunner().invoke(_app(), ["--board", "nosuch", "--port", "/dev/ttyUSB0", str(factory)],
                           env={"COLUMNS": "300"})
    assert r.exit_code == 2
    assert "unknown board 'nosuch'" in r.output


# --- real esptool against a pretend ESP32 bootloader on a pty (tests/utils/esp_rom.py) ---------


def test_esptool_runner__flashes_and_verifies(factory: Path, board):
    progress: list[tuple[int, int]] = []
    notes: list[str] = []
    with FakeEsp32(mac="24:0a:c4:aa:bb:01") as rom:
        (plan,) = plan_flash([rom.port], board, factory, baud=921600)
        facts = esptool_runner(plan, lambda d, t: progress.append((d, t)), notes.append)
        flashed = bytes(rom.flash)
    assert flashed == factory.read_bytes()  # every byte of the image, at 0x0
    assert facts == DeviceFacts("esp32", "ESP32-D0WDQ6 (revision v0.0)", "24:0a:c4:aa:bb:01", 0x400000)
    assert facts.unique_id == "240ac4aabb01"
    assert progress and progress[-1][0] == progress[-1][1]  # the bar reached its end
    assert "Changing baud rate to 921600..." in notes
    assert "Hash of data verified." in notes


def test_flash_many__two_boards_in_parallel(tmp_path: Path, factory: Path, board):
    log = RecordLog(tmp_path / "records.jsonl")
    with FakeEsp32(mac="24:0a:c4:00:00:0a") as a, FakeEsp32(mac="24:0a:c4:00:00:0b") as b:
        plans = plan_flash([a.port, b.port], board, factory)
        results = flash_many(plans, records=log, console=_quiet())
        images = (bytes(a.flash), bytes(b.flash))
    assert [(r.ok, r.device.mac) for r in results] == [
        (True, "24:0a:c4:00:00:0a"), (True, "24:0a:c4:00:00:0b")]
    assert images == (factory.read_bytes(), factory.read_bytes())
    for r in results:  # each port's esptool output went to its own row
        assert r.notes.count("Hash of data verified.") == 1
    assert sorted(r["unique_id"] for r in log.read()) == ["240ac400000a", "240ac400000b"]


def test_esptool_runner__wrong_chip_is_refused(tmp_path: Path):
    fw = tmp_path / "c3.bin"
    fw.write_bytes(standin_firmware("esp32c3"))
    image = tmp_path / "c3-factory.bin"
    c3 = load_board("esp32c3-mq5")
    build_factory_image(c3, fw, image, build_time=WHEN)
    with FakeEsp32() as rom:
        (plan,) = plan_flash([rom.port], c3, image)
        with pytest.raises(FlashError) as e:
            esptool_runner(plan, lambda d, t: None, lambda s: None)
        untouched = set(rom.flash) == {0xFF}
    assert str(e.value) == (f"{rom.port}: the board is an ESP32, but board file esp32c3-mq5 is for "
                            "an ESP32-C3; use the right --board and image")
    assert untouched


def test_esptool_runner__flash_too_small(factory: Path, board):
    with FakeEsp32(flash_size=0x200000) as rom:
        (plan,) = plan_flash([rom.port], board, factory)
        with pytest.raises(FlashError) as e:
            esptool_runner(plan, lambda d, t: None, lambda s: None)
    assert str(e.value) == (f"{rom.port}: the board has 2MB of flash, the image needs 0x400000; "
                            "use a board file for its flash size")


def test_gasguard_flash__two_boards_recorded_with_the_fleet(tmp_path: Path, factory: Path):
    """The whole command, as a maker runs it: `gasguard flash` from the one CLI, two pretend
    boards, a real HTTP server standing in for the fleet, the summary and the local records."""
    from fleet.cli import app

    _FleetStub.received, _FleetStub.tokens = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FleetStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    records = tmp_path / "made.jsonl"
    try:
        with FakeEsp32(mac="24:0a:c4:00:01:01") as a, FakeEsp32(mac="24:0a:c4:00:01:02") as b:
            r = CliRunner().invoke(app, [
                "flash", "--board", "esp32-mq4", "--model", "GG-A1", "-p", a.port, "-p", b.port,
                "--fleet", f"http://127.0.0.1:{server.server_address[1]}", "--token", "maker-token",
                "--records", str(records), str(factory)], env={"COLUMNS": "250"})
    finally:
        server.shutdown()
        server.server_close()
    assert r.exit_code == 0, r.output
    assert "flash summary" in r.output and "24:0a:c4:00:01:02" in r.output
    assert sorted(body["unique_id"] for _, body in _FleetStub.received) == ["240ac4000101", "240ac4000102"]
    assert {body["model"] for _, body in _FleetStub.received} == {"GG-A1"}
    assert _FleetStub.tokens == ["Bearer maker-token"] * 2
    final = [rec for rec in RecordLog(records).read() if rec["fleet"] == "recorded"]
    assert len(final) == 2
    assert len(records.with_suffix(".csv").read_text().splitlines()) == 3


def test_gasguard_flash__resend_when_fleet_is_back(tmp_path: Path, factory: Path):
    from fleet.cli import app

    records = tmp_path / "made.jsonl"
    with FakeEsp32(mac="24:0a:c4:00:02:01") as a:
        r = CliRunner().invoke(app, [
            "flash", "--board", "esp32-mq4", "-p", a.port, "--fleet", "http://127.0.0.1:9",
            "--records", str(records), str(factory)], env={"COLUMNS": "250", "GASGUARD_FLEET_TOKEN": "env-token"})
    assert r.exit_code == 0, r.output  # the board is flashed; only the record waits
    assert "gasguard flash --resend --fleet URL" in r.output
    assert [rec["fleet"] for rec in RecordLog(records).read()] == ["pending", "pending"]

    _FleetStub.received, _FleetStub.tokens = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FleetStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"COLUMNS": "250", "GASGUARD_FLEET_TOKEN": "env-token"}
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        r = CliRunner().invoke(app, ["flash", "--resend", "--fleet", url, "--records", str(records)], env=env)
        again = CliRunner().invoke(app, ["flash", "--resend", "--fleet", url, "--records", str(records)], env=env)
    finally:
        server.shutdown()
        server.server_close()
    assert r.exit_code == 0, r.output
    assert "sent 1 pending record(s)" in r.output
    assert "sent 0 pending record(s)" in again.output
    assert [body["unique_id"] for _, body in _FleetStub.received] == ["240ac4000201"]
    assert _FleetStub.tokens == ["Bearer env-token"]  # GASGUARD_FLEET_TOKEN


def test_cli__fleet_without_token_exits_2_before_touching_a_board(tmp_path: Path, factory: Path):
    r = CliRunner().invoke(_app(), ["--board", "esp32-mq4", "--port", "/dev/ttyUSB97", "--fleet", "http://127.0.0.1:9",
                                    "--records", str(tmp_path / "r.jsonl"), str(factory)],
                           env={"COLUMNS": "300", "GASGUARD_FLEET_TOKEN": ""})
    assert r.exit_code == 2
    assert "--fleet needs --token (a maker's API token; or GASGUARD_FLEET_TOKEN)" in r.output
    assert not (tmp_path / "r.jsonl").exists()
