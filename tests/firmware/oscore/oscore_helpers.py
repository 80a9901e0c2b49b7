# Helpers for the OSCORE tests, in the common subset (they run on MicroPython too).
import binascii
import os


def h(s):
    """bytes from hex with spaces allowed (vectors are copied as the RFCs print them)."""
    return binascii.unhexlify(s.replace(" ", "").replace("\n", ""))


def hx(b):
    return binascii.hexlify(bytes(b)).decode()


def tmpdir(tag):
    """A fresh folder under /tmp for one test (unique per run: tests run in parallel)."""
    base = "/tmp/gg-oscore-tests"
    try:
        os.mkdir(base)
    except OSError:
        pass
    path = base + "/" + tag + "-" + hx(os.urandom(6))
    os.mkdir(path)
    return path


def raises(exc_type, fn, *args):
    """The exception `fn(*args)` raises, which must be an `exc_type`."""
    try:
        fn(*args)
    except exc_type as e:
        return e
    raise AssertionError("expected %s, nothing was raised" % exc_type.__name__)


# RFC 8613 Appendix C, common inputs
MASTER_SECRET = h("0102030405060708090a0b0c0d0e0f10")
MASTER_SALT = h("9e7ca92223786340")
ID_CONTEXT = h("37cbf3210017a2d3")


class MemorySeqStore:
    """firmware/oscore/seqstore's interface in RAM: a 'reboot' is a new context on the same
    object; `fail` makes writes fail like a worn-out flash."""

    def __init__(self):
        self.record = None
        self.writes = 0
        self.fail = False

    def load(self):
        return self.record

    def save(self, limit, fingerprint):
        if self.fail:
            raise OSError("simulated flash write failure")
        self.record = (limit, fingerprint)
        self.writes += 1
