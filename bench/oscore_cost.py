# What OSCORE costs the device per message: time, heap and bytes on the wire.
#
#   .venv/bin/python bench/oscore_cost.py [--json out.json] [--n 200]
#
# Run by CPython it drives the `micropython` binary (this same file is the MicroPython side,
# with the ESP32-like 160 KB heap the tests use) and prints a Markdown table; on a real board:
#
#   mpremote mount . run bench/oscore_cost.py
#
# Figures per operation, for a typical uplink (POST /hb, Content-Format 112, a 100-byte SenML
# heartbeat) and the fleet's small answer and commands:
#   us     mean wall time per message over n messages (after a warm-up);
#   alloc  bytes the operation allocates with the garbage collector off (gc.disable(), then the
#          gc.mem_alloc() delta): nothing is reclaimed meanwhile, so this is the peak heap the
#          operation needs on top of what is already live;
#   wire   the CoAP datagram without and with OSCORE (firmware/coap.Message encoding, 2-byte
#          token), and the difference.
import sys

PAYLOAD = bytes(range(100))
SECRET = b"\x5a\xe2\xb7\xc1\xd2\xf0\xaa\x11\x93\x04\x57\xcf\x0e\x6d\x8b\x21"
SALT = b"\xc0\xff\xee\x00\x11\x22\x33\x44"
DEV = b"\x2a"
FLEET = b""


def _now_us():
    import time

    if hasattr(time, "ticks_us"):
        return time.ticks_us()
    return int(time.perf_counter() * 1000000)


def _alloc(fn):
    import gc

    gc.collect()
    if not hasattr(gc, "mem_alloc"):
        fn()
        return -1
    gc.disable()
    try:
        a = gc.mem_alloc()
        fn()
        return gc.mem_alloc() - a
    finally:
        gc.enable()


def _time(fn, n):
    import gc

    for _ in range(5):
        fn()
    gc.collect()
    t0 = _now_us()
    for _ in range(n):
        fn()
    return (_now_us() - t0) / n


def _wire(code, options, payload, oscore=None):
    from firmware import coap

    m = coap.Message(0, code, 0x1234, b"\x01\x02", payload)
    for num, v in options:
        m.add_option(num, v)
    if oscore is not None:
        m.add_option(9, oscore)
    return len(m.encode())


def mp_footprint():
    # RAM taken by importing the package from .mpy (bytecode in RAM, as on a board with the app
    # on its filesystem; a frozen build keeps it in flash) and by one live context
    import gc

    from protocol import cbor  # noqa: F401 - shared with the rest of the app, not counted

    gc.collect()
    a = gc.mem_alloc()
    from firmware.oscore.context import SecurityContext

    gc.collect()
    b = gc.mem_alloc()
    ctx = SecurityContext(SECRET, DEV, FLEET, master_salt=SALT)
    gc.collect()
    c = gc.mem_alloc()
    print("FOOT|%d|%d|%d" % (b - a, c - b, len(ctx.sender_key)))


def mp_main(n):
    from firmware.oscore.context import SecurityContext

    rows = []
    st = {}

    def derive():
        st["dev"] = SecurityContext(SECRET, DEV, FLEET, master_salt=SALT)

    rows.append(("derive context (boot)", _time(derive, max(1, n // 20)), _alloc(derive), None))
    dev = st["dev"]
    fleet = SecurityContext(SECRET, FLEET, DEV, master_salt=SALT)
    dev.window.init_empty()
    fleet.window.init_empty()
    hb_opts = [(11, b"hb"), (12, b"\x70")]

    def protect_hb():
        st["req"] = dev.protect_request(2, hb_opts, PAYLOAD)

    rows.append(("protect_request 100 B heartbeat", _time(protect_hb, n), _alloc(protect_hb),
                 (_wire(2, hb_opts, PAYLOAD),
                  _wire(st["req"][0], [], st["req"][2], st["req"][1]))))
    outer, opt, ct, binding = st["req"]

    ack_opts = [(12, b"\x3c")]
    ack = b"\xa2\x01\x18\x2a\x02\x80"  # {1: 42, 2: []}: acknowledged, no commands waiting

    def fleet_answer():
        b = fleet.unprotect_request(opt, ct)[3]
        fleet.window.init_empty()  # same request again for the next round
        st["resp"] = fleet.protect_response(b, 68, ack_opts, ack)

    fleet_answer()
    r_outer, r_opt, r_ct = st["resp"]

    def unprotect_ack():
        dev.unprotect_response(binding, r_opt, r_ct)

    rows.append(("unprotect_response 6 B ack", _time(unprotect_ack, n), _alloc(unprotect_ack),
                 (_wire(68, ack_opts, ack), _wire(r_outer, [], r_ct, r_opt))))

    cmd_opts = [(11, b"valve"), (11, b"close")]
    c_outer, c_opt, c_ct, _ = fleet.protect_request(2, cmd_opts, b"")

    def unprotect_cmd():
        dev.window.init_empty()
        st["cmd"] = dev.unprotect_request(c_opt, c_ct)

    rows.append(("unprotect_request POST /valve/close", _time(unprotect_cmd, n),
                 _alloc(unprotect_cmd), (_wire(2, cmd_opts, b""), _wire(c_outer, [], c_ct, c_opt))))
    cbind = st["cmd"][3]

    def protect_reply():
        cbind.reuse = True
        st["rep"] = dev.protect_response(cbind, 68, [], b"")

    protect_reply()
    rows.append(("protect_response 2.04 (empty)", _time(protect_reply, n), _alloc(protect_reply),
                 (_wire(68, [], b""), _wire(st["rep"][0], [], st["rep"][2], st["rep"][1]))))
    dev.seq = 70000  # a device some months in: a 3-byte Partial IV

    def protect_hb_late():
        st["req"] = dev.protect_request(2, hb_opts, PAYLOAD)

    protect_hb_late()
    rows.append(("protect_request 100 B, seq 70000", _time(protect_hb_late, n),
                 _alloc(protect_hb_late),
                 (_wire(2, hb_opts, PAYLOAD), _wire(st["req"][0], [], st["req"][2],
                                                    st["req"][1]))))
    # the shape fleet/provision issues: a 4-byte Sender ID and an 8-byte ID Context, sent as
    # kid context in every request (aiocoap finds the context by kid and kid context)
    big = SecurityContext(SECRET, b"\xa1\xb2\xc3\xd4", FLEET, master_salt=SALT,
                          id_context=b"\x00\x11\x22\x33\x44\x55\x66\x77")
    big.seq = 1000

    def protect_hb_fleet_ids():
        st["req"] = big.protect_request(2, hb_opts, PAYLOAD)

    protect_hb_fleet_ids()
    rows.append(("protect_request 100 B, 4 B kid + 8 B kid context", _time(protect_hb_fleet_ids, n),
                 _alloc(protect_hb_fleet_ids),
                 (_wire(2, hb_opts, PAYLOAD), _wire(st["req"][0], [], st["req"][2],
                                                    st["req"][1]))))
    for name, us, alloc, wire in rows:
        if wire is None:
            print("ROW|%s|%d|%d||" % (name, us, alloc))
        else:
            print("ROW|%s|%d|%d|%d|%d" % (name, us, alloc, wire[0], wire[1]))


def host_main(argv):
    import argparse
    import json
    import os
    import subprocess
    from pathlib import Path

    ap = argparse.ArgumentParser(description="OSCORE cost per message on MicroPython")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--n", type=int, default=200, help="messages per timing (default 200)")
    ap.add_argument("--heapsize", default="160k")
    args = ap.parse_args(argv[1:])
    repo = Path(__file__).resolve().parents[1]
    mp = Path(sys.executable).with_name("micropython")
    env = dict(os.environ, MICROPYPATH=str(repo))
    foot = _footprint(repo, mp, args.heapsize)
    out = subprocess.run([str(mp), "-X", "heapsize=" + args.heapsize, __file__, "--mp",
                          str(args.n)], env=env, cwd=str(repo), capture_output=True, text=True,
                         check=False)
    if out.returncode:
        sys.exit("micropython failed:\n" + out.stdout + out.stderr)
    ver = subprocess.run([str(mp), "-c", "import sys; print(sys.version)"],
                         capture_output=True, text=True, check=False).stdout.strip()
    rows = []
    for line in out.stdout.splitlines():
        if line.startswith("ROW|"):
            _, name, us, alloc, plain, prot = line.split("|")
            rows.append({"operation": name, "us": int(us), "alloc_bytes": int(alloc),
                         "plain_bytes": int(plain) if plain else None,
                         "protected_bytes": int(prot) if prot else None})
    print("MicroPython %s (Unix port, -X heapsize=%s), n=%d\n" % (ver, args.heapsize, args.n))
    print("| operation | time per message | heap allocated | datagram plain -> OSCORE (added) |")
    print("|---|---:|---:|---|")
    for r in rows:
        wire = ""
        if r["plain_bytes"] is not None:
            wire = "%d -> %d (+%d)" % (r["plain_bytes"], r["protected_bytes"],
                                       r["protected_bytes"] - r["plain_bytes"])
        t = ("%.1f ms" % (r["us"] / 1000)) if r["us"] >= 10000 else ("%d us" % r["us"])
        print("| %s | %s | %d B | %s |" % (r["operation"], t, r["alloc_bytes"], wire))
    print("\nimport of firmware.oscore from .mpy: %d B of RAM (0 when frozen); one live "
          "SecurityContext: %d B" % foot)
    if args.json:
        args.json.write_text(json.dumps({"micropython": ver, "heapsize": args.heapsize,
                                         "n": args.n, "rows": rows, "import_bytes": foot[0],
                                         "context_bytes": foot[1]}, indent=2))


def _footprint(repo, mp, heapsize):
    """(import bytes, context bytes), measured on .mpy files compiled with mpy-cross."""
    import glob
    import os
    import subprocess
    import tempfile

    cross = str(mp.with_name("mpy-cross"))
    with tempfile.TemporaryDirectory() as tmp:
        for pattern in ("firmware/__init__.py", "firmware/store.py", "firmware/oscore/*.py",
                        "protocol/__init__.py", "protocol/cbor*.py"):
            for src in glob.glob(str(repo / pattern)):
                rel = os.path.relpath(src, repo)[:-3] + ".mpy"
                os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
                subprocess.run([cross, "-o", os.path.join(tmp, rel), src], check=True)
        out = subprocess.run([str(mp), "-X", "heapsize=" + heapsize, __file__, "--foot"],
                             env=dict(os.environ, MICROPYPATH=tmp), cwd=tmp,
                             capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("FOOT|"):
            _, imp, ctx, _ = line.split("|")
            return int(imp), int(ctx)
    sys.exit("footprint run failed:\n" + out.stdout + out.stderr)


if "--foot" in sys.argv:
    mp_footprint()
elif sys.implementation.name == "micropython" or "--mp" in sys.argv:
    _n = 200
    for _i in range(len(sys.argv) - 1):
        if sys.argv[_i] == "--mp" and sys.argv[_i + 1].isdigit():
            _n = int(sys.argv[_i + 1])
    mp_main(_n)
elif __name__ == "__main__":
    host_main(sys.argv)
