# Where the sender sequence number survives reboot and power cut (RFC 8613 Appendix B.1.1).
#
# The context never uses a sequence number unless a number above it is already on flash: it
# persists a *limit* K numbers ahead ("persist ahead in blocks") and uses numbers below it
# freely; when it reaches the limit it writes the next one first. After a reboot it starts at the
# stored limit, skipping at most K numbers and never reusing one. A write is atomic (temporary
# file + rename, firmware/store.py), so a power cut leaves the old limit or the new one, whole.
#
# The file also holds a fingerprint of the context (a hash of the derived sender key, IDs and
# ID context, never the key): a re-provisioned device with a new Master Secret or ID Context
# starts its new context at 0, and a limit never leaks from one context into another.
#
# The storage interface is two methods, so a test or another board can supply its own:
#   load() -> (limit, fingerprint) or None when nothing was ever stored; raises on corruption
#   save(limit, fingerprint)       atomic; raises OSError/StoreError when the write fails
# (tests/firmware/oscore/oscore_helpers.MemorySeqStore is the RAM double the tests use)
import json

from firmware import store


class FileSeqStore:
    """The limit in a small JSON file on the board's littlefs: {"limit": n, "ctx": "hex"}."""

    def __init__(self, path):
        self.path = path

    def load(self):
        data = store.read_bytes(self.path)
        if data is None:
            return None
        try:
            obj = json.loads(data)
            limit = obj["limit"]
            fp = obj["ctx"]
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError("%s: not a sequence-number record (%s)" % (self.path, e))
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValueError("%s: limit: expected a non-negative integer, got %r"
                             % (self.path, limit))
        if not isinstance(fp, str):
            raise ValueError("%s: ctx: expected a hex string, got %r" % (self.path, fp))
        return limit, fp

    def save(self, limit, fingerprint):
        store.write_atomic(self.path, json.dumps({"limit": limit, "ctx": fingerprint}))
