# Uplinks to the fleet: registration, events from the durable outbox, heartbeats and command
# results, one confirmable request at a time over the shared CoAP endpoint; and the commands
# that arrive in the fleet's acks (or in POST /cmd) carried out once each.
#
# Order of work, each round: register until the fleet has answered once since boot; then the
# oldest waiting event; then a heartbeat when due; then waiting command results. A request that
# times out (fleet down, network cut) backs off 1, 2, 4 ... 60 s and tries again: the events stay
# on flash meanwhile, in order, so an outage or a reboot loses nothing.
#
# A response the fleet refuses as malformed (4.00, 4.02, 4.15, 4.22) drops that one event (it
# would block the queue for ever; the count shows in `stats`); any other failure retries.
from firmware import port
from protocol import coap_numbers as N
from protocol import messages, paths

_REFUSED = (N.BAD_REQUEST, N.BAD_OPTION, N.UNSUPPORTED_CONTENT_FORMAT, N.UNPROCESSABLE_ENTITY)
_SEEN_IDS = 16

# Reporting gives way to detection (docs/firmware.md, "Memory"): a Reporter built in a heap
# that has less than this left free (after a collection, with the endpoint and the site already
# built) refuses to start with MemoryError, which the app takes as "no memory for reporting
# now": it pauses reporting and tries again later. Running, reporting takes several KB more
# than at this point (its tasks, a request in flight); measured on the Unix port (64-bit,
# python -m firmware.footprint), starting with 16 KB free left the T/RH task without memory for
# its few floats a minute; with 24 KB, no heap from 160 to 176 KB (2 KB steps) had reporting
# start and then starve a detection task.
HEADROOM = 24 * 1024


class Commands:
    """Carries out fleet commands once per id. `run(cmd) -> result dict`. The device never
    has an "open" command (docs/protocol.md): unknown ops are refused."""

    def __init__(self, dev, actions, epoch=None):
        self.dev = dev
        self.actions = actions  # op -> fn() -> (st, ok or None, why or None)
        self.epoch = epoch  # () -> epoch seconds or 0
        self._ids = [None] * _SEEN_IDS
        self._results = [None] * _SEEN_IDS
        self._i = 0

    def run(self, cmd):
        cid = cmd.get("id", 0)
        for j in range(_SEEN_IDS):
            if self._ids[j] == cid:
                return self._results[j]  # re-delivered: same answer, not done twice
        res = {"dev": self.dev, "id": cid}
        exp = cmd.get("exp")
        now = self.epoch() if self.epoch is not None else 0
        fn = self.actions.get(cmd.get("op"))
        if exp and now and now > exp:
            res["st"] = "expired"
        elif fn is None:
            res["st"] = "refused"
            res["why"] = "unknown op %r" % (cmd.get("op"),)
        else:
            try:
                st, ok, why = fn()
            except Exception as e:  # noqa: BLE001 - a failed command is reported, not raised
                st, ok, why = "failed", None, repr(e)[:60]
            res["st"] = st
            if ok is not None:
                res["ok"] = ok
            if why:
                res["why"] = why
        self._ids[self._i] = cid
        self._results[self._i] = res
        self._i = (self._i + 1) % _SEEN_IDS
        return res


class Reporter:
    """Constructor: `endpoint` (coapnet.Endpoint), `outbox`, `remote` (fleet sockaddr),
    `registration()` and `health()` (-> dicts), `commands` (Commands), `heartbeat_s`,
    `clock` (ms ticks), `headroom` (bytes the heap must still have free, else MemoryError:
    HEADROOM). Async: `run()`; `deinit()` stops it. `kick()` wakes it for a new event."""

    def __init__(self, endpoint, outbox, remote, registration, health, commands,
                 heartbeat_s=300, clock=port.ticks_ms, log=None, headroom=HEADROOM):
        port.collect()
        free = port.mem_free()  # 0 where there is no heap of our own to watch (CPython)
        if free and free < headroom:
            raise MemoryError("reporting: %d bytes free, detection keeps %d" % (free, headroom))
        self.ep = endpoint
        self.outbox = outbox
        self.remote = remote
        self.registration = registration
        self.health = health
        self.commands = commands
        self.heartbeat_ms = heartbeat_s * 1000
        self.clock = clock
        self.log = log
        self.registered = False
        self.server_time = 0  # epoch s from the last ack
        self.server_tick = 0  # clock() when it came
        self.results = []  # command results waiting to go up
        self.stats = {"sent": 0, "failed": 0, "refused": 0, "acks": 0}
        self._hb_due = clock()
        self._backoff = 0
        self._dead = False
        self._wake = False

    def epoch(self):
        if not self.server_time:
            return 0
        return self.server_time + port.ticks_diff(self.clock(), self.server_tick) // 1000

    def kick(self):
        self._wake = True

    async def _post(self, path, kind, obj, cf):
        data = messages.encode(kind, obj)
        req = self.ep.request(N.POST, path, data, cf=cf, remote=self.remote)
        resp = await req.wait()
        if self.ep.oscore is not None and resp.code == N.UNAUTHORIZED:
            # the fleet's OSCORE replay window restarted: repeat once with its Echo (a new
            # protection, RFC 8613 Appendix B.1.2)
            from firmware.oscore import echo_challenge

            echo = echo_challenge(resp.code, resp.options)
            if echo is not None:
                req = self.ep.request(N.POST, path, data, cf=cf, remote=self.remote,
                                      options=((252, echo),))
                resp = await req.wait()
        return resp

    def _take_ack(self, resp):
        if resp.code != N.CHANGED or not resp.payload:
            return None
        try:
            ack = messages.decode("ack", resp.payload)
        except ValueError as e:
            if self.log:
                self.log("reporter: bad ack from the fleet: %s" % (e,))
            return None
        self.stats["acks"] += 1
        self.server_time = ack["st"]
        self.server_tick = self.clock()
        for cmd in ack.get("cmds", ()):
            res = self.commands.run(cmd)
            # the fleet offers a command again until its result arrives: one result in the
            # queue is enough (each copy would cost a request on a lossy link)
            if res not in self.results:
                self.results.append(res)
        return ack

    async def step(self):
        """One unit of work; returns False when there was nothing to do."""
        if self._dead:
            raise RuntimeError("reporter: used after deinit()")
        if not self.registered:
            resp = await self._post(paths.REGISTER, "registration", self.registration(), N.CF_CBOR)
            if resp.code == N.CHANGED:
                self.registered = True
                self._take_ack(resp)
                return True
            raise OSError("registration refused: %s" % N.code_text(resp.code))
        ev = self.outbox.peek()
        if ev is not None:
            try:
                messages.validate("event", ev)
            except ValueError as e:
                if self.log:
                    self.log("reporter: dropping invalid event %s: %s" % (ev.get("seq"), e))
                self.outbox.ack(ev["seq"])
                self.stats["refused"] += 1
                return True
            resp = await self._post(paths.EVENT, "event", ev, N.CF_CBOR)
            if resp.code == N.CHANGED:
                self.outbox.ack(ev["seq"])
                self._take_ack(resp)
                self.stats["sent"] += 1
                return True
            if resp.code in _REFUSED:
                self.outbox.ack(ev["seq"])
                self.stats["refused"] += 1
                return True
            raise OSError("event %d: %s" % (ev["seq"], N.code_text(resp.code)))
        if port.ticks_diff(self.clock(), self._hb_due) >= 0:
            resp = await self._post(paths.HEARTBEAT, "heartbeat", self.health(), N.CF_SENML_CBOR)
            if resp.code == N.CHANGED:
                self._hb_due = port.ticks_add(self.clock(), self.heartbeat_ms)
                self._take_ack(resp)
                return True
            raise OSError("heartbeat: %s" % N.code_text(resp.code))
        if self.results:
            res = self.results[0]
            resp = await self._post(paths.COMMAND_RESULT, "command_result", res, N.CF_CBOR)
            if resp.code == N.CHANGED or resp.code in _REFUSED:
                self.results.pop(0)
                self._take_ack(resp)
                return True
            raise OSError("command result: %s" % N.code_text(resp.code))
        return False

    async def run(self, idle_ms=100):
        while not self._dead:
            try:
                busy = await self.step()
                self._backoff = 0
            except Exception as e:  # noqa: BLE001 - timeouts, refusals, a network that is down
                self.stats["failed"] += 1
                self._backoff = 1000 if not self._backoff else min(self._backoff * 2, 60000)
                if self.log:
                    self.log("reporter: %s; retry in %d ms" % (e, self._backoff))
                waited = 0
                while waited < self._backoff and not self._dead:
                    await port.sleep_ms(100)
                    waited += 100
                continue
            if not busy:
                waited = 0
                while waited < 1000 and not self._wake and not self._dead:
                    await port.sleep_ms(idle_ms)
                    waited += idle_ms
                self._wake = False

    def deinit(self):
        self._dead = True
