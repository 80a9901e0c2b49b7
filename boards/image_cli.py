"""`gasguard image`: build a factory image for a board, and read any image back.

The work is in boards/image.py; this module only parses arguments and prints (Rich tables, or
JSON with --json for scripts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from boards.app_bundle import REPO, AppBundleError, read_manifest
from boards.esp_firmware import FirmwareError, chip_name
from boards.image import ImageError, ImageReport, build_factory_image, build_vfs_image, inspect_image
from boards.registry import BoardError, load_board

app = typer.Typer(help="Factory images: MicroPython + the compiled app in a littlefs vfs, one file per board.",
                  no_args_is_help=True)
_ERRORS = (BoardError, FirmwareError, ImageError, AppBundleError)


def _fail(console: Console, e: Exception) -> typer.Exit:
    console.print(f"[red]error:[/] {e}", soft_wrap=True)
    return typer.Exit(2)


@app.command()
def build(
    board: Annotated[str, typer.Option("--board", "-b", help="board name (boards/defs) or .toml path")],
    micropython: Annotated[Path, typer.Option(help="MicroPython firmware .bin for the board's chip (e.g. ESP32_GENERIC-v1.29.0.bin)")],
    out: Annotated[Path | None, typer.Option(help="factory image to write (default: factory-<board>.bin)")] = None,
    app_version: Annotated[str | None, typer.Option(help="app version recorded in /app.json (default: firmware/manifest.py's)")] = None,
    vfs_out: Annotated[Path | None, typer.Option(help="also write the vfs image alone here")] = None,
) -> None:
    """Compile the app, build the board's vfs and merge it with MicroPython into one image."""
    console = Console(stderr=True)
    try:
        b = load_board(board)
        target = out or Path(f"factory-{b.name}.bin")
        img = build_factory_image(b, micropython, target, app_version=app_version)
        if vfs_out is not None:
            vfs_out.write_bytes(build_vfs_image(b, app_version=img.app_version))
    except _ERRORS as e:
        raise _fail(console, e) from None
    out = Console()
    out.print(f"{img.path}: {img.size} bytes, {chip_name(img.chip)}, board {img.board}, "
              f"app {img.app_version}", soft_wrap=True)
    t = Table()
    for col in ("region", "offset", "length"):
        t.add_column(col)
    for what, offset, length in img.regions:
        t.add_row(what, f"0x{offset:06X}", str(length))
    out.print(t)
    for file, why in read_manifest().left_out:
        console.print(f"left out (host-only): {Path(file).relative_to(REPO) if Path(file).is_relative_to(REPO) else file} ({why})")
    console.print(f"vfs: {img.vfs_used_blocks} of {img.vfs_block_count} blocks used; flash it with "
                  f"`gasguard flash --board {img.board} --port PORT {img.path}`")


def _summary(r: ImageReport) -> str:
    app = r.app or {}
    return (f"{r.path}: {r.kind} image, {r.size} bytes"
            + (f", {chip_name(r.chip)}" if r.chip else "")
            + (f", app {app.get('version')} built {app.get('built')} for {app.get('board')}" if app else ""))


def _files_table(r: ImageReport) -> Table:
    t = Table()
    for col in ("path", "size", "sha256"):
        t.add_column(col)
    digests = {f["path"]: f["sha256"][:12] for f in (r.app or {}).get("files", [])}
    for path, size in r.files.items():
        t.add_row(path, str(size), digests.get(path, ""))
    return t


@app.command()
def inspect(
    image: Annotated[Path, typer.Argument(help="factory image or bare vfs image")],
    board: Annotated[str | None, typer.Option("--board", "-b", help="also check the image against this board")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
) -> None:
    """List what a factory or vfs image holds: regions, files, sizes, app version."""
    console = Console(stderr=True)
    try:
        r = inspect_image(image, board=load_board(board) if board else None)
    except _ERRORS as e:
        raise _fail(console, e) from None
    if as_json:
        print(json.dumps(r.to_dict(), indent=1, sort_keys=True))
    else:
        out = Console()
        out.print(_summary(r), soft_wrap=True)
        if r.firmware_offset is not None:
            out.print(f"firmware: 0x{r.firmware_offset:06X}, {r.firmware_length} bytes")
        out.print(f"vfs: 0x{r.vfs_offset:06X}, {r.block_count} blocks of {r.block_size} "
                  f"({r.used_blocks} used)")
        out.print(_files_table(r))
    for p in r.problems:
        console.print(f"[yellow]problem:[/] {p}", soft_wrap=True)
    if r.problems:
        raise typer.Exit(1)
