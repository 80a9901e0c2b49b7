# The CoAP endpoint of the device: one UDP socket, client and server at once.
#
# Layers (aiocoap's, small):
# - transport: a non-blocking UDP socket; remotes are sockaddrs in the board's own form
#   (bytes on the Unix port, tuples on ESP32: see firmware/port.py) and are only compared.
# - message layer (`Endpoint.datagram`, `Endpoint.tick`): message IDs, CON retransmission with
#   the RFC 7252 s4.8 timing from protocol.coap_numbers.TransmissionParameters (ACK_TIMEOUT
#   2 s x a random factor up to 1.5, doubling, MAX_RETRANSMIT 4), duplicate detection of
#   incoming CON/NON by (remote, MID) for EXCHANGE_LIFETIME with the cached response re-sent,
#   piggy-backed responses, empty ACK + separate response from the peer, RST for what we cannot
#   take.
# - token layer (`Request`): a response is matched to its request by token (and remote).
# - resources (`Site`, `Resource`): routing by Uri-Path tuple; a resource implements
#   render_get / render_post; errors are classes from firmware/coap.py mapped to codes.
#
# OSCORE (RFC 8613, firmware/oscore/): with a security context, every request we send is
# protected before its first transmission (retransmissions are the same bytes) and its response
# unprotected by the token layer; every request we serve is de-duplicated first (a retransmitted
# request gets the cached protected answer, never a second unprotect), then unprotected, and the
# answer protected. A refusal answers with its own code, unprotected, with Max-Age 0.
#
# Time is an injected `clock()` in ms ticks, so tests drive retransmission without waiting.
# What this is not: block-wise, observe or multicast; NSTART is 1 per remote by use (the app
# keeps one uplink request in flight).
try:
    import asyncio
except ImportError:  # pragma: no cover
    asyncio = None

from firmware import port
from firmware.coap import (
    Error,
    InternalServerError,
    Message,
    MethodNotAllowed,
    NotFound,
    RequestTimedOut,
    ResetReceived,
    UnparsableMessage,
)
from firmware.port import ticks_add, ticks_diff, ticks_ms
from protocol import coap_numbers as N

_DEDUP = 16  # remembered incoming exchanges
NO_MEMORY_LIMIT = 10  # receives in a row without memory before run() gives up (about 2 s)


class Resource:
    """A resource answers requests through render_<method>(request) -> (code, payload, cf)."""

    def render(self, request):
        name = {N.GET: "render_get", N.POST: "render_post", N.PUT: "render_put",
                N.DELETE: "render_delete"}.get(request.code)
        fn = getattr(self, name, None) if name else None
        if fn is None:
            raise MethodNotAllowed()
        return fn(request)


class Site:
    """Routes a request to the resource at its Uri-Path tuple."""

    def __init__(self):
        self.resources = {}

    def add(self, path, resource):
        self.resources[tuple(path)] = resource

    def render(self, request):
        res = self.resources.get(request.path)
        if res is None:
            raise NotFound()
        return res.render(request)


class Request:
    """One outgoing request: the token layer's record of it. `await wait()` gives the response
    Message or raises RequestTimedOut / ResetReceived."""

    def __init__(self, msg, remote, binding=None):
        self.msg = msg
        self.remote = remote
        self.binding = binding  # OSCORE: the request's binding for its response
        self.response = None
        self.error = None
        self.acked = False
        self._ev = asyncio.Event() if asyncio is not None else None

    def _done(self, response=None, error=None):
        if self.response is None and self.error is None:
            self.response = response
            self.error = error
            if self._ev is not None:
                self._ev.set()

    def done(self):
        return self.response is not None or self.error is not None

    async def wait(self):
        if not self.done():
            await self._ev.wait()
        if self.error is not None:
            raise self.error
        return self.response


class _Pending:
    # a CON we sent and keep retransmitting until ACK/RST
    def __init__(self, data, remote, deadline, timeout, left, request):
        self.data = data
        self.remote = remote
        self.deadline = deadline
        self.timeout = timeout
        self.left = left
        self.request = request


class Endpoint:
    """Constructor: `sock` (non-blocking UDP), `site` (Site or None), `params`
    (TransmissionParameters), `clock` (ms ticks), `rand` (-> 0..255 for the random factor).
    Sync: `request(...)` starts a request, `datagram(data, remote)` takes one received
    datagram, `tick(now)` retransmits. Async: `run()` is the receive/retransmit task;
    `deinit()` stops it."""

    def __init__(self, sock, site=None, params=None, clock=ticks_ms, rand=None, log=None,
                 oscore=None):
        self.sock = sock
        self.oscore = oscore  # an OSCORE SecurityContext, or None for plain CoAP
        self.site = site
        self.params = params or N.DEFAULTS
        self.clock = clock
        self._rand = rand
        self.log = log
        seed = port.urandom(4)
        self._mid = ((seed[0] << 8) | seed[1]) & 0xFFFF
        self._tok = ((seed[2] << 8) | seed[3]) & 0xFFFF
        self._pending = {}  # mid -> _Pending
        self._waiting = []  # Requests awaiting a response (token layer)
        self._seen = [None] * _DEDUP  # (remote, mid, response bytes or None, expiry)
        self._seen_i = 0
        self.stats = {"tx": 0, "rx": 0, "retransmits": 0, "duplicates": 0, "timeouts": 0}
        self._dead = False
        p = self.params
        self._ack_ms = int(p.ACK_TIMEOUT * 1000)
        self._factor = p.ACK_RANDOM_FACTOR
        self._lifetime_ms = int(p.EXCHANGE_LIFETIME * 1000)
        self._wait_ms = int(p.MAX_TRANSMIT_WAIT * 1000)

    # -- helpers -------------------------------------------------------------------------
    def next_mid(self):
        self._mid = (self._mid + 1) & 0xFFFF
        return self._mid

    def _token(self):
        self._tok = (self._tok + 1) & 0xFFFF
        r = port.urandom(2)
        return bytes((self._tok >> 8, self._tok & 0xFF, r[0], r[1]))

    def _initial_timeout(self):
        r = self._rand() if self._rand is not None else port.urandom(1)[0]
        return int(self._ack_ms * (1.0 + (self._factor - 1.0) * r / 255.0))

    def _send(self, data, remote):
        self.stats["tx"] += 1
        try:
            self.sock.sendto(data, remote)
        except OSError as e:
            # the network may be down: retransmission (or the caller) deals with it
            if self.log:
                self.log("coap: sendto failed: %s" % (e,))

    # -- client side ---------------------------------------------------------------------
    def request(self, code, path, payload=b"", cf=None, remote=None, confirmable=True,
                options=None):
        """Send a request now; returns the Request (await its wait()). `options`: extra
        (number, bytes) pairs, e.g. an OSCORE Echo (252)."""
        if self._dead:
            raise RuntimeError("coap endpoint: used after deinit()")
        msg = Message(N.CON if confirmable else N.NON, code, self.next_mid(), self._token(),
                      payload, path=path, cf=cf)
        for o in options or ():
            msg.options.append(o)
        token = msg.token
        binding = None
        if self.oscore is not None:
            from firmware.oscore import coapmsg

            binding = coapmsg.protect_request(self.oscore, msg)  # OscoreError: nothing sent
        msg.token = token
        req = Request(msg, remote, binding)
        data = msg.encode()
        self._waiting.append(req)
        now = self.clock()
        if confirmable:
            t = self._initial_timeout()
            self._pending[msg.mid] = _Pending(data, remote, ticks_add(now, t), t,
                                              self.params.MAX_RETRANSMIT, req)
        req.started = now
        self._send(data, remote)
        return req

    def cancel(self, req):
        if req in self._waiting:
            self._waiting.remove(req)
        for mid in list(self._pending):
            if self._pending[mid].request is req:
                del self._pending[mid]

    def tick(self, now=None):
        """Retransmit what is due, fail what is exhausted (message layer timers)."""
        if now is None:
            now = self.clock()
        for mid in list(self._pending):
            p = self._pending[mid]
            if ticks_diff(now, p.deadline) < 0:
                continue
            if p.left <= 0:
                del self._pending[mid]
                self.stats["timeouts"] += 1
                if p.request is not None:
                    self._finish(p.request, error=RequestTimedOut(
                        "no ACK after %d retransmissions" % self.params.MAX_RETRANSMIT))
                continue
            p.left -= 1
            p.timeout *= 2
            p.deadline = ticks_add(now, p.timeout)
            self.stats["retransmits"] += 1
            self._send(p.data, p.remote)
        # separate responses that never came
        for req in list(self._waiting):
            if req.acked and ticks_diff(now, req.started) > self._wait_ms:
                self._finish(req, error=RequestTimedOut("no separate response"))

    def _finish(self, req, response=None, error=None):
        if req in self._waiting:
            self._waiting.remove(req)
        if response is not None and req.binding is not None and self.oscore is not None:
            from firmware.oscore import coapmsg
            from firmware.oscore.errors import OscoreError

            try:
                coapmsg.unprotect_response(self.oscore, req.binding, response)
            except OscoreError as e:
                # never answered (RFC 8613 s8.4); the caller retries with a new protection
                if self.log:
                    self.log("coap: response refused by OSCORE: %s" % (e,))
                response, error = None, e
        req._done(response, error)

    def _match(self, msg, remote):
        for req in self._waiting:
            if req.msg.token == msg.token and (req.remote is None or req.remote == remote):
                return req
        return None

    # -- receiving -----------------------------------------------------------------------
    def datagram(self, data, remote):
        """Take one received datagram (the message layer's entry point)."""
        self.stats["rx"] += 1
        try:
            msg = Message.decode(data, remote)
        except UnparsableMessage as e:
            if self.log:
                self.log("coap: unparsable datagram: %s" % (e,))
            if len(data) >= 4 and (data[0] >> 4) & 3 == N.CON and data[0] >> 6 == 1:
                self._send(Message(N.RST, N.EMPTY, (data[2] << 8) | data[3]).encode(), remote)
            return
        if msg.mtype in (N.ACK, N.RST):
            p = self._pending.get(msg.mid)
            if p is None or p.remote != remote and p.remote is not None:
                return  # late or stray
            del self._pending[msg.mid]
            req = p.request
            if msg.mtype == N.RST:
                self._finish(req, error=ResetReceived("RST from the peer"))
            elif msg.code == N.EMPTY:
                req.acked = True  # a separate response follows
            else:
                self._finish(req, response=msg)
            return
        # CON or NON from the peer
        if msg.code == N.EMPTY:
            if msg.mtype == N.CON:
                self._send(Message(N.RST, N.EMPTY, msg.mid).encode(), remote)  # CoAP ping
            return
        dup = self._duplicate(msg.mid, remote)
        if dup is not None:
            self.stats["duplicates"] += 1
            if dup[2] is not None:
                self._send(dup[2], remote)
            return
        if msg.is_response():
            out = None
            if msg.mtype == N.CON:
                out = Message(N.ACK, N.EMPTY, msg.mid).encode()
            req = self._match(msg, remote)
            if req is None and msg.mtype == N.CON:
                out = Message(N.RST, N.EMPTY, msg.mid).encode()
            self._remember(msg.mid, remote, out)
            if out is not None:
                self._send(out, remote)
            if req is not None:
                self._finish(req, response=msg)
            return
        if not msg.is_request():
            return
        resp = self._serve_oscore(msg) if self.oscore is not None else self._serve(msg)
        resp.mtype = N.ACK if msg.mtype == N.CON else N.NON
        resp.mid = msg.mid if msg.mtype == N.CON else self.next_mid()
        resp.token = msg.token
        out = resp.encode()
        self._remember(msg.mid, remote, out)
        self._send(out, remote)

    def _serve(self, request):
        try:
            if self.site is None:
                raise NotFound()
            code, payload, cf = self.site.render(request)
            return Message(N.ACK, code, 0, b"", payload or b"", cf=cf)
        except Error as e:
            return Message(N.ACK, e.code, 0, b"", e.payload())
        except Exception as e:  # noqa: BLE001 - a resource bug answers 5.00, never kills us
            if self.log:
                self.log("coap: resource failed: %r" % (e,))
            err = InternalServerError()
            return Message(N.ACK, err.code, 0, b"", b"")

    def _serve_oscore(self, request):
        from firmware.oscore import coapmsg
        from firmware.oscore.errors import EchoRequired, OscoreError

        ctx = self.oscore
        try:
            binding = coapmsg.unprotect_request(ctx, request)
        except EchoRequired as e:
            # first request since boot: prove freshness (RFC 8613 Appendix B.1.2)
            code, opt, ct = ctx.protect_response(e.binding, e.code, [(252, e.echo)], b"")
            r = Message(N.ACK, code, 0, b"", bytes(ct))
            r.options.append((9, bytes(opt)))
            return r
        except OscoreError as e:
            r = Message(N.ACK, e.code, 0, b"", e.payload())
            r.options.append((N.MAX_AGE, b""))
            return r
        resp = self._serve(request)
        coapmsg.protect_response(ctx, binding, resp)
        return resp

    def _duplicate(self, mid, remote):
        now = self.clock()
        for e in self._seen:
            if e is not None and e[1] == mid and e[0] == remote and ticks_diff(e[3], now) > 0:
                return e
        return None

    def _remember(self, mid, remote, response):
        self._seen[self._seen_i] = (remote, mid, response, ticks_add(self.clock(),
                                                                     self._lifetime_ms))
        self._seen_i = (self._seen_i + 1) % _DEDUP

    # -- the task ------------------------------------------------------------------------
    async def run(self, poll_ms=20):
        """Receive and retransmit until deinit(). The socket is polled: it is non-blocking
        and the same code runs on ESP32, the Unix port and CPython. A receive buffer is
        allocated only when a datagram is waiting, so an idle endpoint allocates nothing; with
        no memory for one, the datagram stays queued in the stack and we give the heap time."""
        sock = self.sock
        readable = port.readable(sock)
        short = 0  # receives in a row that found no memory
        while not self._dead:
            got = False
            if readable():
                try:
                    data, remote = sock.recvfrom(1280)
                    got = True
                    short = 0
                except OSError:
                    pass
                except MemoryError:
                    self.stats["no_memory"] = self.stats.get("no_memory", 0) + 1
                    short += 1
                    if short >= NO_MEMORY_LIMIT:
                        raise  # the app's supervisor decides (it pauses reporting)
                    port.collect()
                    await port.sleep_ms(poll_ms * 10)
                    continue
            if got:
                try:
                    self.datagram(data, remote)
                except Exception as e:  # noqa: BLE001 - one bad datagram must not stop us
                    if self.log:
                        self.log("coap: datagram failed: %r" % (e,))
                data = remote = None
            self.tick()
            if not got:
                await port.sleep_ms(poll_ms)

    def deinit(self):
        self._dead = True
        for req in list(self._waiting):
            self._finish(req, error=RequestTimedOut("endpoint closed"))
        self._pending = {}
        try:
            self.sock.close()
        except (OSError, AttributeError):
            pass
