# The firmware's parsers on the real MicroPython interpreter, fed a deterministic stream of
# mutated inputs (bench/fuzz/mutator.py, the same PRNG as the host engine). Run by the host
# (bench/fuzz/mp.py), not by hand:
#
#   MICROPYPATH=<repo>:<repo>/bench/fuzz micropython -X heapsize=160k bench/fuzz/mp_loop.py \
#       TARGET RUNS SEED CORPUS_FILE
#
# CORPUS_FILE holds the seed inputs, one hex line each (written by the host from the golden
# vectors and genuine messages). One line of output per run:
#   RESULT|target|inputs|refused|accepted|crashes|slowest_us|total_ms|first crash (hex)|its error
# A crash is any exception other than the parser's documented error, MemoryError included: the
# heap limit of the command line applies, as on a board. A hang is the host's timeout.
import gc
import sys

from mutator import Rng, mutate

SECRET = b"\x5a\xe2\xb7\xc1\xd2\xf0\xaa\x11\x93\x04\x57\xcf\x0e\x6d\x8b\x21"


def _ticks_us():
    import time

    return time.ticks_us()


def _unhex(line):
    out = bytearray(len(line) // 2)
    for i in range(len(out)):
        out[i] = int(line[2 * i:2 * i + 2], 16)
    return bytes(out)


def _hex(b):
    import binascii

    return binascii.hexlify(b).decode()


class _Sock:
    def __init__(self):
        self.n = 0

    def sendto(self, data, remote):
        self.n += 1
        return len(data)


class _Commands:
    def run(self, cmd):
        return {"id": cmd["id"], "ok": True, "st": "done", "dev": "gg-a4cf12b3c4d5"}


class _Resource500(Exception):
    pass


def _option_count(d, start):
    """How many option headers follow `start` (no allocation); start None: a CoAP datagram."""
    if start is None:
        if len(d) < 4:
            return 0
        start = 4 + (d[0] & 0x0F)
    i = start
    n = 0
    while i < len(d) and d[i] != 0xFF:
        b = d[i]
        i += 1
        for v in (b >> 4, b & 0x0F):
            if v == 13:
                i += 1
            elif v == 14:
                i += 2
        i += (b & 0x0F) if (b & 0x0F) < 13 else 0
        n += 1
    return n


def known(name, e, data):
    """The name of a known finding (reported, with a regression test) this exception is, or None."""
    if isinstance(e, MemoryError) and name in ("coap", "oscore.request", "endpoint") and _option_count(data, None) > 100:
        return "coap: Message.decode keeps every option: MemoryError on an option flood"
    if isinstance(e, MemoryError) and name == "oscore.plaintext" and _option_count(data, 1) > 100:
        return "oscore: wire.decode_plaintext keeps every option: MemoryError on an option flood"
    if isinstance(e, _Resource500) and "UnicodeError" in str(e):
        return "endpoint: 5.00 for a non-UTF-8 Uri-Path"
    memory = isinstance(e, MemoryError) or (isinstance(e, _Resource500) and "MemoryError" in str(e))
    if memory and len(data) >= 256:
        # a long input (hundreds of options, or a container of hundreds of one-byte items)
        # needs one 4-8 KB block for its list; on a heap fragmented by the loop that can fail
        return "MemoryError on a long input: a list needs a 4-8 KB block (option or item flood)"
    return None


def build(name):
    """-> (call, allowed exception types) for one target name."""
    if name == "cbor":
        from protocol.cbor import CBORError, loads

        return loads, (CBORError,)
    if name.startswith("messages."):
        from protocol import messages
        from protocol.cbor import CBORError

        kind = name[9:]
        return (lambda d: messages.decode(kind, d)), (CBORError, messages.MessageError)
    if name == "coap":
        from firmware.coap import Message, UnparsableMessage

        def coap(d):
            m = Message.decode(d)
            again = Message.decode(m.encode())
            if again.options != m.options or again.payload != m.payload or again.token != m.token:
                raise AssertionError("re-encoding changed the message")
            return m

        return coap, (UnparsableMessage,)
    if name == "oscore.option":
        from firmware.oscore import wire
        from firmware.oscore.errors import OscoreError

        return wire.decode_option, (OscoreError,)
    if name == "oscore.plaintext":
        from firmware.oscore import wire
        from firmware.oscore.errors import OscoreError

        return (lambda d: wire.decode_plaintext(bytearray(d), len(d))), (OscoreError,)
    if name == "oscore.request":
        from firmware.coap import Message, UnparsableMessage
        from firmware.oscore import coapmsg
        from firmware.oscore.context import SecurityContext
        from firmware.oscore.errors import OscoreError

        ctx = SecurityContext(SECRET, b"\x2a", b"", id_context=b"\x01\x02")

        def request(d):
            m = Message.decode(d)
            ctx.window.init_empty()
            return coapmsg.unprotect_request(ctx, m)

        return request, (UnparsableMessage, OscoreError)
    if name == "endpoint":
        from firmware import coapnet, resources
        from protocol.vectors import VECTORS

        health = None
        for n, k, o in VECTORS:
            if n == "heartbeat":
                health = o
        failures = []

        def log(text):
            if "resource failed" in text:
                failures.append(text)

        ep = coapnet.Endpoint(_Sock(), resources.site(lambda: health, _Commands()),
                              clock=lambda: 0, rand=lambda: 0, log=log)
        remote = b"\x02\x00\x16\x33\x7f\x00\x00\x01"

        def endpoint(d):
            ep.datagram(d, remote)
            for i in range(len(ep._seen)):
                ep._seen[i] = None
            if failures:
                text = failures.pop()
                while failures:
                    failures.pop()
                raise _Resource500(text)

        return endpoint, ()
    raise SystemExit("unknown target " + name)


def main(argv):
    name, runs, seed, corpus_file = argv[1], int(argv[2]), int(argv[3]), argv[4]
    seeds = []
    with open(corpus_file) as f:
        for line in f:
            line = line.strip()
            if line:
                seeds.append(_unhex(line))
    call, allowed = build(name)
    rng = Rng(seed)
    refused = accepted = crashes = 0
    slowest = 0
    first = ""
    first_err = ""
    known_counts = {}
    gc.collect()
    start = _ticks_us()
    for i in range(runs):
        data = seeds[i] if i < len(seeds) else mutate(rng, seeds[rng.below(len(seeds))], seeds)
        t0 = _ticks_us()
        try:
            call(data)
            accepted += 1
        except allowed:
            refused += 1
        except Exception as e:  # noqa: BLE001 - every other exception is a finding
            k = known(name, e, data)
            if k is not None:
                known_counts[k] = known_counts.get(k, 0) + 1
                continue
            crashes += 1
            if not first:
                first = _hex(data)
                first_err = "%s: %s" % (type(e).__name__, str(e)[:200])
        dt = _ticks_us() - t0
        if dt > slowest:
            slowest = dt
        if i & 1023 == 1023:
            gc.collect()
    total_ms = (_ticks_us() - start) // 1000
    for k in known_counts:
        print("KNOWN|%s|%d" % (k, known_counts[k]))
    print("RESULT|%s|%d|%d|%d|%d|%d|%d|%s|%s" % (name, runs, refused, accepted, crashes, slowest,
                                                total_ms, first, first_err.replace("|", "/")))


main(sys.argv)
