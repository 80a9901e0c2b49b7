"""Factory and vfs images (boards/image.py): built from a stand-in MicroPython firmware, read back
byte by byte, mounted with littlefs-python and with MicroPython's own VfsLfs2, and refused with
exact messages when an input is wrong."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import esptool.cmds
import pytest
from littlefs import LittleFS
from typer.testing import CliRunner

from boards import vfs_image
from boards.esp_firmware import FirmwareError
from boards.image import (
    ImageError,
    build_factory_image,
    build_vfs_image,
    inspect_image,
    vfs_files,
)
from boards.registry import load_board
from utils.esp_standin import esp_image, standin_firmware
from utils.micropython import micropython_binary

WHEN = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
MiB = 0x100000


@pytest.fixture(scope="module")
def esp32_board():
    return load_board("esp32-mq4")


@pytest.fixture
def firmware(tmp_path: Path) -> Path:
    p = tmp_path / "ESP32_GENERIC-standin.bin"
    p.write_bytes(standin_firmware("esp32"))
    return p


@pytest.fixture
def factory(tmp_path: Path, firmware: Path, esp32_board) -> Path:
    out = tmp_path / "factory.bin"
    build_factory_image(esp32_board, firmware, out, app_version="1.4.2", build_time=WHEN)
    return out


def test_build_factory_image__layout_at_board_offsets(factory: Path, firmware: Path, esp32_board):
    data = factory.read_bytes()
    fw = firmware.read_bytes()
    assert len(data) == esp32_board.flash_size == 4 * MiB
    assert data[:0x1000] == b"\xff" * 0x1000  # ESP32: nothing below the bootloader at 0x1000
    assert data[0x1000 : 0x1000 + len(fw)] == fw
    assert set(data[0x1000 + len(fw) : 0x200000]) == {0xFF}
    # esptool itself accepts the firmware region of the factory image (bootloader header, chip id)
    esptool.cmds.image_info(data[0x1000 : 0x1000 + len(fw)], chip="esp32")


def test_build_factory_image__vfs_mounts_with_board_geometry(factory: Path, esp32_board):
    region = factory.read_bytes()[0x200000:]
    assert len(region) == 0x200000
    fs = LittleFS(block_size=4096, block_count=0, mount=False)  # 0: take the count from disk
    fs.context.buffer = bytearray(region)
    fs.mount()
    stat = fs.fs_stat()
    assert (stat.block_size, stat.block_count) == (4096, 512) == (esp32_board.block_size, esp32_board.block_count)
    top = set(fs.listdir("/"))
    assert {"app.json", "board.json", "lib"} <= top
    repo = Path(__file__).resolve().parents[2]
    for entry in ("boot.py", "main.py"):  # source at "/" exactly when firmware/ has them
        assert (entry in top) == (repo / "firmware" / entry).exists()
    assert "cbor.mpy" in fs.listdir("/lib/protocol")


def test_build_factory_image__app_json_lists_every_file(factory: Path, esp32_board):
    files = vfs_image.read(factory.read_bytes()[0x200000:]).files
    app = json.loads(files["/app.json"])
    assert app["version"] == "1.4.2"
    assert app["built"] == "2026-03-01T08:30:00Z"
    assert (app["board"], app["chip"], app["mpy"]) == ("esp32-mq4", "esp32", "6.3")
    listed = {f["path"]: f for f in app["files"]}
    assert set(listed) == set(files) - {"/app.json"}
    for path, entry in listed.items():
        assert entry["size"] == len(files[path])
        assert entry["sha256"] == hashlib.sha256(files[path]).hexdigest()
    assert json.loads(files["/board.json"]) == esp32_board.to_device_dict()
    for path, data in files.items():
        if path.endswith(".mpy"):
            assert data[:2] == b"M\x06", path  # .mpy version 6 (MicroPython 1.23+)
        assert not path.endswith(".py") or path in ("/main.py", "/boot.py"), path


def test_build_factory_image__esp32c3_firmware_at_zero(tmp_path: Path):
    fw = tmp_path / "c3.bin"
    fw.write_bytes(standin_firmware("esp32c3"))
    out = tmp_path / "c3-factory.bin"
    img = build_factory_image("esp32c3-mq5", fw, out, build_time=WHEN)
    data = out.read_bytes()
    assert img.regions == (("firmware", 0x0, fw.stat().st_size), ("vfs", 0x200000, 0x200000))
    assert data[: fw.stat().st_size] == fw.read_bytes()
    report = inspect_image(out)
    assert (report.kind, report.chip, report.firmware_offset, report.vfs_offset) == (
        "factory", "esp32c3", 0x0, 0x200000)


def test_build_vfs_image__is_what_the_factory_image_carries(factory: Path, esp32_board):
    vfs = build_vfs_image(esp32_board, app_version="1.4.2", build_time=WHEN)
    assert vfs == factory.read_bytes()[0x200000:]


def test_build_vfs_image__repeatable_and_extra_files(esp32_board):
    a = build_vfs_image(esp32_board, build_time=WHEN)
    assert a == build_vfs_image(esp32_board, build_time=WHEN)
    b = build_vfs_image("sim", build_time=WHEN, extra_files={"/config.json": b'{"site": "S1"}'})
    files = vfs_image.read(b).files
    assert files["/config.json"] == b'{"site": "S1"}'
    assert "/config.json" in {f["path"] for f in json.loads(files["/app.json"])["files"]}


def test_build_vfs_image__default_version_from_manifest(esp32_board):
    files = vfs_files(esp32_board, build_time=WHEN)
    source = (Path(__file__).resolve().parents[2] / "firmware" / "manifest.py").read_text()
    assert f'version="{json.loads(files["/app.json"])["version"]}"' in source


def test_inspect_image__factory(factory: Path):
    r = inspect_image(factory)
    assert (r.kind, r.size, r.chip) == ("factory", 4 * MiB, "esp32")
    assert (r.firmware_offset, r.vfs_offset, r.block_size, r.block_count) == (0x1000, 0x200000, 4096, 512)
    assert r.app["version"] == "1.4.2"
    assert r.problems == []
    assert r.files["/board.json"] > 0 and "/lib/protocol/cbor.mpy" in r.files


def test_inspect_image__bare_vfs(esp32_board):
    r = inspect_image(build_vfs_image(esp32_board, app_version="2.0.0", build_time=WHEN))
    assert (r.kind, r.vfs_offset, r.block_count, r.firmware_offset) == ("vfs", 0, 512, None)
    assert r.app["version"] == "2.0.0"


def test_inspect_image__against_another_board(factory: Path):
    r = inspect_image(factory, board="esp32c3-mq5")
    assert r.problems == ["firmware for ESP32, but board esp32c3-mq5 is an ESP32-C3"]


def test_inspect_image__changed_file_is_reported(esp32_board):
    files = vfs_files(esp32_board, build_time=WHEN)
    files["/board.json"] = b"{}"
    image = vfs_image.pack(files, block_size=4096, block_count=512)
    assert inspect_image(image).problems == [
        "/board.json: changed since the build (sha256 differs from /app.json)"]


def test_inspect_image__truncated_vfs_does_not_mount(esp32_board):
    image = build_vfs_image(esp32_board, build_time=WHEN)[: 256 * 4096]
    with pytest.raises(ImageError) as e:
        inspect_image(image)
    assert str(e.value) == (
        "<bytes>: the filesystem at 0x0: the image is 1048576 bytes but its superblock says 512 "
        "blocks of 4096 (2097152 bytes): it would not mount on a board")


def test_inspect_image__not_an_image(tmp_path: Path):
    p = tmp_path / "junk.bin"
    p.write_bytes(b"\x00" * 8192)
    with pytest.raises(ImageError) as e:
        inspect_image(p)
    assert str(e.value) == (f"{p}: no littlefs filesystem found: neither a factory image nor a vfs "
                            "image from gasguard image build")


# --- refused inputs, exact messages -----------------------------------------------------------


def test_build_factory_image__missing_firmware(tmp_path: Path, esp32_board):
    with pytest.raises(FirmwareError) as e:
        build_factory_image(esp32_board, tmp_path / "nope.bin", tmp_path / "out.bin")
    assert str(e.value) == (
        f"{tmp_path / 'nope.bin'}: no such file; download the MicroPython firmware for your board "
        "from https://micropython.org/download/ (for example ESP32_GENERIC-v1.29.0.bin)")
    assert not (tmp_path / "out.bin").exists()


def test_build_factory_image__wrong_chip(tmp_path: Path, esp32_board):
    fw = tmp_path / "s3.bin"
    fw.write_bytes(standin_firmware("esp32s3"))
    out = tmp_path / "out.bin"
    out.write_bytes(b"an earlier image")
    with pytest.raises(FirmwareError) as e:
        build_factory_image(esp32_board, fw, out)
    assert str(e.value) == (f"{fw}: built for ESP32-S3, but the board is an ESP32; use the "
                            "MicroPython firmware for ESP32")
    assert out.read_bytes() == b"an earlier image"  # nothing already stored is lost


def test_build_factory_image__not_an_esp_image(tmp_path: Path, esp32_board):
    fw = tmp_path / "firmware.uf2"
    fw.write_bytes(b"UF2\n" + bytes(600))
    with pytest.raises(FirmwareError) as e:
        build_factory_image(esp32_board, fw, tmp_path / "out.bin")
    assert str(e.value) == (f"{fw}: not an ESP firmware image: the first byte is 0x55, expected "
                            "0xE9; use the .bin MicroPython publishes for the board, not a .elf, "
                            ".uf2 or .hex")


def test_build_factory_image__app_only_bin(tmp_path: Path, esp32_board):
    fw = tmp_path / "micropython.bin"
    fw.write_bytes(esp_image("esp32", b"app only".ljust(4096, b"\0")))
    with pytest.raises(FirmwareError) as e:
        build_factory_image(esp32_board, fw, tmp_path / "out.bin")
    assert str(e.value) == (
        f"{fw}: no partition table at flash 0x8000: this looks like the app alone (written at "
        "0x10000); use the full firmware .bin MicroPython publishes, which is written at 0x1000 "
        "and holds bootloader, partition table and app")


def test_build_factory_image__firmware_overlaps_vfs(tmp_path: Path, esp32_board):
    fw = tmp_path / "huge.bin"
    fw.write_bytes(standin_firmware("esp32", app_size=0x1F8000))
    with pytest.raises(FirmwareError) as e:
        build_factory_image(esp32_board, fw, tmp_path / "out.bin")
    end = 0x1000 + fw.stat().st_size
    assert str(e.value) == (
        f"{fw}: {fw.stat().st_size} bytes written at 0x1000 end at 0x{end:X}, past the vfs "
        "partition at 0x200000; the firmware and the app filesystem would overlap. Use a smaller "
        "firmware build or a board whose vfs starts later")


def test_build_vfs_image__app_too_large(esp32_board):
    with pytest.raises(ImageError) as e:
        build_vfs_image(esp32_board, build_time=WHEN, extra_files={"/lib/blob.bin": bytes(3 * MiB)})
    msg = str(e.value)
    assert msg.startswith("board esp32-mq4: the files do not fit in the vfs partition: ")
    assert msg.endswith("the partition is 2097152 bytes (512 blocks of 4096); /lib/blob.bin was "
                        "the first that did not fit. Leave modules out of the app or use a board "
                        "with more flash")


# --- the compiled app runs on the real MicroPython interpreter ---------------------------------

_MOUNT_AND_IMPORT = """
import vfs, sys, os
class Flash:
    def __init__(self, path):
        self.f = open(path, 'rb')
        self.f.seek(0, 2)
        self.n = self.f.tell() // 4096
    def readblocks(self, n, buf, off=0):
        self.f.seek(n * 4096 + off)
        self.f.readinto(buf)
    def writeblocks(self, n, buf, off=0):
        raise OSError(30)
    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return 4096
        return 0
vfs.mount(vfs.VfsLfs2(Flash(sys.argv[1]), readsize=32, progsize=32, lookahead=32), '/flash', readonly=True)
print('blocks', os.statvfs('/flash')[2])
sys.path.insert(0, '/flash/lib')
import protocol.cbor as cbor
print('roundtrip', cbor.loads(cbor.dumps({'seq': 7, 'gas': [1, 2]})) == {'seq': 7, 'gas': [1, 2]})
print('from', cbor.__file__ if hasattr(cbor, '__file__') else '?')
"""


def test_vfs_image__mounts_and_imports_on_micropython(tmp_path: Path, esp32_board):
    image = tmp_path / "vfs.bin"
    image.write_bytes(build_vfs_image(esp32_board, build_time=WHEN))
    script = tmp_path / "mount.py"
    script.write_text(_MOUNT_AND_IMPORT)
    env = {**os.environ, "MICROPYPATH": str(tmp_path / "empty")}  # nothing from the repo
    proc = subprocess.run([micropython_binary(), str(script), str(image)], capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    lines = proc.stdout.splitlines()
    assert "blocks 512" in lines
    assert "roundtrip True" in lines
    assert "from /flash/lib/protocol/cbor.mpy" in lines


def test_mpy_modules__import_from_micropypath(tmp_path: Path, esp32_board):
    lib = tmp_path / "lib"
    for path, data in vfs_files(esp32_board, build_time=WHEN).items():
        if path.startswith("/lib/"):
            dest = tmp_path / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
    assert not list(lib.rglob("*.py"))
    proc = subprocess.run(
        [micropython_binary(), "-c",
         "import protocol.cbor_encode as e, protocol.cbor_decode\nprint(e.__file__)"],
        capture_output=True, text=True, env={**os.environ, "MICROPYPATH": str(lib)}, timeout=60,
        check=False, cwd=tmp_path,  # not the repo: its protocol/ sources must not be found
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{lib}/protocol/cbor_encode.mpy"


# --- the command line --------------------------------------------------------------------------


def test_cli_build_and_inspect(tmp_path: Path, firmware: Path):
    from boards.image_cli import app

    out = tmp_path / "f.bin"
    runner = CliRunner()
    r = runner.invoke(app, ["build", "--board", "esp32-mq4", "--micropython", str(firmware),
                            "--out", str(out), "--app-version", "3.1.0"])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size == 4 * MiB
    r = runner.invoke(app, ["inspect", str(out), "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert (got["kind"], got["chip"], got["app"]["version"]) == ("factory", "esp32", "3.1.0")
    assert got["vfs"] == {"offset": 0x200000, "size": 0x200000, "block_size": 4096,
                          "block_count": 512, "used_blocks": got["vfs"]["used_blocks"]}


def test_cli_build__wrong_chip_exits_2(tmp_path: Path):
    from boards.image_cli import app

    fw = tmp_path / "c3.bin"
    fw.write_bytes(standin_firmware("esp32c3"))
    r = CliRunner().invoke(app, ["build", "--board", "esp32-mq4", "--micropython", str(fw),
                                 "--out", str(tmp_path / "f.bin")])
    assert r.exit_code == 2
    assert "built for ESP32-C3, but the board is an ESP32" in r.output
    assert not (tmp_path / "f.bin").exists()


def test_build_factory_image__out_folder_missing(tmp_path: Path, firmware: Path, esp32_board):
    out = tmp_path / "no" / "such" / "f.bin"
    with pytest.raises(ImageError) as e:
        build_factory_image(esp32_board, firmware, out)
    assert str(e.value) == (f"{out}: the folder {tmp_path / 'no' / 'such'} does not exist; create "
                            "it or choose another --out")


# --- the virtual board boots what would be flashed ---------------------------------------------


def test_virtual_board__boots_the_vfs_image(virtual_boards, tmp_path: Path):
    from utils.virtual_board import mpremote

    image = tmp_path / "vfs.bin"
    image.write_bytes(build_vfs_image("sim", app_version="9.9.9", build_time=WHEN))
    b = virtual_boards(image=image)
    r = mpremote(b.port, "exec",
                 "import sys, json, protocol.cbor as c\n"
                 "print(c.__file__)\n"
                 "print(sys.path)\n"
                 "print(json.load(open('/app.json'))['version'])\n"
                 "print(c.loads(c.dumps([1, 'gas'])))\n")
    assert r.stdout.splitlines() == [
        "/lib/protocol/cbor.mpy", "['', '.frozen', '/lib']", "9.9.9", "[1, 'gas']"]


def test_cli_inspect__problems_exit_1(factory: Path):
    from boards.image_cli import app

    r = CliRunner().invoke(app, ["inspect", str(factory), "--board", "esp32c3-mq5"],
                           env={"COLUMNS": "200"})
    assert r.exit_code == 1
    assert "problem: firmware for ESP32, but board esp32c3-mq5 is an ESP32-C3" in r.output
    assert "/lib/protocol/cbor.mpy" in r.output and "app 1.4.2" in r.output
