# Test doubles for firmware unit tests, in the common subset (MicroPython and CPython).
# FakePin.value() allocates nothing, so handlers can be called on it under heap_lock().
from array import array


class FakePin:
    IN = 0
    OUT = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, level=0):
        self.level = level
        self.writes = array("b", bytes(64))  # levels written, in order (first 64)
        self.nwrites = 0
        self.handler = None
        self.trigger = None

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        n = self.nwrites
        if n < 64:
            self.writes[n] = v
        self.nwrites = n + 1
        return None

    def written(self):
        return [self.writes[i] for i in range(min(self.nwrites, 64))]

    def irq(self, handler=None, trigger=None, hard=False):
        self.handler = handler
        self.trigger = trigger

    def fire(self):
        self.handler(self)


class FakeFlag:
    def __init__(self):
        self.count = 0

    def set(self):
        self.count += 1


class Clock:
    """An injected ms clock."""

    def __init__(self, now=0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, ms):
        self.now += ms
        return self.now


_MADE = []


def tmpdir(tag):
    """A fresh folder under /tmp for one test (unique per run: tests run in parallel);
    `cleanup()` (a module's teardown_function) removes it."""
    import os

    base = "/tmp/gg-fw-tests"
    try:
        os.mkdir(base)
    except OSError:
        pass
    rnd = "".join("%02x" % b for b in os.urandom(6))
    path = base + "/" + tag + "-" + rnd
    os.mkdir(path)
    _MADE.append(path)
    return path


def _rmtree(path):
    import os

    try:
        entries = list(os.ilistdir(path)) if hasattr(os, "ilistdir") else None
    except OSError:
        return
    if entries is None:
        import shutil

        shutil.rmtree(path, ignore_errors=True)
        return
    for e in entries:
        p = path + "/" + e[0]
        if e[1] == 0x4000:
            _rmtree(p)
        else:
            try:
                os.remove(p)
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def cleanup(*_):
    """Remove the folders tmpdir() made (used as teardown_function by test modules)."""
    while _MADE:
        _rmtree(_MADE.pop())
