"""The board end of provisioning: one mpremote session over the serial port.

Why mpremote as a library (`mpremote.transport_serial.SerialTransport`) and not the `mpremote`
command: one connection holds the port for the whole session (no other program can grab it
between steps, and each step does not pay for reopening the port and re-entering the raw REPL);
the board stays in the raw REPL between steps, so its app never restarts half-way; errors come
back as exceptions with the board's traceback rather than text to parse; and a reset is followed
on the same port, as the USB-serial bridge stays open while the chip reboots. It is the same
code the command runs (`mpremote connect P exec/fs/reset`), speaking the same raw-REPL protocol.

What this is not: the provisioning steps (fleet/provision/steps.py) or their policy."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

from boards.flash import DEVICE_ID_PREFIX, FlashError, check_port

MAINT_FLAG = "/maint"  # firmware/app.py maintenance_requested(): no watchdog on this boot
CONFIG = "/config.json"
APP_JSON = "/app.json"
BOARD_JSON = "/board.json"
CHUNK = 256  # what mpremote's fs cp writes per exec step


# Small programs run on the board (MicroPython; uos.stat raises OSError for a missing file).
_EXISTS = """import os
try:
 os.stat(%r)
 _r = True
except OSError:
 _r = False
print(1 if _r else 0)
"""
_SHA256 = """import hashlib
try:
 _f = open(%r, 'rb')
except OSError:
 _f = None
if _f is None:
 print('-')
else:
 _h = hashlib.sha256()
 while True:
  _c = _f.read(%d)
  if not _c:
   break
  _h.update(_c)
 _f.close()
 print(''.join('%%02x' %% b for b in _h.digest()))
"""


class BoardError(RuntimeError):
    """The board could not do what was asked; the message says what happened on the board."""


def device_id_for(uid_hex: str) -> str:
    """The fleet's device id for a chip uid: the same rule as boards/flash.py's records."""
    return DEVICE_ID_PREFIX + uid_hex


class BoardSession:
    """An open raw-REPL session on one board. `open()` checks the port first (the same exact
    messages as `gasguard flash`), then connects and enters the raw REPL with a soft reset, as
    `mpremote connect P exec` does: the app is interrupted and main.py does not run again."""

    def __init__(self, port: str, *, exec_timeout_s: float = 10.0) -> None:
        self.port = port
        self.exec_timeout_s = exec_timeout_s
        self.t: SerialTransport | None = None

    # -- connection ------------------------------------------------------------------------
    def open(self) -> BoardSession:
        try:
            check_port(self.port)
        except FlashError as e:
            raise BoardError(str(e)) from None
        self._connect()
        return self

    def _connect(self) -> None:
        try:
            self.t = SerialTransport(self.port, exclusive=True)
            self.t.enter_raw_repl(soft_reset=True)
        except (TransportError, OSError) as e:
            self.close()
            raise BoardError(f"{self.port}: no MicroPython raw REPL answered ({e}); is this a gasguard board "
                             "with MicroPython flashed, and is nothing else using the port?") from None

    def reconnect(self) -> None:
        """Close and connect again (after the board reset under us, say)."""
        self.close()
        self._connect()

    def close(self) -> None:
        if self.t is not None:
            try:
                if self.t.in_raw_repl:
                    self.t.exit_raw_repl()
                self.t.close()
            except (OSError, TransportError):
                pass
            self.t = None

    def __enter__(self) -> BoardSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- running code ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _deadline(self, seconds: float) -> Iterator[None]:
        """mpremote's reads time out only when the line goes quiet: a board that reset under us
        and now runs its app (printing now and then) would keep a read going for ever. Past the
        deadline the port is closed, so the read fails and the caller gets a BoardError."""
        t = self.t
        fired = threading.Event()

        def expire() -> None:
            fired.set()
            if t is not None:
                with contextlib.suppress(Exception):
                    t.serial.close()

        timer = threading.Timer(seconds, expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        except Exception as e:
            if fired.is_set():
                self.t = None
                raise BoardError(f"{self.port}: the board stopped answering (no raw REPL reply within "
                                 f"{seconds:.0f} s)") from None
            raise e
        finally:
            timer.cancel()

    def exec(self, code: str, *, timeout_s: float | None = None) -> str:
        """Run code on the board; its printed output. BoardError with the board's traceback."""
        if self.t is None:
            raise BoardError(f"{self.port}: not connected")
        limit = timeout_s or self.exec_timeout_s
        try:
            with self._deadline(limit + 5):
                out, err = self.t.exec_raw(code, timeout=limit)
        except (TransportError, OSError, TypeError, AttributeError) as e:
            if isinstance(e, BoardError):
                raise
            raise BoardError(f"{self.port}: the board stopped answering ({e})") from None
        if err:
            last = err.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise BoardError(f"{self.port}: the board reported {last[0]}")
        return out.decode(errors="replace")

    def eval_json(self, expr: str) -> Any:
        out = self.exec("import json\nprint(json.dumps(%s))" % expr)
        return json.loads(out.strip().splitlines()[-1])

    def unique_id(self) -> str:
        return str(self.eval_json("''.join('%02x' % b for b in __import__('machine').unique_id())"))

    def read(self, path: str) -> bytes | None:
        """A file's bytes, or None when it does not exist."""
        if self.t is None:
            raise BoardError(f"{self.port}: not connected")
        if not self.exists(path):
            return None
        try:
            with self._deadline(self.exec_timeout_s + 30):
                return bytes(self.t.fs_readfile(path))
        except BoardError:
            raise
        except (TransportError, TransportExecError, OSError, TypeError, AttributeError) as e:
            raise BoardError(f"{self.port}: reading {path} failed ({e})") from None

    def read_json(self, path: str) -> Any:
        data = self.read(path)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError as e:
            raise BoardError(f"{self.port}: {path} on the board is not valid JSON ({e})") from None

    def exists(self, path: str) -> bool:
        return self.exec(_EXISTS % (path,)).strip().endswith("1")

    def sha256(self, path: str) -> str | None:
        """The SHA-256 of a file as the board reads it back from its flash, or None if absent."""
        out = self.exec(_SHA256 % (path, CHUNK)).strip().splitlines()
        return out[-1] if out and out[-1] != "-" else None

    def write_atomic(self, path: str, data: bytes, *, after_tmp: Any = None) -> str:
        """Write `path` as the firmware does (firmware/store.py): the bytes to `path.tmp`, then
        rename over `path`, so a reset at any moment leaves the old file or the new one, whole.
        Returns the SHA-256 read back from the board; BoardError if it differs from `data`'s.
        `after_tmp` is called between the two halves (tests use it to cut the power there)."""
        tmp = path + ".tmp"
        if self.t is None:
            raise BoardError(f"{self.port}: not connected")
        try:
            with self._deadline(self.exec_timeout_s + 30):
                self.t.fs_writefile(tmp, data, chunk_size=CHUNK)
        except BoardError:
            raise
        except (TransportError, TransportExecError, OSError, TypeError, AttributeError) as e:
            raise BoardError(f"{self.port}: writing {tmp} failed ({e})") from None
        want = hashlib.sha256(data).hexdigest()
        got = self.sha256(tmp)
        if got != want:
            raise BoardError(f"{self.port}: {tmp} reads back with sha256 {got}, expected {want}; "
                             f"{path} was left as it was")
        if after_tmp is not None:
            after_tmp()
        self.exec("import os\ntry:\n os.rename(%r, %r)\nexcept OSError:\n os.remove(%r)\n os.rename(%r, %r)\n"
                  % (tmp, path, path, tmp, path))
        got = self.sha256(path)
        if got != want:
            raise BoardError(f"{self.port}: {path} reads back with sha256 {got}, expected {want}")
        return want

    def remove(self, path: str) -> None:
        self.exec("import os\ntry:\n os.remove(%r)\nexcept OSError:\n pass\n" % path)

    # -- resets ----------------------------------------------------------------------------
    def reset(self, *, reconnect: bool = True, timeout_s: float = 20.0) -> None:
        """machine.reset() (a hard reset: the watchdog is gone too), then, with `reconnect`,
        wait for the board and enter the raw REPL again, reopening the port if it went away
        (boards with native USB drop it while they reboot)."""
        if self.t is None:
            raise BoardError(f"{self.port}: not connected")
        try:
            with self._deadline(self.exec_timeout_s + 5):
                self.t.exec_raw_no_follow("import machine\nmachine.reset()")
        except BoardError:
            raise
        except (TransportError, OSError, TypeError, AttributeError) as e:
            raise BoardError(f"{self.port}: the reset command was not taken ({e})") from None
        if not reconnect:
            time.sleep(0.2)
            self.close()
            return
        time.sleep(0.3)
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                # bytes sent while a board boots are lost (on a UART as on the virtual board),
                # and a read waiting for a prompt that never comes has no timeout of its own
                with self._deadline(6):
                    self.t.enter_raw_repl(soft_reset=True, timeout_overall=3)  # type: ignore[union-attr]
                return
            except (BoardError, TransportError, OSError, AttributeError) as e:
                last = e
                self.close()
                time.sleep(0.5)
                try:
                    self.t = SerialTransport(self.port, exclusive=True)
                except (TransportError, OSError) as e2:
                    last = e2
                    self.t = None
        raise BoardError(f"{self.port}: the board did not come back within {timeout_s:.0f} s of its reset ({last})")
