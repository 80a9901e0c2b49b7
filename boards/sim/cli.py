"""`gasguard sim`: start a virtual board and drive a running one (gas, button, power, network)."""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import threading
from pathlib import Path

import typer

from boards.registry import BoardError
from boards.sim.board import SimError, VirtualBoard, repo_files
from boards.sim.control import ControlError, connect, running_boards

app = typer.Typer(help="The virtual board: `sim up` starts one; the other commands drive a running one "
                       "by its port or name.", no_args_is_help=True, add_completion=False)

BOARD_ARG = typer.Argument(..., help="the board's pty path (port: ...) or its name")


def _fail(msg: str) -> typer.Exit:
    typer.echo("error: " + msg, err=True)
    return typer.Exit(1)


@app.command("up")
def up(
    board: str = typer.Option("sim", "--board", help="board name (boards/defs) or .toml path"),
    image: Path | None = typer.Option(None, "--image", help="boot from this vfs image (copied unless --in-place)"),
    in_place: bool = typer.Option(False, "--in-place", help="boot the given image file itself and keep changes"),
    name: str | None = typer.Option(None, "--name", help="name to reach the board by (default: BOARD-<uid>)"),
    fleet: str | None = typer.Option(None, "--fleet", help="HOST:PORT of the fleet's CoAP ingest: start a "
                                     "network relay the board is provisioned with (net: line)"),
    lib: str = typer.Option("", "--lib", help="comma-separated repo folders to copy under /lib "
                            "(e.g. firmware,protocol) on a fresh image"),
    echo: bool = typer.Option(False, "--echo", help="also copy the board's console to stdout"),
    factory: bool = typer.Option(False, "--factory", help="boot a fresh factory vfs image of this "
                                 "checkout's app (boards.image.build_vfs_image) instead of an empty one"),
) -> None:
    """Start one board in the foreground: prints `port: PATH` first, runs until Ctrl-C or SIGTERM."""
    upstream = None
    if fleet:
        host, _, p = fleet.rpartition(":")
        if not host or not p.isdigit():
            raise _fail("--fleet %r: expected HOST:PORT, for example 127.0.0.1:5683" % fleet)
        upstream = (host, int(p))
    if factory and image is not None:
        raise _fail("--factory and --image both choose the image; give one")
    tmp = tempfile.TemporaryDirectory(prefix="gasguard-sim-up-")
    try:
        if factory:
            from boards.image import ImageError, build_vfs_image

            try:
                image = Path(tmp.name) / "factory-vfs.img"
                image.write_bytes(build_vfs_image(board))
            except ImageError as e:
                raise _fail(str(e)) from None
        files = repo_files(*[f for f in lib.split(",") if f]) if lib else None
        vb = VirtualBoard(board, image=image, in_place=in_place, files=files, name=name, net_upstream=upstream)
    except (BoardError, SimError) as e:
        tmp.cleanup()
        raise _fail(str(e)) from None
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    old_term = signal.signal(signal.SIGTERM, _stop)
    old_int = signal.signal(signal.SIGINT, _stop)
    try:
        vb.start()
        print("port: %s" % vb.port, flush=True)
        print("name: %s" % vb.name, flush=True)
        print("control: %s:%d" % vb.control_addr, flush=True)
        if vb.net is not None:
            print("net: %s:%d (provision this as the fleet address)" % vb.net.board_addr, flush=True)
        seen = len(vb.console)
        while not stop.wait(0.2):
            if echo and len(vb.console) > seen:
                sys.stdout.write(vb.console[seen:].decode(errors="replace"))
                sys.stdout.flush()
                seen = len(vb.console)
            if vb.dead_reason:
                typer.echo("error: " + vb.dead_reason, err=True)
                raise typer.Exit(1)
    except SimError as e:
        raise _fail(str(e)) from None
    finally:
        vb.stop()
        tmp.cleanup()
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)
    print("stopped %s" % vb.name, flush=True)


def _client(board: str):  # noqa: ANN202
    try:
        return connect(board)
    except ControlError as e:
        raise _fail(str(e)) from None


def _call(board: str, op: str, **args: object) -> object:
    try:
        return _client(board).call(op, **args)
    except ControlError as e:
        raise _fail(str(e)) from None


@app.command("list")
def list_cmd() -> None:
    """Running virtual boards: name, board, port."""
    for info in running_boards():
        typer.echo("%s\t%s\t%s" % (info["name"], info["board"], info["port"]))


@app.command("state")
def state_cmd(board: str = BOARD_ARG) -> None:
    """Power, valve, LEDs and recent boots, as JSON."""
    typer.echo(json.dumps(_call(board, "state"), indent=2))


@app.command("gas")
def gas_cmd(
    board: str = BOARD_ARG,
    gas: str = typer.Argument(..., help="methane, lpg, propane, butane, alcohol or cooking"),
    value: float = typer.Argument(..., help="%LEL (or ppm with --ppm)"),
    ppm: bool = typer.Option(False, "--ppm", help="value is in ppm"),
    ramp: float = typer.Option(0.0, "--ramp", help="reach the value linearly over this many seconds"),
    after: float = typer.Option(0.0, "--after", help="start this many seconds from now"),
) -> None:
    """Set one gas's concentration: a step, or a ramp with --ramp."""
    _call(board, "set_gas", gas=gas, value=value, unit="ppm" if ppm else "lel", ramp_s=ramp, after_s=after)


@app.command("climate")
def climate_cmd(board: str = BOARD_ARG,
                temp: float | None = typer.Option(None, "--temp", help="°C"),
                rh: float | None = typer.Option(None, "--rh", help="% relative humidity")) -> None:
    """Temperature and humidity around the sensor."""
    _call(board, "set_climate", temp_c=temp, rh_pct=rh)


@app.command("button")
def button_cmd(board: str = BOARD_ARG, ms: int = typer.Option(300, "--ms", help="press length")) -> None:
    """Press the board's button."""
    _call(board, "press_button", ms=ms)


@app.command("sensor")
def sensor_cmd(board: str = BOARD_ARG,
               wiring: str = typer.Argument(..., help="open, short or ok")) -> None:
    """Break the gas sensor (open: the ADC reads ~0 V), short it (full scale), or wire it again (ok)."""
    kinds = {"open": "open", "short": "short", "ok": None}
    if wiring not in kinds:
        raise _fail("sensor %r: expected open, short or ok" % wiring)
    _call(board, "sensor_fault", kind=kinds[wiring])


@app.command("power")
def power_cmd(board: str = BOARD_ARG,
              action: str = typer.Argument(..., help="cut, restore or brownout")) -> None:
    """Cut or restore the board's power, or dip it below the brown-out level."""
    ops = {"cut": "power_cut", "restore": "power_restore", "brownout": "brownout"}
    if action not in ops:
        raise _fail("power %r: expected cut, restore or brownout" % action)
    _call(board, ops[action])


@app.command("reset")
def reset_cmd(board: str = BOARD_ARG) -> None:
    """Press the reset (EN) button."""
    _call(board, "reset")


@app.command("net")
def net_cmd(
    board: str = BOARD_ARG,
    action: str = typer.Argument(..., help="cut, restore or degrade"),
    delay_ms: int | None = typer.Option(None, "--delay-ms"),
    jitter_ms: int | None = typer.Option(None, "--jitter-ms"),
    loss: float | None = typer.Option(None, "--loss", help="probability 0..1 of losing a datagram"),
) -> None:
    """Cut or restore the board's network, or degrade it (delay, jitter, loss)."""
    if action == "degrade":
        kw = {k: v for k, v in (("delay_ms", delay_ms), ("jitter_ms", jitter_ms), ("loss", loss)) if v is not None}
        typer.echo(json.dumps(_call(board, "net_degrade", **kw)))
    elif action in ("cut", "restore"):
        _call(board, "net_" + action)
    else:
        raise _fail("net %r: expected cut, restore or degrade" % action)


@app.command("valve")
def valve_cmd(board: str = BOARD_ARG, action: str = typer.Argument(..., help="reopen")) -> None:
    """Reopen the shutoff valve by hand, as a person on site does (the firmware never can)."""
    if action != "reopen":
        raise _fail("valve %r: the only action is reopen" % action)
    _call(board, "valve_reopen")


@app.command("events")
def events_cmd(board: str = BOARD_ARG,
               kind: str | None = typer.Option(None, "--kind", help="led, buzzer, valve, power, reset, boot..."),
               since: int = typer.Option(0, "--since", help="launcher ms")) -> None:
    """Timestamped events (LEDs, buzzer, valve, power, resets), one JSON object a line."""
    for e in _call(board, "events", kind=kind, since=since):  # type: ignore[union-attr]
        typer.echo(json.dumps(e))


@app.command("console")
def console_cmd(board: str = BOARD_ARG) -> None:
    """What the board printed on its console so far."""
    typer.echo(_call(board, "console"))
