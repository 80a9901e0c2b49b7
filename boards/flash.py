"""`gasguard flash`: write a factory image to one board or many at once, and record each board.

What this module is: checks (the image against the board file, each port before esptool opens
it), a plan per port that can be shown without touching hardware (`--dry-run` prints the
equivalent esptool command line), the flashing itself through esptool's Python API with a Rich
progress bar per port, and a manufacturing record per board (chip, MAC, model, image) that goes
to a local JSON-lines + CSV file first and then to the fleet. What it is not: provisioning (the
site configuration and the device key are written on site, by `gasguard provision`).

Design choices:
- One factory image is the whole flash, so it is written at 0x0 in one piece; esptool 5 checks
  every write with an MD5 of the flash afterwards ("Hash of data verified"), and a mismatch fails
  that board.
- Several ports flash in parallel threads; esptool's logger is process-wide, so a logger of ours
  sends each thread's output and progress to that port's own row.
- The record is written locally before the fleet is tried: an unreachable fleet never loses a
  record, it is marked `fleet: pending` and can be sent again (`--resend`).
- The recorder is a plain function (record -> None) so tests and other tools can pass their own.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol

import serial
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from boards.esp_firmware import chip_name
from boards.image import ImageError, inspect_image
from boards.registry import Board, BoardError, load_board

BAUD_RATES = (115200, 230400, 460800, 921600, 1500000, 2000000)
DEFAULT_BAUD = 460800
FLASH_OFFSET = 0x0
MANUFACTURING_PATH = "/api/v1/manufacturing"  # the fleet API lives under /api/v1
DEFAULT_RECORDS = Path("manufacturing-records.jsonl")
# esptool's own default is 7; each attempt runs its reset sequences, and a board that will
# answer at all answers in the first (a board held in download mode by hand is already there).
CONNECT_ATTEMPTS = 3
CSV_FIELDS = ("flashed_at", "port", "result", "device_id", "board", "model", "chip",
              "chip_description", "mac", "unique_id", "flash_size", "app_version", "image_sha256",
              "seconds", "fleet", "error")
DEVICE_ID_PREFIX = "gg-"  # the fleet's device ids are gg-<chip uid hex>


class FlashError(RuntimeError):
    """A board cannot be flashed; the message says which port or file and what to do."""


# ---------------------------------------------------------------------------------------------
# checks


@dataclass(frozen=True)
class ImageFacts:
    """A factory image that passed the checks for a board."""

    path: Path
    size: int
    sha256: str
    app_version: str | None
    chip: str


def check_image(path: str | Path, board: Board) -> ImageFacts:
    """A factory image for this board: whole-flash size, the board's chip, a vfs that mounts."""
    p = Path(path)
    if not p.is_file():
        raise FlashError(f"{p}: no such file; build one with `gasguard image build --board "
                         f"{board.name} --micropython FIRMWARE.bin --out {p}`")
    try:
        report = inspect_image(p, board=board)
    except ImageError as e:
        raise FlashError(f"{e}; build the image with `gasguard image build --board {board.name}`") from None
    if report.kind != "factory":
        raise FlashError(f"{p}: a bare vfs image, not a factory image; flash the factory image "
                         "from `gasguard image build` (it holds the MicroPython firmware too)")
    if report.problems:
        raise FlashError(f"{p}: not a factory image for board {board.name}: "
                         + "; ".join(report.problems))
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    version = report.app.get("version") if report.app else None
    return ImageFacts(p, report.size, digest, version, board.chip)


def _holders(port: str) -> list[str]:
    """'pid (command)' of processes holding the port open (Linux /proc; empty elsewhere)."""
    try:
        target = os.path.realpath(port)
        out = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            fd_dir = f"/proc/{pid}/fd"
            try:
                for fd in os.listdir(fd_dir):
                    if os.path.realpath(os.path.join(fd_dir, fd)) == target:
                        with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
                            out.append(f"{pid} ({f.read().strip()})")
                        break
            except OSError:
                continue
        return out
    except OSError:
        return []


def check_port(port: str) -> None:
    """Open the port as esptool will (exclusively) and close it; a clear error if it cannot be."""
    if "://" not in port and not os.path.exists(port):
        raise FlashError(
            f"{port}: no such serial port; plug the board in and check the name "
            "(`python -m serial.tools.list_ports` lists them; on Linux /dev/ttyUSB0 or /dev/ttyACM0)"
        )
    try:
        s = serial.serial_for_url(port, exclusive=True, do_not_open=True)
        s.open()
        s.close()
    except (serial.SerialException, OSError) as e:
        text = str(e)
        code = getattr(e, "errno", None)
        if code in (errno.EBUSY, errno.EAGAIN) or "lock" in text.lower() or "busy" in text.lower():
            who = _holders(port)
            held = f" (held by {', '.join(who)})" if who else ""
            raise FlashError(
                f"{port}: the port is busy{held}; close the program using it (a serial monitor, "
                "mpremote, another flash) and try again"
            ) from None
        if code == errno.EACCES or "permission" in text.lower():
            raise FlashError(f"{port}: permission denied; add yourself to the dialout group "
                             "(sudo usermod -aG dialout $USER) and log in again") from None
        raise FlashError(f"{port}: cannot open it ({text})") from None


# ---------------------------------------------------------------------------------------------
# the plan


@dataclass(frozen=True)
class FlashPlan:
    """What flashing one port does, decided before any hardware is touched."""

    port: str
    board: str
    chip: str
    flash_size: int
    baud: int
    image: Path
    image_size: int
    image_sha256: str
    app_version: str | None
    model: str
    offset: int = FLASH_OFFSET
    before: str = "default-reset"
    after: str = "hard-reset"

    def steps(self) -> list[str]:
        """The steps in order, as shown by --dry-run."""
        return [
            f"connect to {self.port} at 115200 baud ({self.before}) and detect the chip",
            f"refuse anything but an {chip_name(self.chip)}",
            "read the chip description and MAC address",
            f"refuse a flash smaller than 0x{self.flash_size:X} bytes",
            f"load the flasher stub and switch to {self.baud} baud",
            f"write {self.image.name} ({self.image_size} bytes) at 0x{self.offset:X} and verify "
            "its MD5 in flash",
            f"{self.after} the board",
        ]

    def esptool_argv(self) -> list[str]:
        """The esptool command line that does the same write (for people and scripts)."""
        return [
            "esptool", "--chip", self.chip, "--port", self.port, "--baud", str(self.baud),
            "--before", self.before, "--after", self.after,
            "write-flash", "--flash-size", "keep", f"0x{self.offset:X}", str(self.image),
        ]


def plan_flash(ports: Sequence[str], board: Board, image: str | Path, *, baud: int = DEFAULT_BAUD,
               model: str | None = None) -> list[FlashPlan]:
    """One plan per port, after checking the arguments and the image (not the ports)."""
    if not ports:
        raise FlashError("no port given; name at least one with --port (repeat it to flash several)")
    dup = sorted({p for p in ports if list(ports).count(p) > 1})
    if dup:
        raise FlashError(f"--port {dup[0]} is given more than once; each board needs its own port")
    if board.virtual:
        raise FlashError(f"board {board.name} is the virtual board (virtual = true): it runs under "
                         "`gasguard sim`, not on hardware; flash a real board file such as esp32-mq4")
    if baud not in BAUD_RATES:
        raise FlashError(f"--baud {baud}: not a rate esptool's flasher stub uses; choose one of "
                         + ", ".join(str(b) for b in BAUD_RATES))
    facts = check_image(image, board)
    return [
        FlashPlan(port=p, board=board.name, chip=board.chip, flash_size=board.flash_size, baud=baud,
                  image=facts.path, image_size=facts.size, image_sha256=facts.sha256,
                  app_version=facts.app_version, model=model or board.name)
        for p in ports
    ]


# ---------------------------------------------------------------------------------------------
# running a plan


@dataclass(frozen=True)
class DeviceFacts:
    """What the board told esptool about itself."""

    chip: str
    description: str
    mac: str  # "24:0a:c4:12:34:56"
    flash_size: int | None

    @property
    def unique_id(self) -> str:
        """machine.unique_id().hex() on the board: on ESP32 it is the base MAC."""
        return self.mac.replace(":", "")


Progress_ = Callable[[int, int], None]


class Runner(Protocol):
    def __call__(self, plan: FlashPlan, progress: Progress_, note: Callable[[str], None]) -> DeviceFacts:
        ...


class _ThreadLog:
    """esptool's logger, routed per thread: each port's output and progress go to its own row.

    esptool's logger is one object per process; acquire() puts ours in place while any runner is
    active (counted, so parallel runners share it) and the last one out restores the previous."""

    local = threading.local()
    _lock = threading.Lock()
    _users = 0
    _previous: Any = None

    @classmethod
    def _make(cls) -> Any:
        from esp_pylib.logger import EspLogBase

        class Routed(EspLogBase):
            def _note(self, *args: Any) -> None:
                fn = getattr(cls.local, "note", None)
                if fn is not None:
                    fn(" ".join(str(a) for a in args).strip())

            def print(self, *args: Any, **kwargs: Any) -> None:
                self._note(*args)

            def err(self, *args: Any, suggestion: str | None = None) -> None:
                self._note(*args)

            def warn(self, *args: Any, suggestion: str | None = None) -> None:
                self._note(*args)

            def note(self, *args: Any) -> None:
                self._note(*args)

            def hint(self, *args: Any) -> None:
                pass

            def debug(self, *args: Any) -> None:
                pass

            def warning(self, message: str, suggestion: str | None = None) -> None:
                self._note(message)

            def error(self, message: str, suggestion: str | None = None) -> None:
                self._note(message)

            def set_verbosity(self, mode: int | str) -> None:
                pass

            def progress_bar(self, cur_iter: int, total_iters: int, prefix: str = "",
                             suffix: str = "", bar_length: int = 30) -> None:
                fn = getattr(cls.local, "progress", None)
                if fn is not None:
                    fn(cur_iter, total_iters)

        return Routed()

    @classmethod
    def acquire(cls) -> None:
        from esp_pylib.logger import EspLog

        with cls._lock:
            if cls._users == 0:
                cls._previous = EspLog.instance
                EspLog.set_logger(cls._make())
            cls._users += 1

    @classmethod
    def release(cls) -> None:
        from esp_pylib.logger import EspLog

        with cls._lock:
            cls._users -= 1
            if cls._users == 0:
                EspLog.instance = cls._previous


def esptool_runner(plan: FlashPlan, progress: Progress_, note: Callable[[str], None]) -> DeviceFacts:
    """Flash one board with esptool's Python API, following plan.steps()."""
    from esptool.cmds import (
        attach_flash,
        detect_chip,
        detect_flash_size,
        flash_size_bytes,
        reset_chip,
        run_stub,
        write_flash,
    )
    from esptool.util import FatalError

    _ThreadLog.acquire()
    _ThreadLog.local.progress = progress
    _ThreadLog.local.note = note
    esp = None
    try:
        check_port(plan.port)
        try:
            esp = detect_chip(plan.port, 115200, plan.before, connect_attempts=CONNECT_ATTEMPTS)
        except FatalError as e:
            raise FlashError(
                f"{plan.port}: no ESP bootloader answered ({str(e).strip()}); check the cable, "
                "hold BOOT while pressing RESET if the board has no auto-reset, and try again"
            ) from None
        found = esp.CHIP_NAME.lower().replace("-", "")
        if found != plan.chip:
            raise FlashError(f"{plan.port}: the board is an {esp.CHIP_NAME}, but board file "
                             f"{plan.board} is for an {chip_name(plan.chip)}; use the right "
                             "--board and image")
        facts_desc = esp.get_chip_description()
        mac = ":".join(f"{b:02x}" for b in esp.read_mac())
        esp = run_stub(esp)
        if plan.baud != 115200:
            esp.change_baud(plan.baud)
        attach_flash(esp)
        detected = detect_flash_size(esp)
        size = flash_size_bytes(detected) if detected else None
        if size is not None and size < plan.flash_size:
            raise FlashError(f"{plan.port}: the board has {detected} of flash, the image needs "
                             f"0x{plan.flash_size:X}; use a board file for its flash size")
        try:
            write_flash(esp, [(plan.offset, plan.image.read_bytes())], flash_size="keep")
        except FatalError as e:
            raise FlashError(f"{plan.port}: writing failed: {str(e).strip()}") from None
        reset_chip(esp, plan.after)
        return DeviceFacts(found, facts_desc, mac, size)
    finally:
        _ThreadLog.local.progress = None
        _ThreadLog.local.note = None
        _ThreadLog.release()
        if esp is not None:
            esp._port.close()


# ---------------------------------------------------------------------------------------------
# records


Recorder = Callable[[dict[str, Any]], None]


def http_recorder(fleet_url: str, *, token: str | None = None, timeout_s: float = 10.0) -> Recorder:
    """A recorder that POSTs each record as JSON to the fleet's manufacturing endpoint, with
    `token` (a maker's API token: `gasguard users token`) as its bearer token. The fleet answers
    201 for a new chip and 200 for one it has (a resend changes nothing)."""
    import httpx

    url = fleet_url.rstrip("/") + MANUFACTURING_PATH
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def record(rec: dict[str, Any]) -> None:
        r = httpx.post(url, json=rec, headers=headers, timeout=timeout_s)
        if r.status_code >= 300:
            hint = " (--token / GASGUARD_FLEET_TOKEN must be a maker's API token)" if r.status_code in (401, 403) else ""
            raise FlashError(f"the fleet refused the record: {r.status_code} {r.text[:200]}{hint}")

    return record


@dataclass
class RecordLog:
    """The local copy of every manufacturing record: JSON lines, plus a CSV for spreadsheets."""

    path: Path
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def csv_path(self) -> Path:
        return self.path.with_suffix(".csv")

    def append(self, rec: dict[str, Any], *, spreadsheet: bool = True) -> None:
        """Add a line to the JSON-lines file; and a row to the CSV unless spreadsheet=False
        (an intermediate state that a later line replaces)."""
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec, sort_keys=True) + "\n")
            if not spreadsheet:
                return
            new = not self.csv_path.exists()
            with open(self.csv_path, "a", encoding="utf-8", newline="") as f:
                w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
                if new:
                    w.writeheader()
                w.writerow(rec)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


def resend_pending(log: RecordLog, recorder: Recorder) -> tuple[int, int]:
    """Send again every record whose latest state is `fleet: pending`; (sent, still pending).

    A sent record is appended again with `fleet: recorded`; the older line stays (append-only).
    """
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in log.read():
        latest[(rec.get("unique_id") or rec["port"], rec["flashed_at"])] = rec
    sent = pending = 0
    for rec in latest.values():
        if rec.get("fleet") != "pending" or rec.get("result") != "ok":
            continue
        try:
            recorder(_fleet_view(rec))
        except Exception:
            pending += 1
            continue
        log.append({**rec, "fleet": "recorded"})
        sent += 1
    return sent, pending


def _fleet_view(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in ("fleet", "port")}


# ---------------------------------------------------------------------------------------------
# flashing many


@dataclass
class PortResult:
    plan: FlashPlan
    ok: bool
    device: DeviceFacts | None = None
    error: str | None = None
    fleet: str = "not sent"
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def flash_many(plans: Sequence[FlashPlan], *, runner: Runner = esptool_runner,
               recorder: Recorder | None = None, records: RecordLog | None = None,
               console: Console | None = None, clock: Callable[[], datetime] | None = None
               ) -> list[PortResult]:
    """Flash every plan at once (one thread per port), record each board; results in plan order."""
    console = console or Console(stderr=True)
    now = clock or (lambda: datetime.now(UTC))
    progress = Progress(
        TextColumn("{task.fields[port]:<14}"), BarColumn(), DownloadColumn(),
        TimeRemainingColumn(), TextColumn("{task.fields[state]}"),
        console=console, transient=False,
    )

    def one(plan: FlashPlan, task: Any) -> PortResult:
        result = PortResult(plan, ok=False)
        sizes = {"total": plan.image_size}

        def on_progress(done: int, total: int) -> None:
            # esptool counts the compressed bytes it sends
            sizes["total"] = total
            progress.update(task, completed=done, total=total, state="writing")

        def on_note(text: str) -> None:
            if text:
                result.notes.append(text)

        started = time.monotonic()
        try:
            result.device = runner(plan, on_progress, on_note)
            result.ok = True
            progress.update(task, completed=sizes["total"], state="[green]verified")
        except FlashError as e:
            result.error = str(e)
            progress.update(task, state="[red]failed")
        except Exception as e:  # a bug or a lost cable must not stop the other ports
            result.error = f"{plan.port}: {type(e).__name__}: {e}"
            progress.update(task, state="[red]failed")
        result.seconds = time.monotonic() - started
        rec = _record(plan, result, now())
        if result.ok and recorder is not None:
            # the local copy first, as pending: nothing is lost if the fleet is unreachable
            rec["fleet"] = result.fleet = "pending"
            if records is not None:
                records.append(rec, spreadsheet=False)
            try:
                recorder(_fleet_view(rec))
                rec["fleet"] = result.fleet = "recorded"
            except Exception as e:
                result.notes.append(f"fleet: {e}")
        if records is not None:
            records.append(rec)
        return result

    with progress:
        tasks = [progress.add_task("flash", total=p.image_size, port=p.port, state="waiting")
                 for p in plans]
        with ThreadPoolExecutor(max_workers=max(1, len(plans))) as pool:
            futures = [pool.submit(one, p, t) for p, t in zip(plans, tasks, strict=True)]
            return [f.result() for f in futures]


def _record(plan: FlashPlan, r: PortResult, at: datetime) -> dict[str, Any]:
    d = r.device
    return {
        "flashed_at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "port": plan.port,
        "result": "ok" if r.ok else "failed",
        "board": plan.board,
        "model": plan.model,
        "chip": d.chip if d else plan.chip,
        "chip_description": d.description if d else None,
        "mac": d.mac if d else None,
        "unique_id": d.unique_id if d else None,
        "device_id": DEVICE_ID_PREFIX + d.unique_id if d else None,
        "flash_size": d.flash_size if d else None,
        "app_version": plan.app_version,
        "image_sha256": plan.image_sha256,
        "seconds": round(r.seconds, 1),
        "fleet": "not sent",
        "error": r.error,
    }


def summary_table(results: Sequence[PortResult]) -> Table:
    """One row per port: result, chip, MAC, fleet record state, and the error if any."""
    t = Table(title="flash summary")
    for col in ("port", "result", "seconds", "chip", "MAC", "fleet", "error"):
        t.add_column(col)
    for r in results:
        t.add_row(
            r.plan.port,
            "[green]ok" if r.ok else "[red]failed",
            f"{r.seconds:.1f}",
            r.device.description if r.device else "",
            r.device.mac if r.device else "",
            r.fleet,
            r.error or "",
        )
    return t


# ---------------------------------------------------------------------------------------------
# the command


def flash(
    image: Annotated[Path | None, typer.Argument(help="factory image from `gasguard image build`")] = None,
    port: Annotated[list[str], typer.Option("--port", "-p", help="serial port; repeat to flash several boards at once")] = [],  # noqa: B006
    board: Annotated[str, typer.Option("--board", "-b", help="board name (boards/defs) or .toml path")] = "",
    baud: Annotated[int, typer.Option(help="baud rate for writing")] = DEFAULT_BAUD,
    model: Annotated[str | None, typer.Option(help="device model recorded with the fleet (default: the board name)")] = None,
    fleet: Annotated[str | None, typer.Option(help="fleet base URL for manufacturing records", envvar="GASGUARD_FLEET_URL")] = None,
    token: Annotated[str | None, typer.Option(help="a maker's API token for the fleet (gasguard users token)",
                                              envvar="GASGUARD_FLEET_TOKEN", show_default=False)] = None,
    records: Annotated[Path, typer.Option(help="local JSON-lines record file (a .csv is kept beside it)")] = DEFAULT_RECORDS,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check everything and print the plan; touch no board")] = False,
    resend: Annotated[bool, typer.Option("--resend", help="only send records still pending to the fleet")] = False,
) -> None:
    """Write a factory image to one or more boards (esptool, verified) and record each board."""
    console = Console(stderr=True)
    log = RecordLog(records)
    if fleet and not token:
        raise _exit(console, "--fleet needs --token (a maker's API token; or GASGUARD_FLEET_TOKEN): "
                             "the fleet takes manufacturing records from makers only")
    if resend:
        if not fleet:
            raise _exit(console, "--resend needs --fleet URL (or GASGUARD_FLEET_URL)")
        sent, pending = resend_pending(log, http_recorder(fleet, token=token))
        console.print(f"sent {sent} pending record(s) to {fleet}; {pending} still pending")
        raise typer.Exit(0 if pending == 0 else 1)
    if not board:
        raise _exit(console, "--board is required (for example --board esp32-mq4)")
    if image is None:
        raise _exit(console, "name the factory image to write (from `gasguard image build`)")
    try:
        b = load_board(board)
        plans = plan_flash(port, b, image, baud=baud, model=model)
        if dry_run:
            for p in plans:
                console.print(f"[bold]{p.port}[/]")
                for i, s in enumerate(p.steps(), 1):
                    console.print(f"  {i}. {s}")
                console.print("  = " + shlex.join(p.esptool_argv()))
            return
        for p in plans:
            check_port(p.port)
    except (BoardError, FlashError) as e:
        raise _exit(console, str(e)) from None
    recorder = http_recorder(fleet, token=token) if fleet else None
    results = flash_many(plans, recorder=recorder, records=log, console=console)
    console.print(summary_table(results))
    if not fleet:
        console.print(f"records kept in {log.path} (no --fleet given: send them later with --resend)")
    if any(r.fleet == "pending" for r in results):
        console.print(f"the fleet did not take every record; they are kept in {log.path}: "
                      "run `gasguard flash --resend --fleet URL` when it is reachable")
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _exit(console: Console, message: str) -> typer.Exit:
    console.print(f"[red]error:[/] {message}")
    return typer.Exit(2)


