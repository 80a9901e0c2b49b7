"""`gasguard boards`: list, show and check board definitions (boards/defs/*.toml)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from boards.registry import BoardError, list_boards, load_board

app = typer.Typer(help="Board definitions: list, show, check.", no_args_is_help=True,
                  add_completion=False)
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


@app.command("list")
def list_cmd() -> None:
    """One line per shipped board."""
    table = Table("name", "chip", "flash", "sensor", "valve", "power")
    for name in list_boards():
        b = load_board(name)
        table.add_row(
            b.name, b.chip, "%d MB" % (b.flash_size // 0x100000),
            "%s %s" % (b.sensor.kind.upper(), b.sensor.gas),
            "%s, normally %s" % (b.valve.kind, b.valve.normally),
            b.power.source,
        )
    _out.print(table)


@app.command("show")
def show_cmd(
    name: str = typer.Argument(..., help="board name or path of a .toml file"),
    as_json: bool = typer.Option(False, "--json", help="print /board.json as the device sees it"),
) -> None:
    """Everything about one board (with --json: the device's /board.json)."""
    try:
        b = load_board(name)
    except BoardError as e:
        _err.print(str(e), markup=False)
        raise typer.Exit(1) from None
    d = b.to_device_dict()
    if as_json:
        _out.print(json.dumps(d, indent=2, sort_keys=True), markup=False)
        return
    _out.print("%s: %s" % (b.name, b.description), markup=False)
    _out.print("  file: %s" % b.path, markup=False)
    _out.print("  chip: %s%s, flash %d MB" % (b.chip, " (virtual)" if b.virtual else "",
                                              b.flash_size // 0x100000), markup=False)
    o = b.offsets
    _out.print("  offsets: bootloader 0x%X, partition table 0x%X, app 0x%X, vfs 0x%X"
               % (o.bootloader, o.partition_table, o.app, o.vfs), markup=False)
    _out.print("  vfs: %d bytes = %d blocks of %d" % (b.vfs_size, b.block_count, b.block_size),
               markup=False)
    _out.print("  pins: " + ", ".join("%s=%d" % kv for kv in d["pins"].items()), markup=False)
    _out.print("  sensor: " + ", ".join("%s=%s" % kv for kv in d["sensor"].items()), markup=False)
    _out.print("  valve: " + ", ".join("%s=%s" % kv for kv in d["valve"].items()), markup=False)
    _out.print("  power: " + ", ".join("%s=%s" % kv for kv in d["power"].items()), markup=False)
    for w in b.warnings:
        _out.print("warning: " + w, markup=False)


@app.command("check")
def check_cmd(path: Path = typer.Argument(..., help="a board .toml file")) -> None:
    """Validate a board file: exit 0 when usable (warnings are printed), 1 with every problem."""
    try:
        b = load_board(path)
    except BoardError as e:
        for line in e.problems:
            _err.print("error: " + line, markup=False)
        raise typer.Exit(1) from None
    for w in b.warnings:
        _out.print("warning: " + w, markup=False)
    _out.print("ok: %s (%s)" % (b.path, b.name), markup=False)
