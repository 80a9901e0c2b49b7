# The recipient's replay window (RFC 8613 s7.4): which Partial IVs of requests were seen.
#
# A sliding window of `size` sequence numbers ending at the highest one seen, kept as one byte
# per slot in a ring (slot = seq mod size), so checking and marking allocate nothing and need
# no integer wider than the sequence number itself (a 32-bit mask would be a heap "long" on the
# ESP32, whose small ints stop at 2**30).
#
# After a reboot the window is *uninitialised*: the requests seen before were lost with the RAM,
# so no request can be proven fresh. RFC 8613 Appendix B.1.2 recovers with the Echo option
# (RFC 9175); firmware/oscore/context.py drives that and calls `init_seen()` here.


class ReplayWindow:
    def __init__(self, size=32):
        if size < 1:
            raise ValueError("replay window: expected a size of at least 1, got %d" % size)
        self.size = size
        self._seen = bytearray(size)
        self.top = -1  # highest sequence number seen; -1 before the first
        self.ready = False

    def init_empty(self):
        """A brand-new context: nothing seen, every number from 0 is fresh."""
        for i in range(self.size):
            self._seen[i] = 0
        self.top = -1
        self.ready = True

    def init_seen(self, seq):
        """`seq` is proven fresh (it echoed our challenge): it and everything below it count
        as seen, everything above as fresh."""
        for i in range(self.size):
            self._seen[i] = 1
        self.top = seq
        self.ready = True

    def fresh(self, seq):
        """True when `seq` may be accepted (window initialised, not seen, not too old)."""
        if not self.ready:
            return False
        if seq > self.top:
            return True
        if seq <= self.top - self.size:
            return False
        return not self._seen[seq % self.size]

    def mark(self, seq):
        """Record `seq` as seen; call only after the message authenticated."""
        size = self.size
        if seq > self.top:
            # slots of the numbers the window slides over become free (at most `size` of them)
            gap = seq - self.top
            if gap > size:
                gap = size
            s = seq
            for _ in range(gap):
                self._seen[s % size] = 0
                s -= 1
            self.top = seq
        self._seen[seq % size] = 1
