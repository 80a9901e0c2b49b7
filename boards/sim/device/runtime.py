# The virtual board's boot ROM and REPL, run by the real `micropython` (Unix port) under the
# launcher (boards/sim/board.py). MicroPython only.
#
# What it does, like an ESP32 running MicroPython:
# 1. loads the simulated hardware (machine, network, boardnet) while the host folder is still
#    reachable, then mounts the board's littlefs image (a block-device file) at "/" so nothing
#    reaches the host's files; sys.path = ['', '.frozen', '/lib'];
# 2. says hello to the launcher over UDP and takes the world's state (valve, gas, clock);
# 3. boots: boot.py, then main.py only in the friendly REPL; "MPY: soft reboot" on soft reset;
# 4. speaks the friendly REPL, the raw REPL and raw-paste on stdin/stdout (a pty with ISIG, so
#    Ctrl-C arrives as KeyboardInterrupt), which is what mpremote drives;
# 5. machine.reset() / a watchdog reset / deepsleep end the process with exit code 10 + cause and
#    the launcher starts it again; a power cut is the launcher killing the process.
# sleep and select.poll are wrapped so the world (IRQs, timers, control messages) is polled about
# every 20 ms even while the firmware waits, as ESP32 runs scheduled callbacks while it idles.
import sys
import os
import json
import select
import socket
import time
import vfs
import micropython

_DIR = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _DIR)

import simworld  # noqa: E402
import simphys  # noqa: E402,F401
import machine  # noqa: E402

if not hasattr(machine, "sim"):
    raise ImportError("the simulated machine module did not load from " + _DIR)
import network  # noqa: E402
import boardnet  # noqa: E402

_cfg = json.loads(os.getenv("GASGUARD_SIM"))
_real_sleep_ms = time.sleep_ms
_real_poll = select.poll
_out = sys.stdout.buffer
_in = sys.stdin.buffer
WINDOW = 128
SLICE_MS = 20


def w(b):
    if isinstance(b, str):
        b = b.encode()
    _out.write(b)


class Link:
    """UDP to the launcher: events out, control operations in."""

    def __init__(self, port):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(socket.getaddrinfo("127.0.0.1", 0)[0][-1])
        self.peer = socket.getaddrinfo("127.0.0.1", port)[0][-1]
        self.p = _real_poll()
        self.p.register(self.s, select.POLLIN)
        self.last_feed = -1000
        self.world = None
        # control messages arrive newline-framed and are read into this one buffer: a 4 KB
        # block allocated per message could fail in a full heap the app on a board runs in
        self.s.setblocking(False)
        self.buf = bytearray(4096)
        self.mv = memoryview(self.buf)
        self.have = 0  # bytes of an unfinished message at the start of buf
        self.queue = []

    def send(self, obj):
        try:
            self.s.sendto(json.dumps(obj).encode(), self.peer)
        except OSError:
            pass

    def feed(self, t):
        if t - self.last_feed >= 100:
            self.last_feed = t
            self.send({"ev": "feed", "t": t})

    def _fill(self):
        # every queued datagram, concatenated (the socket is non-blocking), split on newlines
        try:
            n = self.s.readinto(self.mv[self.have:])
        except OSError:
            n = None
        if not n:
            return
        end = self.have + n
        start = 0
        while True:
            i = self.buf.find(b"\n", start, end)
            if i < 0:
                break
            self.queue.append(json.loads(bytes(self.mv[start:i])))
            start = i + 1
        rest = end - start
        if rest >= len(self.buf):
            rest = 0  # one message larger than the buffer: dropped (none is)
        self.buf[:rest] = self.buf[start:end]
        self.have = rest

    def _next(self, timeout_ms):
        if not self.queue and self.p.poll(timeout_ms):
            self._fill()
        return self.queue.pop(0) if self.queue else None

    def recv(self, timeout_ms):
        return self._next(timeout_ms)

    def request(self, obj, reply_op, timeout_ms=2000):
        """Send and wait for the launcher's reply; control messages meanwhile still apply."""
        self.send(obj)
        end = time.ticks_add(time.ticks_ms(), timeout_ms)
        while time.ticks_diff(end, time.ticks_ms()) > 0:
            msg = self.recv(20)
            if msg is None:
                continue
            if msg.get("op") == reply_op:
                return True
            if self.world is not None:
                try:
                    self.world.apply(msg["op"], msg.get("args") or {})
                except Exception as e:  # noqa: BLE001
                    self.send({"ev": "error", "op": msg.get("op"), "err": str(e)})
        return False

    def poll(self, world):
        while True:
            msg = self._next(0)
            if msg is None:
                break
            try:
                world.apply(msg["op"], msg.get("args") or {})
            except Exception as e:  # noqa: BLE001 - reported to the launcher, never fatal
                self.send({"ev": "error", "op": msg.get("op"), "err": str(e)})


class TimeModule:
    """`time` with sleeps that keep the world polled (ESP32 runs callbacks while sleeping)."""

    def __init__(self, real):
        for k in dir(real):
            if not k.startswith("__") and k not in ("sleep", "sleep_ms", "sleep_us"):
                setattr(self, k, getattr(real, k))
        self.__name__ = "time"

    def sleep_ms(self, ms):
        end = time.ticks_add(time.ticks_ms(), int(ms))
        while True:
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0:
                break
            _real_sleep_ms(left if left < SLICE_MS else SLICE_MS)
            machine.sim.maybe_poll()

    def sleep(self, s):
        self.sleep_ms(int(s * 1000))

    def sleep_us(self, us):
        if us >= 2000:
            self.sleep_ms(us // 1000)
        else:
            time.sleep_us(us)


class Poll:
    """select.poll whose waits are cut into slices with the world polled in between."""

    def __init__(self):
        self.p = _real_poll()

    def register(self, obj, mask=select.POLLIN | select.POLLOUT):
        self.p.register(obj, mask)

    def modify(self, obj, mask):
        self.p.modify(obj, mask)

    def unregister(self, obj):
        self.p.unregister(obj)

    def poll(self, timeout=-1, flags=0):
        if timeout == 0:
            machine.sim.maybe_poll()
            return self.p.poll(0)
        end = None if timeout is None or timeout < 0 else time.ticks_add(time.ticks_ms(), timeout)
        while True:
            step = SLICE_MS
            if end is not None:
                left = time.ticks_diff(end, time.ticks_ms())
                if left <= 0:
                    return []
                if left < step:
                    step = left
            r = self.p.poll(step)
            if r:
                return r
            machine.sim.maybe_poll()

    def ipoll(self, timeout=-1, flags=0):
        return self.poll(timeout, flags)


_kbd = [3]
_link = [None]


def set_kbd_intr(c):
    """micropython.kbd_intr on the virtual board.

    The console is a pty: with Ctrl-C enabled its line discipline turns byte 3 into SIGINT and
    cooks "\n" into "\r\n" (as the board's text output); with kbd_intr(-1) (mpremote mount's
    binary protocol) both must stop, so the launcher switches the pty and acknowledges before
    any binary byte is written. The Unix port's own SIGINT handler stays installed.
    """
    c = 3 if c == 3 else -1
    if c == _kbd[0]:
        return
    _kbd[0] = c
    _link[0].request({"ev": "kbd_intr", "c": c}, "kbd_intr_ok")


class MicroPythonModule:
    def __init__(self, real):
        for k in dir(real):
            if not k.startswith("__") and k != "kbd_intr":
                setattr(self, k, getattr(real, k))
        self.__name__ = "micropython"

    def kbd_intr(self, c):
        set_kbd_intr(c)


class SelectModule:
    def __init__(self, real):
        for k in dir(real):
            if not k.startswith("__"):
                setattr(self, k, getattr(real, k))
        self.__name__ = "select"
        self.poll = Poll


class SocketModule:
    """`socket` as the firmware sees it. Every virtual board shares the host's loopback, where
    two boards listening on one fixed port (CoAP's 5683, bound with SO_REUSEADDR) would take
    each other's datagrams; on a real network each board has an address of its own. So the
    any-address with CoAP's default port resolves to port 0 here: the board gets a port of its
    own, and the fleet, which answers and polls the address a board's uplinks come from,
    reaches it. Any other port (a test that picked a free one to send to) is left alone."""

    def __init__(self, real):
        for k in dir(real):
            if not k.startswith("__"):
                setattr(self, k, getattr(real, k))
        self.__name__ = "socket"
        gai = real.getaddrinfo

        def getaddrinfo(host, port, *args):
            if host == "0.0.0.0" and port == 5683:
                port = 0
            return gai(host, port, *args)

        self.getaddrinfo = getaddrinfo


class BlockDev:
    """The flash: block reads and writes straight into the image file (no cache to lose)."""

    def __init__(self, f, block_size, block_count):
        self.f = f
        self.bs = block_size
        self.n = block_count

    def readblocks(self, block, buf, off=0):
        self.f.seek(block * self.bs + off)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, off=None):
        self.f.seek(block * self.bs + (off or 0))
        self.f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        return 0


def mount(path, board):
    v = board["vfs"]
    f = open(path, "r+b")
    bdev = BlockDev(f, v["block_size"], v["block_count"])
    try:
        fs = vfs.VfsLfs2(bdev)
    except OSError as e:
        w("E (vfs) littlefs image %s did not mount (%s): corrupted filesystem\n" % (path, e))
        raise SystemExit(1)
    vfs.umount("/")
    vfs.mount(fs, "/")
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib"]


class Repl:
    def __init__(self):
        self.raw = False
        self.g = {"__name__": "__main__"}
        self.p = _real_poll()
        self.p.register(_in, select.POLLIN)

    # -- input ---------------------------------------------------------------------------
    def getc(self):
        """One byte of input; Ctrl-C (which ISIG turned into a signal) comes back as 3."""
        try:
            while not self.p.poll(SLICE_MS * 5):
                machine.sim.maybe_poll()
            c = _in.read(1)
        except KeyboardInterrupt:
            return 3
        if not c:
            raise SystemExit(0)  # the launcher closed the console
        return c[0]

    # -- execution ---------------------------------------------------------------------------
    def run(self, src, name, mode="exec"):
        """Compile and run; None on success, else the exception (KeyboardInterrupt included)."""
        if isinstance(src, bytes):
            src = src.decode()
        set_kbd_intr(3)  # pyexec re-enables Ctrl-C for every execution
        try:
            exec(compile(src, name, mode), self.g)
            return None
        except simworld.BoardReset:
            raise
        except SystemExit:
            raise simworld.BoardReset(simworld.SOFT_RESET)
        except BaseException as e:  # noqa: BLE001 - like pyexec: every error is reported
            return e

    def run_print(self, src, name, mode="exec"):
        e = self.run(src, name, mode)
        if e is not None:
            sys.print_exception(e, sys.stdout)

    def run_file(self, path):
        try:
            with open(path) as f:
                src = f.read()
        except OSError:
            return
        self.run_print(src, path)

    # -- raw REPL -------------------------------------------------------------------------
    def raw_repl(self):
        """Returns 'friendly' (Ctrl-B) or 'reset' (Ctrl-D on an empty line)."""
        w("raw REPL; CTRL-B to exit\n")
        while True:
            line = bytearray()
            w(">")
            while True:
                c = self.getc()
                if c == 1:
                    if len(line) == 2 and line[0] == 5 and line[1] == 65:
                        r = self.raw_paste()
                        if r:
                            return r
                        break  # next prompt
                    w("raw REPL; CTRL-B to exit\n")
                    line = bytearray()
                    w(">")
                elif c == 2:
                    w("\n")
                    return "friendly"
                elif c == 3:
                    line = bytearray()
                elif c == 4:
                    w("OK")
                    if not line:
                        w("\n")
                        return "reset"
                    self.exec_raw(bytes(line))
                    break
                else:
                    line.append(c)

    def exec_raw(self, src):
        self.finish(self.run_framed(src))

    def run_framed(self, src):
        try:
            return self.run(src, "<stdin>")
        except simworld.BoardReset as e:
            if e.cause == simworld.SOFT_RESET:  # SystemExit: pyexec ends the framing, then resets
                w("\x04\x04")
            raise

    def finish(self, e):
        # raw REPL framing: output, \x04, traceback (empty on success), \x04
        w("\x04")
        if e is not None:
            sys.print_exception(e, sys.stdout)
        w("\x04")

    def raw_paste(self):
        w(b"R\x01" + bytes([WINDOW & 0xFF, WINDOW >> 8]) + b"\x01")
        buf = bytearray()
        left = WINDOW
        while True:
            c = self.getc()
            if c == 4:
                w("\x04")
                break
            if c == 3:
                w("\x04")
                return None
            buf.append(c)
            left -= 1
            if left == 0:
                w("\x01")
                left = WINDOW
        self.finish(self.run_framed(bytes(buf)))
        return None

    # -- friendly REPL ----------------------------------------------------------------------
    def banner(self):
        w("MicroPython v1.29.0 on 2026-01-01; gasguard virtual board (%s) with ESP32\n"
          'Type "help()" for more information.\n' % machine.sim.board.get("name", "sim"))

    def friendly(self):
        """Returns 'raw' (Ctrl-A) or 'reset' (Ctrl-D)."""
        self.banner()
        lines = []
        line = bytearray()
        w(">>> ")
        while True:
            c = self.getc()
            if c == 1:
                w("\n")
                return "raw"
            if c == 2:
                w("\n")
                self.banner()
                lines, line = [], bytearray()
                w(">>> ")
            elif c == 3:
                w("\n")
                lines, line = [], bytearray()
                w(">>> ")
            elif c == 4:
                if not line and not lines:
                    w("\n")
                    return "reset"
            elif c in (8, 127):
                if line:
                    line.pop()
                    w("\x08 \x08")
            elif c == 13:
                w("\n")
                text = bytes(line).decode()
                line = bytearray()
                if lines or text.rstrip().endswith(":"):
                    lines.append(text)
                    if text.strip():
                        w("... ")
                        continue
                    text = "\n".join(lines) + "\n"
                    lines = []
                if text.strip():
                    self.run_print(text, "<stdin>", "single")
                w(">>> ")
            elif c == 10:
                pass
            else:
                line.append(c)
                _out.write(bytes([c]))


def soft_reset_cleanup(keep):
    w_ = machine.sim
    w_.timers = []
    w_._irqs = {}
    for name in list(sys.modules):
        if name not in keep:
            del sys.modules[name]
    sys.path[:] = ["", ".frozen", "/lib"]  # as a soft reset re-initialises it on ESP32


def main():
    board = _cfg["board"]
    world = simworld.World(board, bytes.fromhex(_cfg["uid"]))
    machine.sim = world
    link = Link(_cfg["ctl"])
    _link[0] = link
    link.world = world
    world.link = link
    link.send({"ev": "hello"})
    st = link.recv(3000)
    if st is not None and st.get("op") == "state":
        world.import_state(st["args"])
    world.reset_cause = _cfg.get("cause", simworld.PWRON_RESET)
    world.reset_detail = _cfg.get("detail", "")

    def on_reset(cause):
        link.send({"ev": "reset", "cause": cause})
        if cause == simworld.WDT_RESET:
            raise simworld.BoardReset(cause)

    world.on_reset = on_reset
    sys.modules["machine"] = machine
    sys.modules["network"] = network
    sys.modules["boardnet"] = boardnet
    sys.modules["time"] = TimeModule(time)
    sys.modules["select"] = SelectModule(select)
    sys.modules["socket"] = SocketModule(socket)
    sys.modules["micropython"] = MicroPythonModule(micropython)
    mount(_cfg["image"], board)
    keep = set(sys.modules)
    repl = Repl()
    mode = "friendly"
    need_boot = True
    soft = False
    link.send({"ev": "ready"})
    while True:
        try:
            if need_boot:
                need_boot = False
                if soft:
                    w("MPY: soft reboot\n")
                soft = True
                repl.g = {"__name__": "__main__"}
                repl.run_file("boot.py")
                if mode == "friendly":
                    repl.run_file("main.py")
            r = repl.friendly() if mode == "friendly" else repl.raw_repl()
            if r == "raw":
                mode = "raw"
            elif r == "friendly":
                mode = "friendly"
            else:  # "reset": Ctrl-D, a soft reset
                soft_reset_cleanup(keep)
                need_boot = True
        except KeyboardInterrupt:
            w("\n")  # Ctrl-C outside any program: back to the prompt
        except simworld.BoardReset as e:
            if e.cause == simworld.SOFT_RESET:
                soft_reset_cleanup(keep)
                need_boot = True
                continue
            link.send({"ev": "reset", "cause": e.cause})
            raise SystemExit(10 + e.cause)


micropython.kbd_intr(3)
main()
