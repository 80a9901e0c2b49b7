"""Factory images: MicroPython firmware plus a littlefs vfs holding the compiled app, one file.

What this module is: the maker's build (`build_factory_image`), the vfs image alone
(`build_vfs_image`, which the virtual board boots from, so what is tested is what is flashed),
and reading either kind of image back (`inspect_image`). What it is not: flashing
(boards/flash.py) or provisioning (site configuration is written later, on site, by mpremote).

A factory image is the whole flash of one board: the MicroPython firmware `.bin` at the chip's
bootloader offset (0x1000 on ESP32, 0x0 on C3/S3), 0xFF up to the vfs offset, and the vfs
image from there to the end of flash; esptool's merge-bin puts them together. The vfs holds:

- `/boot.py`, `/main.py` (source: MicroPython runs them by file name),
- `/lib/<package>/<module>.mpy` (firmware/ and protocol/, compiled by mpy-cross),
- `/board.json` (the board file as the firmware reads it, `Board.to_device_dict()`),
- `/app.json` (app version, build time, board, and every other file's size and sha256).

The build time comes from SOURCE_DATE_EPOCH when set, so two builds of one tree can be
byte-identical.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from boards import vfs_image
from boards.app_bundle import MANIFEST, build_app_files, read_manifest
from boards.esp_firmware import CHIP_BY_ID, ESP_IMAGE_MAGIC, FirmwareInfo, chip_name, read_firmware
from boards.registry import Board, load_board

APP_JSON = "/app.json"
BOARD_JSON = "/board.json"
APP_NAME = "gasguard"
MPY_VERSION = "6.3"


class ImageError(ValueError):
    """A factory or vfs image cannot be built or read; the message says what and how to fix."""


def _board(board: Board | str | Path) -> Board:
    return board if isinstance(board, Board) else load_board(board)


def _build_time(build_time: datetime | None) -> str:
    if build_time is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        build_time = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return build_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def vfs_files(board: Board | str | Path, *, app_version: str | None = None,
              build_time: datetime | None = None, extra_files: Mapping[str, bytes] | None = None,
              manifest: Path = MANIFEST) -> dict[str, bytes]:
    """Every file the board's vfs starts with: the compiled app, /board.json and /app.json.

    extra_files (path -> bytes) are added as they are, for tests and tools that need a file more
    (a provisioned configuration, say); they are listed in /app.json like the rest.
    """
    b = _board(board)
    m = read_manifest(manifest)
    files = build_app_files(m)
    files[BOARD_JSON] = _json_bytes(b.to_device_dict())
    for path, data in (extra_files or {}).items():
        if path in (APP_JSON,):
            raise ImageError(f"{path}: written by the image build itself; do not pass it")
        files[path] = bytes(data)
    version = app_version or m.version
    if not version:
        raise ImageError(f"{m.path}: metadata(version=...) is missing; give --app-version")
    files[APP_JSON] = _json_bytes({
        "app": APP_NAME,
        "version": version,
        "built": _build_time(build_time),
        "board": b.name,
        "chip": b.chip,
        "mpy": MPY_VERSION,
        "files": [
            {"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
            for p, d in sorted(files.items())
        ],
    })
    return files


def build_vfs_image(board: Board | str | Path, *, app_version: str | None = None,
                    build_time: datetime | None = None,
                    extra_files: Mapping[str, bytes] | None = None,
                    manifest: Path = MANIFEST) -> bytes:
    """The board's vfs partition image, exactly vfs.size bytes: what a factory image carries.

    The virtual board boots from this, and build_factory_image() flashes the same bytes.
    Raises ImageError when the app does not fit.
    """
    b = _board(board)
    files = vfs_files(b, app_version=app_version, build_time=build_time,
                      extra_files=extra_files, manifest=manifest)
    try:
        return vfs_image.pack(files, block_size=b.block_size, block_count=b.block_count)
    except vfs_image.VfsImageError as e:
        raise ImageError(f"board {b.name}: {e}") from None


@dataclass(frozen=True)
class FactoryImage:
    """What build_factory_image() wrote."""

    path: Path
    size: int
    board: str
    chip: str
    app_version: str
    firmware: FirmwareInfo
    regions: tuple[tuple[str, int, int], ...]  # (what, offset, length)
    vfs_used_blocks: int
    vfs_block_count: int


def build_factory_image(board: Board | str | Path, micropython: str | Path, out: str | Path, *,
                        app_version: str | None = None, build_time: datetime | None = None,
                        manifest: Path = MANIFEST) -> FactoryImage:
    """Merge the MicroPython firmware and the board's vfs image into one flash image at `out`.

    Inputs are checked first (firmware chip and layout, app size), so a refused build leaves
    no file behind and never replaces an existing `out`.
    """
    import esptool.cmds  # esptool pulls in a lot; load it only to merge

    b = _board(board)
    o = b.offsets
    fw = read_firmware(micropython, chip=b.chip, bootloader_offset=o.bootloader,
                       partition_table_offset=o.partition_table, app_offset=o.app, vfs_offset=o.vfs)
    if o.vfs + b.vfs_size != b.flash_size:
        raise ImageError(f"board {b.name}: vfs 0x{o.vfs:X}+0x{b.vfs_size:X} does not end at the "
                         f"flash size 0x{b.flash_size:X}")
    vfs = build_vfs_image(b, app_version=app_version, build_time=build_time, manifest=manifest)
    contents = vfs_image.read(vfs)  # read back what will be flashed, as the board will mount it
    version = json.loads(contents.files[APP_JSON])["version"]
    out_path = Path(out)
    if not out_path.parent.is_dir():
        raise ImageError(f"{out_path}: the folder {out_path.parent} does not exist; create it or "
                         "choose another --out")
    tmp = out_path.with_name(out_path.name + ".partial")
    fw_bytes = Path(micropython).read_bytes()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # esptool's own chatter
            esptool.cmds.merge_bin(
                [(o.bootloader, fw_bytes), (o.vfs, vfs)], b.chip, output=str(tmp),
                pad_to_size=f"{b.flash_size // 0x100000}MB",
            )
        size = tmp.stat().st_size
        if size != b.flash_size:
            raise ImageError(f"merge-bin wrote {size} bytes, expected the flash size {b.flash_size}")
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return FactoryImage(
        path=out_path, size=b.flash_size, board=b.name, chip=b.chip, app_version=version,
        firmware=fw,
        regions=(("firmware", o.bootloader, len(fw_bytes)), ("vfs", o.vfs, len(vfs))),
        vfs_used_blocks=contents.used_blocks, vfs_block_count=b.block_count,
    )


@dataclass
class ImageReport:
    """What inspect_image() found."""

    path: str
    kind: str  # "factory" or "vfs"
    size: int
    vfs_offset: int
    block_size: int
    block_count: int
    used_blocks: int
    files: dict[str, int]  # path -> size
    app: dict[str, Any] | None
    chip: str | None = None
    firmware_offset: int | None = None
    firmware_length: int | None = None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "kind": self.kind, "size": self.size, "chip": self.chip,
            "firmware": None if self.firmware_offset is None else
            {"offset": self.firmware_offset, "length": self.firmware_length},
            "vfs": {"offset": self.vfs_offset, "size": self.block_size * self.block_count,
                    "block_size": self.block_size, "block_count": self.block_count,
                    "used_blocks": self.used_blocks},
            "app": self.app, "files": self.files, "problems": self.problems,
        }


def _find_vfs(data: bytes) -> int | None:
    """Offset of the littlefs region that runs to the end of the image (as on a board)."""
    for block in range(0, len(data) - 32, 4096):
        if data[block + 8 : block + 16] != b"littlefs":
            continue
        size = int.from_bytes(data[block + 24 : block + 28], "little")
        count = int.from_bytes(data[block + 28 : block + 32], "little")
        start = len(data) - size * count
        if size and start >= 0 and start in (block, block - size):
            return start
    return None


def _app_check(files: dict[str, bytes]) -> tuple[dict[str, Any] | None, list[str]]:
    raw = files.get(APP_JSON)
    if raw is None:
        return None, [f"no {APP_JSON}: this filesystem was not made by gasguard image build"]
    try:
        app = json.loads(raw)
    except ValueError as e:
        return None, [f"{APP_JSON} is not valid JSON ({e})"]
    problems = []
    listed = {f["path"]: f for f in app.get("files", [])}
    for path, entry in listed.items():
        data = files.get(path)
        if data is None:
            problems.append(f"{path}: listed in {APP_JSON} but missing")
        elif hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            problems.append(f"{path}: changed since the build (sha256 differs from {APP_JSON})")
    return app, problems


def inspect_image(image: str | Path | bytes, *, board: Board | str | Path | None = None) -> ImageReport:
    """Read a factory image or a bare vfs image back: regions, files, sizes, app version.

    With a board, the image is also checked against its layout (flash size, vfs offset, block
    count, chip); mismatches are listed in `problems`.
    """
    if isinstance(image, bytes):
        name, data = "<bytes>", image
    else:
        p = Path(image)
        if not p.is_file():
            raise ImageError(f"{p}: no such file")
        name, data = str(p), p.read_bytes()
    b = _board(board) if board is not None else None
    if data[8:16] == b"littlefs" or data[4096 + 8 : 4096 + 16] == b"littlefs":
        kind, vfs_at = "vfs", 0
    else:
        kind = "factory"
        found = b.offsets.vfs if b is not None else _find_vfs(data)
        if found is None:
            raise ImageError(f"{name}: no littlefs filesystem found: neither a factory image nor a "
                             "vfs image from gasguard image build")
        vfs_at = found
    try:
        vfs = vfs_image.read(data[vfs_at:])
    except vfs_image.VfsImageError as e:
        raise ImageError(f"{name}: the filesystem at 0x{vfs_at:X}: {e}") from None
    app, problems = _app_check(vfs.files)
    report = ImageReport(
        path=name, kind=kind, size=len(data), vfs_offset=vfs_at, block_size=vfs.block_size,
        block_count=vfs.block_count, used_blocks=vfs.used_blocks,
        files={k: len(v) for k, v in vfs.files.items()}, app=app, problems=problems,
    )
    if kind == "factory":
        fw_at = next((o for o in (0x0, 0x1000, 0x2000) if data[o] == ESP_IMAGE_MAGIC), None)
        if fw_at is None:
            problems.append("no ESP image header at 0x0, 0x1000 or 0x2000: no bootloader")
        else:
            report.firmware_offset = fw_at
            report.chip = CHIP_BY_ID.get(int.from_bytes(data[fw_at + 12 : fw_at + 14], "little"))
            end = len(data[:vfs_at].rstrip(b"\xff"))
            report.firmware_length = max(0, end - fw_at)
    if b is not None:
        if kind == "factory" and len(data) != b.flash_size:
            problems.append(f"{len(data)} bytes, but board {b.name} has 0x{b.flash_size:X} of flash")
        if kind == "factory" and report.chip and report.chip != b.chip:
            problems.append(f"firmware for {chip_name(report.chip)}, but board {b.name} is an "
                            f"{chip_name(b.chip)}")
        if (vfs.block_size, vfs.block_count) != (b.block_size, b.block_count):
            problems.append(f"vfs has {vfs.block_count} blocks of {vfs.block_size}, board {b.name} "
                            f"needs {b.block_count} of {b.block_size}: it would not mount")
    return report
