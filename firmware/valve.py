# The linked shutoff valve and its fast path.
#
# One handler, `Valve.trip()`, closes the valve. The comparator pin's IRQ, the mains-sense
# pin's IRQ (boards that close on power loss) and the sampling path (alarm, command,
# self-test) all call it. It is ISR-safe: it allocates nothing (tests call it under
# micropython.heap_lock()), never blocks, drives the valve pin at once, stores the tick and the
# source in a preallocated array slot and sets a ThreadSafeFlag; the task `run()` does the rest
# (ends the pulse, records the state on flash, emits the event). On ESP32 pin handlers are soft
# IRQs (scheduled callbacks); the handler keeps hard-IRQ rules anyway, so the same code is fine
# on ports that have hard IRQs.
#
# The firmware never commands the valve open (GB 50028 s10.8.4: reopened only by hand, on site).
# There is no method that drives the "open" level of a pulse valve. A hold-to-open
# (normally-closed) valve is re-energised only by `manual_reset()`, which is the on-site button
# and refuses while an alarm is on; energising the hold lets a person re-latch it by hand.
#
# Valve state survives reboot in /valve.json; a valve recorded closed stays closed after boot.
from array import array

from firmware import store
from firmware.port import const, ticks_diff, ticks_ms

# valve state (heartbeat `valve`): docs/protocol.md
OPEN = const(0)
CLOSED = const(1)
CLOSING = const(2)
UNKNOWN = const(3)

# close sources (event `src`); index into SOURCES
SRC_ALARM = const(1)
SRC_COMPARATOR = const(2)
SRC_COMMAND = const(3)
SRC_POWER = const(4)
SRC_SELFTEST = const(5)
SOURCES = ("", "alarm", "comparator", "command", "power", "selftest")

# slot layout (array 'l')
_S_TICK = const(0)  # ticks_ms() of the last trip
_S_SRC = const(1)  # source of the last trip
_S_COUNT = const(2)  # trips so far (the task compares with what it has handled)
_S_PULSING = const(3)  # 1 while a close pulse is on the drive pin

_FB_DEBOUNCE_MS = const(1000)
_SETTLE_MS = const(500)  # after pulse + closing time, before the feedback must agree
F_FEEDBACK = const(32)


class Valve:
    """Constructor: `drive` (Pin, output), `feedback` (Pin or None), `flag` (ThreadSafeFlag),
    `kind` ("pulse" latched, or "hold" to open), `pulse_ms`, `closing_ms`,
    `feedback_closed_level` (pin level that means closed), `path` (state file or None),
    `comparator_level` (pin level of the comparator's alarm output), `on_event(kind, fields)`.
    Sync: `trip(src)` (ISR-safe), `poll(now_ms)`, `service(now_ms)`, `manual_reset(alarm)`.
    Async: `run()` (one task; owns the flag). `deinit()` stops it."""

    def __init__(self, drive, feedback=None, flag=None, kind="pulse", pulse_ms=200,
                 closing_ms=1500, feedback_closed_level=0, path=None, comparator_level=1,
                 sense_lost_level=0, on_event=None, clock=None, ticks=ticks_ms):
        if kind not in ("pulse", "hold"):
            raise ValueError("valve.kind: expected 'pulse' or 'hold', got %r" % (kind,))
        self._drive = drive
        self._fb = feedback
        self._flag = flag
        self.kind = kind
        self.pulse_ms = pulse_ms
        self.closing_ms = closing_ms
        self._fb_closed = feedback_closed_level
        self._cmp_level = comparator_level
        self._sense_lost = sense_lost_level
        self._sense = None
        # pulse valve: 1 pulses the close coil, 0 idles; hold valve: 1 holds open, 0 closes
        self._close_level = 1 if kind == "pulse" else 0
        self._idle_level = 0 if kind == "pulse" else 1
        self._slot = array("l", [0, 0, 0, 0])
        self._handled = 0
        self.path = path
        self.on_event = on_event
        self.clock = clock  # () -> (uptime_s, epoch_s) for records; optional
        self._ticks = ticks  # the ms clock the handler stamps trips with (injected in tests)
        self.state = OPEN
        self.src = 0
        self.fault = 0
        self.closes = 0
        self._fb_since = 0
        self._fb_odd = False
        self._closing_since = 0
        self._retried = False
        self._dead = False
        self._load()

    # -- the fast path --------------------------------------------------------------------
    def trip(self, src):
        # ISR-safe: no allocation. Called from pin IRQs (src is the Pin) and from code (int).
        if type(src) is not int:
            if src is self._sense:
                if src.value() != self._sense_lost:
                    return
                src = SRC_POWER
            else:
                if src.value() != self._cmp_level:
                    return
                src = SRC_COMPARATOR
        self._drive.value(self._close_level)
        s = self._slot
        s[_S_TICK] = self._ticks()
        s[_S_SRC] = src
        s[_S_COUNT] += 1
        if self._close_level:
            s[_S_PULSING] = 1
        f = self._flag
        if f is not None:
            f.set()

    def attach(self, comparator=None, sense=None, trigger_cmp=None, trigger_sense=None):
        """Route pin IRQs to trip(). Soft IRQ on ESP32 (hard=True is refused there)."""
        if comparator is not None:
            comparator.irq(handler=self.trip, trigger=trigger_cmp)
        if sense is not None:
            self._sense = sense
            sense.irq(handler=self.trip, trigger=trigger_sense)

    # -- after the handler ------------------------------------------------------------------
    def service(self, now_ms):
        """End a close pulse once pulse_ms has passed (called by the task and the sampler)."""
        s = self._slot
        if s[_S_PULSING] and ticks_diff(now_ms, s[_S_TICK]) >= self.pulse_ms:
            s[_S_PULSING] = 0
            self._drive.value(self._idle_level)

    def pending(self):
        return self._slot[_S_COUNT] != self._handled

    def handle(self, now_ms):
        """Take note of trips since the last call: state, flash record, event."""
        s = self._slot
        count = s[_S_COUNT]
        if count == self._handled:
            return False
        self._handled = count
        src = s[_S_SRC]
        if self.state == OPEN or self.state == UNKNOWN:
            self.state = CLOSING
            self.src = src
            self.closes += 1
            self._closing_since = s[_S_TICK]
            self._retried = False
            self._save()
            self._emit("valve_closed", {"src": SOURCES[src]})
        elif self.state == CLOSING:
            pass  # already on its way
        return True

    def poll(self, now_ms):
        """Read the feedback switch: confirm a close, detect a reopen by hand, or disagree."""
        self.service(now_ms)
        if self.pending():
            self.handle(now_ms)
        fb = self._fb
        if self.state == CLOSING:
            # a pulse valve starts closing when the pulse releases its latch
            if ticks_diff(now_ms, self._closing_since) < self.closing_ms + self.pulse_ms + _SETTLE_MS:
                return
            if fb is None or fb.value() == self._fb_closed:
                self.state = CLOSED
                self._set_fault(0)
                self._save()
            elif not self._retried:
                self._retried = True  # one more pulse before calling it a fault
                self._closing_since = now_ms
                self.trip(self._slot[_S_SRC] or SRC_ALARM)
                self._handled = self._slot[_S_COUNT]
            else:
                self._set_fault(F_FEEDBACK)
            return
        if fb is None:
            return
        closed = fb.value() == self._fb_closed
        odd = (self.state == CLOSED and not closed) or (self.state == OPEN and closed)
        if not odd:
            self._fb_odd = False
            if self.state == CLOSED:
                self._set_fault(0)
            return
        if not self._fb_odd:
            self._fb_odd = True
            self._fb_since = now_ms
            return
        if ticks_diff(now_ms, self._fb_since) < _FB_DEBOUNCE_MS:
            return
        self._fb_odd = False
        if self.state == CLOSED:
            # reopened by hand on site: the only way a valve opens
            self.state = OPEN
            self.src = 0
            self._set_fault(0)
            self._save()
            self._emit("valve_reopened", {})
        else:
            # closed without a command from us (by hand, or a passive close): record it
            self.state = CLOSED
            self._save()

    def _set_fault(self, bit):
        self.fault = bit

    def manual_reset(self, alarm_level):
        """The on-site button: re-energise a hold-to-open valve's hold so a person can re-latch
        it by hand. Refused (False) while an alarm is on, and a no-op for pulse valves."""
        if self.kind != "hold" or alarm_level:
            return False
        self._drive.value(self._idle_level)
        return True

    async def run(self):
        """The one task behind the flag: handles trips, ends pulses, confirms the close."""
        from firmware.port import sleep_ms

        while not self._dead:
            await self._flag.wait()
            if self._dead:
                break
            now = self._ticks()
            self.handle(now)
            if self._slot[_S_PULSING]:
                await sleep_ms(self.pulse_ms)
                self.service(self._ticks())

    def deinit(self):
        self._dead = True
        if self._flag is not None:
            self._flag.set()

    # -- state on flash -------------------------------------------------------------------
    def _emit(self, kind, fields):
        if self.on_event is not None:
            self.on_event(kind, fields)

    def _record(self):
        up, t = self.clock() if self.clock is not None else (0, 0)
        return {"state": self.state, "src": SOURCES[self.src] if self.src else "",
                "closes": self.closes, "up": up, "t": t}

    def _save(self):
        if not self.path:
            return
        try:
            store.write_json(self.path, self._record())
        except store.StoreError:
            pass  # the state is still right in RAM; the outbox reports storage faults

    def _load(self):
        rec = None
        if self.path:
            try:
                rec = store.read_json(self.path)
            except store.StoreError:
                rec = None
        if isinstance(rec, dict):
            st = rec.get("state", OPEN)
            self.closes = rec.get("closes", 0) if isinstance(rec.get("closes"), int) else 0
            src = rec.get("src", "")
            self.src = SOURCES.index(src) if src in SOURCES else 0
            # closed stays closed: a pulse valve is latched, a hold valve keeps its hold off
            self.state = CLOSED if st in (CLOSED, CLOSING, UNKNOWN) else OPEN
        if self.kind == "hold" and self.state == OPEN and self._fb is not None \
                and self._fb.value() == self._fb_closed:
            # a hold valve loses its hold in every reset: it is closed now and is re-energised
            # only by manual_reset() (the button on site), never by the boot itself
            self.state = CLOSED
        self._drive.value(self._idle_level if self.state == OPEN else 0)

    def last_trip(self):
        """(tick, source name, count) of the last trip (for tests and health)."""
        s = self._slot
        return s[_S_TICK], SOURCES[s[_S_SRC]], s[_S_COUNT]
