# Fuzzing the device's OSCORE parsers on the real MicroPython interpreter (issue 10: at least
# 1,000,000 inputs per parser, 0 crashes, 0 hangs; a short run is part of the tests).
#
#   .venv/bin/python bench/oscore_fuzz.py [--n 1000000] [--seed 1] [--json out.json]
#
# Run by CPython it drives the `micropython` binary (this same file is the MicroPython side) and
# prints one row per parser. Inputs are mutations of genuine messages (bit flips, byte changes,
# truncation, extension, insertion, splices with random bytes) and plain random bytes:
#   option      wire.decode_option(value)
#   plaintext   wire.decode_plaintext(buf, n)
#   request     SecurityContext.unprotect_request(option, payload): a mutated protected request
#   response    SecurityContext.unprotect_response(binding, option, payload)
# Per parser: inputs, refused (an OscoreError: the expected outcome), accepted, crashes (any
# other exception: a bug), the slowest single input, and the run time. For requests and
# responses "accepted" is split: *equivalent* means the mutation only touched option fields the
# AEAD does not cover and that carry no meaning here (a kid context left out of a request, an
# empty kid added to a response) and the message decrypted to exactly the genuine one; *forged*
# means anything else got through, a finding that fails the run like a crash. A hang is caught
# by the host's timeout and the slowest-input figure.
import sys

SECRET = b"\x5a\xe2\xb7\xc1\xd2\xf0\xaa\x11\x93\x04\x57\xcf\x0e\x6d\x8b\x21"


def _ticks_us():
    import time

    if hasattr(time, "ticks_us"):
        return time.ticks_us()
    return int(time.perf_counter() * 1000000)


class _Rng:
    """xorshift32: the same stream on both interpreters, small ints only."""

    def __init__(self, seed):
        self.s = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def next(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s

    def below(self, n):
        return self.next() % n if n > 0 else 0


def _mutate(rng, seed):
    b = bytearray(seed)
    kind = rng.below(8)
    if kind == 7 or not b:  # fresh random bytes
        out = bytes(rng.next() & 0xFF for _ in range(rng.below(48)))
        return out if out != bytes(seed) else out + b"\x00"
    for _ in range(1 + rng.below(3)):
        op = rng.below(6)
        if op == 0 and b:  # flip a bit
            i = rng.below(len(b))
            b[i] ^= 1 << rng.below(8)
        elif op == 1 and b:  # replace a byte
            b[rng.below(len(b))] = rng.next() & 0xFF
        elif op == 2 and b:  # truncate
            b = b[0:rng.below(len(b))]
        elif op == 3:  # extend
            for _ in range(1 + rng.below(8)):
                b.append(rng.next() & 0xFF)
        elif op == 4:  # insert a byte
            i = rng.below(len(b) + 1)
            b = b[0:i] + bytes((rng.next() & 0xFF,)) + b[i:]
        elif b:  # interesting values at a random place
            b[rng.below(len(b))] = (0x00, 0xFF, 0x0D, 0x0E, 0x0F, 0xD0, 0xE0, 0xF0, 0x1F, 0x3F,
                                    0x09, 0x19)[rng.below(12)]
    if bytes(b) == bytes(seed):
        b.append(rng.next() & 0xFF)
    return bytes(b)


def mp_main(n, seed):
    import gc

    from firmware.oscore import wire
    from firmware.oscore.context import Binding, SecurityContext
    from firmware.oscore.errors import OscoreError

    rng = _Rng(seed)
    dev = SecurityContext(SECRET, b"\x2a", b"")
    fleet = SecurityContext(SECRET, b"", b"\x2a", id_context=b"\x01\x02")
    dev_ctx = SecurityContext(SECRET, b"\x2a", b"", id_context=b"\x01\x02")
    requests = []
    plain_requests = []
    for opts, payload in (([(11, b"valve"), (11, b"close")], b""), ([(11, b"health")], b""),
                          ([(11, b"cmd"), (12, b"\x3c")], b"\xa2\x01\x02\x02\x18\x2a")):
        _, opt, ct, _ = fleet.protect_request(2, opts, payload)
        requests.append((bytes(opt), bytes(ct)))
        plain_requests.append((2, opts, payload))
    _, _, _, binding = dev.protect_request(2, [(11, b"hb")], b"x")
    peer = SecurityContext(SECRET, b"", b"\x2a")
    peer.window.init_empty()
    _, popt, pct, _ = dev.protect_request(2, [(11, b"hb")], b"x" * 20)
    pb = peer.unprotect_request(popt, pct)[3]
    responses = []
    plain_response = (68, [(12, b"\x3c")], b"\xa1\x00\xf5")
    for reuse in (True, False):
        pb.reuse = reuse
        _, ropt, rct = peer.protect_response(pb, 68, [(12, b"\x3c")], b"\xa1\x00\xf5")
        responses.append((bytes(ropt), bytes(rct)))
    rbinding = Binding(pb.kid, pb.piv, False)
    options = [bytes(o) for o in (b"", b"\x09\x00", b"\x09\x14\x2a", b"\x19\x14\x08" + b"a" * 8,
                                  b"\x0d\x01\x02\x03\x04\x05\x2a", b"\x01\x00")]
    plains = []
    for code, opts, payload in ((1, [(11, b"tv1")], b""), (69, [], b"Hello World!"),
                                (2, [(11, b"a"), (60, b"y" * 20), (258, b"\x02")], b"\x01"),
                                (68, [(252, b"12345678"), (12, b"\x3c")], b"\xa0")):
        buf, k = wire.plaintext_into(code, opts, payload, 0)
        plains.append(bytes(buf[0:k]))

    def parse_option(x):
        return wire.decode_option(x)

    def parse_plaintext(x):
        return wire.decode_plaintext(x, len(x))

    def request_input():
        i = rng.below(len(requests))
        opt, ct = requests[i]
        if rng.below(2):
            return (_mutate(rng, opt), ct), plain_requests[i]
        return (opt, _mutate(rng, ct)), plain_requests[i]

    def response_input():
        opt, ct = responses[rng.below(len(responses))]
        if rng.below(2):
            return (_mutate(rng, opt), ct), plain_response
        return (opt, _mutate(rng, ct)), plain_response

    def run(name, make, call):
        refused = accepted = crashes = forged = 0
        slowest = 0
        first = None
        gc.collect()
        t_start = _ticks_us()
        for _ in range(n):
            x, expected = make()
            t0 = _ticks_us()
            try:
                got = call(x)
                accepted += 1
                if expected is not None and (got[0], got[1], got[2]) != expected:
                    forged += 1
                    if first is None:
                        first = "forged: %r accepted as %r" % (x, got)
            except OscoreError:
                refused += 1
            except Exception as e:  # noqa: BLE001 - every other exception is a finding
                crashes += 1
                if first is None:
                    first = "%s: %s on %r" % (type(e).__name__, e, x)
            dt = _ticks_us() - t0
            if dt > slowest:
                slowest = dt
        total_ms = (_ticks_us() - t_start) // 1000
        print("ROW|%s|%d|%d|%d|%d|%d|%d|%d|%s" % (name, n, refused, accepted, forged, crashes,
                                                  slowest, total_ms, first or ""))

    def request_call(x):
        dev_ctx.window.init_empty()
        return dev_ctx.unprotect_request(x[0], x[1])

    def response_call(x):
        return dev.unprotect_response(rbinding, x[0], x[1])

    run("option", lambda: (_mutate(rng, options[rng.below(len(options))]), None), parse_option)
    run("plaintext", lambda: (_mutate(rng, plains[rng.below(len(plains))]), None),
        parse_plaintext)
    run("request", request_input, request_call)
    run("response", response_input, response_call)


def host_main(argv):
    import argparse
    import json
    import os
    import subprocess
    from pathlib import Path

    ap = argparse.ArgumentParser(description="fuzz the device's OSCORE parsers on MicroPython")
    ap.add_argument("--n", type=int, default=1000000, help="inputs per parser")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=3600.0, help="a run longer than this is "
                    "a hang")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv[1:])
    repo = Path(__file__).resolve().parents[1]
    mp = Path(sys.executable).with_name("micropython")
    env = dict(os.environ, MICROPYPATH=str(repo))
    try:
        out = subprocess.run([str(mp), "-X", "heapsize=160k", __file__, "--mp", str(args.n),
                              str(args.seed)], env=env, cwd=str(repo), capture_output=True,
                             text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        sys.exit("HANG: the fuzz run did not finish within %ss" % args.timeout)
    rows = []
    for line in out.stdout.splitlines():
        if line.startswith("ROW|"):
            _, name, n, refused, accepted, forged, crashes, slowest, ms, first = \
                line.split("|", 9)
            rows.append({"parser": name, "inputs": int(n), "refused": int(refused),
                         "accepted": int(accepted), "forged": int(forged),
                         "crashes": int(crashes),
                         "slowest_us": int(slowest), "ms": int(ms), "first_crash": first})
    if out.returncode or len(rows) != 4:
        sys.exit("micropython failed:\n" + out.stdout[-3000:] + out.stderr[-3000:])
    print("seed %d, MicroPython Unix port, -X heapsize=160k\n" % args.seed)
    print("| parser | inputs | refused (OscoreError) | accepted | of which forged | crashes "
          "| slowest input | run |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        forged = str(r["forged"]) if r["parser"] in ("request", "response") else "-"
        print("| %s | %d | %d | %d | %s | %d | %d us | %.1f s |" % (
            r["parser"], r["inputs"], r["refused"], r["accepted"], forged, r["crashes"],
            r["slowest_us"], r["ms"] / 1000))
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "rows": rows}, indent=2))
    bad = [r for r in rows if r["crashes"] or r["forged"]]
    for r in bad:
        print("FINDING %s: %d crashes, %d forged; first: %s" % (
            r["parser"], r["crashes"], r["forged"], r["first_crash"]))
    return 1 if bad else 0


if "--mp" in sys.argv or sys.implementation.name == "micropython":
    _n, _seed = 1000, 1
    for _i in range(len(sys.argv) - 2):
        if sys.argv[_i] == "--mp":
            _n, _seed = int(sys.argv[_i + 1]), int(sys.argv[_i + 2])
    mp_main(_n, _seed)
elif __name__ == "__main__":
    sys.exit(host_main(sys.argv))
