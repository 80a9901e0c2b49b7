# The board layer: everything that differs between MicroPython on ESP32, MicroPython's Unix
# port (tests, the virtual board) and CPython (host-side unit tests) lives here, and only here.
#
# What this module is not: a hardware abstraction. Pins, ADC and WDT come from `machine` as on
# ESP32 (the virtual board injects a simulated `machine`); this module only papers over the
# interpreter and port differences:
# - ticks: `time.ticks_ms/ticks_diff/ticks_add` (MicroPython) or a monotonic stand-in (CPython);
# - `const`, `ThreadSafeFlag`, `heap_lock` exist on MicroPython only;
# - sockaddr: `getaddrinfo(...)[0][-1]` gives raw bytes on the Unix port and an (ip, port)
#   tuple on ESP32 (lwIP). The firmware never looks inside a sockaddr: it takes what
#   `resolve()` returns, compares it with `==` and hands it back to `sendto()`;
# - unique_id, reset_cause, reset, WDT, free heap.
import sys
import time

MICROPYTHON = sys.implementation.name == "micropython"

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


if hasattr(time, "ticks_ms"):
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
    ticks_add = time.ticks_add
else:  # CPython: same period and wrap as MicroPython's ticks (2**30 ms)
    _PERIOD = 1 << 30

    def ticks_ms():
        return int(time.monotonic() * 1000) & (_PERIOD - 1)

    def ticks_diff(a, b):
        d = (a - b) & (_PERIOD - 1)
        if d >= _PERIOD // 2:
            d -= _PERIOD
        return d

    def ticks_add(a, b):
        return (a + b) & (_PERIOD - 1)


try:
    import asyncio
except ImportError:  # pragma: no cover - every supported port has asyncio
    asyncio = None

if asyncio is not None and hasattr(asyncio, "ThreadSafeFlag"):
    ThreadSafeFlag = asyncio.ThreadSafeFlag
else:

    class ThreadSafeFlag:
        """CPython stand-in with MicroPython's interface (set from a callback, one waiter)."""

        def __init__(self):
            self._set = False
            self._ev = None

        def set(self):  # ISR-safe: no allocation (on CPython nothing is)
            self._set = True
            if self._ev is not None:
                self._ev.set()

        def clear(self):
            self._set = False

        async def wait(self):
            while not self._set:
                if self._ev is None:
                    self._ev = asyncio.Event()
                self._ev.clear()
                if self._set:
                    break
                await self._ev.wait()
            self._set = False


async def sleep_ms(ms):
    if hasattr(asyncio, "sleep_ms"):
        await asyncio.sleep_ms(ms)
    else:
        await asyncio.sleep(ms / 1000)


try:
    import machine
except ImportError:  # CPython, or the bare Unix port without a simulated board
    machine = None


def has_pins():
    return machine is not None and hasattr(machine, "Pin")


def unique_id(m=None):
    """The chip's unique id as bytes (ESP32: the base MAC)."""
    m = m if m is not None else machine
    if m is not None and hasattr(m, "unique_id"):
        try:
            return bytes(m.unique_id())
        except Exception:  # noqa: BLE001 - a missing id must not stop the boot
            pass
    return b"\x00\x00\x00\x00\x00\x00"


# protocol/docs: 0 unknown, 1 power-on, 2 hard reset, 3 watchdog, 4 deep sleep, 5 soft, 6 brown-out
def reset_cause(m=None):
    machine_ = m if m is not None else machine
    if machine_ is None or not hasattr(machine_, "reset_cause"):
        return 0
    try:
        rc = machine_.reset_cause()
    except Exception:  # noqa: BLE001
        return 0
    table = (
        ("PWRON_RESET", 1),
        ("HARD_RESET", 2),
        ("WDT_RESET", 3),
        ("DEEPSLEEP_RESET", 4),
        ("SOFT_RESET", 5),
        ("BROWNOUT_RESET", 6),
    )
    for name, code in table:
        if getattr(machine_, name, None) == rc and rc is not None:
            return code
    return 0


def reset():
    if machine is not None and hasattr(machine, "reset"):
        machine.reset()
    raise SystemExit("reset requested")


def wdt(timeout_ms, m=None):
    """Arm the watchdog; None where the port has none (it cannot be stopped once armed)."""
    m = m if m is not None else machine
    if m is None or not hasattr(m, "WDT"):
        return None
    return m.WDT(timeout=timeout_ms)


def mem_free():
    try:
        import gc

        return gc.mem_free()
    except (ImportError, AttributeError):
        return 0


def _always():
    return True


def readable(sock):
    """A function that tells whether `sock` has data waiting. On MicroPython it allocates
    nothing (ipoll iterates the poller itself), so a task can ask every few ms for free.
    What cannot be polled counts as always readable: its recv raises OSError when empty."""
    try:
        import select

        p = select.poll()
        p.register(sock, select.POLLIN)
    except (ImportError, AttributeError, TypeError, ValueError, OSError):
        return _always
    if hasattr(p, "ipoll"):

        def ready():
            for _ in p.ipoll(0):
                return True
            return False

        return ready
    return lambda: bool(p.poll(0))


def collect():
    try:
        import gc

        gc.collect()
    except ImportError:
        pass


def heap_lock():
    """Make any allocation fail (MicroPython); returns False where that is not possible."""
    try:
        import micropython

        micropython.heap_lock()
        return True
    except (ImportError, AttributeError):
        return False


def heap_unlock():
    try:
        import micropython

        micropython.heap_unlock()
    except (ImportError, AttributeError):
        pass


def resolve(host, port):
    """A sockaddr in this port's own form, to hand to sendto() as it is."""
    import socket

    return socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0][-1]


def udp_socket(bind_host="0.0.0.0", bind_port=0):
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    except (AttributeError, OSError):
        pass
    s.bind(resolve(bind_host, bind_port))
    s.setblocking(False)
    return s


def sockaddr_port(addr):
    """The UDP port of a sockaddr in either form (for logs and tests only)."""
    if isinstance(addr, tuple):
        return addr[1]
    b = bytes(addr)
    return (b[2] << 8) | b[3]


def urandom(n):
    try:
        import os

        return os.urandom(n)
    except (ImportError, AttributeError):
        import random

        return bytes(random.getrandbits(8) for _ in range(n))
