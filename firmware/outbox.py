# The durable outbox: every event gets the next per-device sequence number and is on flash
# before anyone tries to send it.
#
# Layout on the filesystem (root is "/" on a board):
#   /ob/<seq>   one event, JSON, written to /ob/<seq>.tmp and renamed (the commit point)
#   /seq        the last sequence number used, decimal text (a checkpoint, renamed the same way)
# On start the last number is max(/seq, the highest /ob/<seq>), so a power cut between the two
# renames loses nothing and never reuses a number. A sent event's file is removed only after
# the fleet acknowledged it, and /seq is brought up to date before the newest file goes.
#
# Overflow rule (bounded outbox): at most `capacity` events wait. When a new event finds the
# outbox full, the oldest waiting *non-safety* event is dropped (its file removed, `drops`
# counted); safety events (alarm, alarm_clear, valve_closed, valve_reopened) are never dropped,
# and are admitted even past `capacity`. A non-safety event that finds nothing to drop is
# itself dropped (counted) and gets no number, so the numbers the fleet sees stay gap-free
# except for dropped non-safety events, which the fleet sees as gaps.
#
# What this is not: a send queue with priorities. Events go out oldest first, one at a time.
import json

from firmware import store

SAFETY_KINDS = ("alarm", "alarm_clear", "valve_closed", "valve_reopened")


class OutboxError(Exception):
    pass


class Outbox:
    def __init__(self, root="/", capacity=64, on_storage_error=None):
        if capacity < 1:
            raise OutboxError("outbox capacity: expected >= 1, got %r" % (capacity,))
        self.capacity = capacity
        self.dir = store.join(root, "ob")
        self.seq_path = store.join(root, "seq")
        self.drops = 0
        self.storage_ok = True
        self._on_error = on_storage_error
        self._seqs = []  # waiting sequence numbers, oldest first
        self._safe = []  # parallel: 1 for a safety event
        self._ram = {}  # seq -> event, for events that could not be written
        self.last = 0
        self._saved = 0  # what /seq holds
        self._load()

    # -- start-up ---------------------------------------------------------------------------
    def _load(self):
        try:
            store.mkdir(self.dir)
        except OSError as e:
            self._fail("mkdir %s: %s" % (self.dir, e))
        data = store.read_bytes(self.seq_path)
        saved = 0
        if data:
            try:
                saved = int(data.strip() or b"0")
            except ValueError:
                saved = 0
        self._saved = saved
        found = []
        for name in store.listdir(self.dir):
            if name.endswith(".tmp"):
                store.remove(store.join(self.dir, name))  # a write a power cut tore
                continue
            try:
                found.append(int(name))
            except ValueError:
                continue
        found.sort()
        last = saved
        for s in found:
            ev = self._read(s)
            if ev is None:
                store.remove(self._path(s))
                continue
            self._seqs.append(s)
            self._safe.append(1 if ev.get("k") in SAFETY_KINDS else 0)
            if s > last:
                last = s
        self.last = last

    def _path(self, seq):
        return store.join(self.dir, str(seq))

    def _read(self, seq):
        if seq in self._ram:
            return self._ram[seq]
        try:
            return store.read_json(self._path(seq))
        except store.StoreError:
            return None

    def _fail(self, why):
        self.storage_ok = False
        if self._on_error is not None:
            self._on_error(why)

    # -- adding -----------------------------------------------------------------------------
    def __len__(self):
        return len(self._seqs)

    def add(self, event):
        """Number the event, put it on flash, return its sequence number (0: dropped)."""
        safe = event.get("k") in SAFETY_KINDS
        if len(self._seqs) >= self.capacity:
            victim = -1
            for i in range(len(self._seqs)):
                if not self._safe[i]:
                    victim = i
                    break
            if victim >= 0:
                self._drop(victim)
            elif not safe:
                self.drops += 1
                return 0
        seq = self.last + 1
        event["seq"] = seq
        try:
            store.write_atomic(self._path(seq), json.dumps(event))
        except store.StoreError as e:
            # Keep it in RAM: it is still reported, just not proof against a power cut.
            self._ram[seq] = event
            self._fail(str(e))
        self.last = seq
        self._seqs.append(seq)
        self._safe.append(1 if safe else 0)
        self._checkpoint(seq)
        return seq

    def _checkpoint(self, seq):
        try:
            store.write_atomic(self.seq_path, str(seq))
            self._saved = seq
        except store.StoreError as e:
            self._fail(str(e))

    def _drop(self, i):
        seq = self._seqs.pop(i)
        self._safe.pop(i)
        self._ram.pop(seq, None)
        store.remove(self._path(seq))
        self.drops += 1

    # -- sending ----------------------------------------------------------------------------
    def peek(self):
        """The oldest waiting event (a dict with its `seq`), or None."""
        while self._seqs:
            ev = self._read(self._seqs[0])
            if ev is not None:
                return ev
            self._seqs.pop(0)  # unreadable: the file is gone or torn
            self._safe.pop(0)
        return None

    def ack(self, seq):
        """The fleet stored `seq`: forget it (and anything older still waiting)."""
        if seq > self._saved and seq <= self.last:
            self._checkpoint(self.last)
        while self._seqs and self._seqs[0] <= seq:
            s = self._seqs.pop(0)
            self._safe.pop(0)
            self._ram.pop(s, None)
            store.remove(self._path(s))

    def waiting(self):
        return list(self._seqs)
