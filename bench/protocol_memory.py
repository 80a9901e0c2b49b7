# What encoding and decoding our messages costs in heap on MicroPython (the ESP32 has ~100 KB).
#
#   .venv/bin/python bench/protocol_memory.py [--json out.json]
#
# Run by CPython it drives the `micropython` binary (this same file is the MicroPython side) and
# prints, per scenario, two figures:
#   alloc  bytes the operation allocates with the garbage collector off (gc.disable(), then the
#          gc.mem_alloc() delta): nothing is reclaimed meanwhile, so this bounds the peak heap the
#          operation needs on top of what is already live;
#   heap   the -X heapsize (to 256 bytes) from which on importing the modules (as .mpy from
#          mpy-cross, as on a board) and running the operation 20 times in a row succeeds: what
#          a board must have free. Found by bisection, then a walk down to the first failure,
#          because collection timing makes success not quite monotonic in the heap size.
#   live   heap still in use after the imports and the set-up (the modules loaded from .mpy,
#          the sample message): zero for code frozen into the firmware image, where it is in flash.
# The "import only" row is the baseline the others add to; read the "- import" column as
# +-1 KB (the same timing effects).
import sys

SCENARIOS = (
    "import_only",
    "heartbeat_encode",
    "heartbeat_decode",
    "event_encode",
    "event_decode",
    "ack_decode",
    "kb_encode",
    "kb_decode",
)


# ---------------------------------------------------------------- MicroPython side


def _kb_message():
    """About 1 KB of CBOR: a batch of 16 events, as an outbox flush would send."""
    out = []
    for i in range(16):
        out.append(
            {"dev": "gg-a4cf12b3c4d5", "seq": 1000 + i, "k": "alarm", "up": 86500 + i,
             "t": 1764400100 + i, "lel": 27.5, "lvl": 1}
        )
    return out


def _setup(name):
    from protocol import cbor, messages, vectors

    hb = vectors.VECTORS[1][2]
    ev = vectors.VECTORS[3][2]
    if name == "import_only":
        return lambda: None
    if name == "heartbeat_encode":
        return lambda: messages.encode("heartbeat", hb)
    if name == "heartbeat_decode":
        data = messages.encode("heartbeat", hb)
        return lambda: messages.decode("heartbeat", data)
    if name == "event_encode":
        return lambda: messages.encode("event", ev)
    if name == "event_decode":
        data = messages.encode("event", ev)
        return lambda: messages.decode("event", data)
    if name == "ack_decode":  # what the device decodes after each uplink
        data = vectors.golden_bytes("ack_with_commands")
        return lambda: messages.decode("ack", data)
    kb = _kb_message()
    if name == "kb_encode":
        return lambda: cbor.dumps(kb)
    if name == "kb_decode":
        data = cbor.dumps(kb)
        return lambda: cbor.loads(data)
    raise SystemExit("unknown scenario " + name)


MODULES = (
    "protocol.cbor_types",
    "protocol.cbor_encode",
    "protocol.cbor_decode",
    "protocol.cbor",
    "protocol.codes",
    "protocol.senml",
    "protocol.messages",
    "protocol.coap_numbers",
    "protocol.paths",
    "protocol.vectors",
)


def _mp_modules():
    """Heap each module keeps once imported from .mpy (in the order a firmware imports them)."""
    import gc

    gc.collect()
    last = gc.mem_alloc()
    for name in MODULES:
        __import__(name)
        gc.collect()
        now = gc.mem_alloc()
        print("MODULE", name, now - last)
        last = now


def _mp_main(name, mode):
    import gc

    if mode == "modules":
        _mp_modules()
        return

    gc.collect()
    m0 = gc.mem_alloc()
    op = _setup(name)
    gc.collect()
    live = gc.mem_alloc() - m0
    if mode == "alloc":
        op()  # first call: anything created lazily is not the operation's cost
        gc.collect()
        gc.disable()
        a0 = gc.mem_alloc()
        result = op()
        a1 = gc.mem_alloc()
        gc.enable()
        size = 0
        if name.endswith("encode"):
            size = len(result)
        elif name == "kb_decode":
            from protocol.cbor import dumps

            size = len(dumps(result))
        elif name == "ack_decode":
            from protocol.messages import encode

            size = len(encode("ack", result))
        elif name != "import_only":
            size = -1
        print("ALLOC", a1 - a0, size, live)
    else:
        for _ in range(20):
            op()
        print("OK")


# ---------------------------------------------------------------- CPython side


def _run(mp, build, name, mode, heap):
    import os
    import subprocess

    env = dict(os.environ, MICROPYPATH=build)
    p = subprocess.run(
        [mp, "-X", "heapsize=%d" % heap, "-m", "protocol_memory", name, mode],
        capture_output=True, text=True, env=env, cwd=build, timeout=60,
    )
    return p.returncode == 0, p.stdout


def _build(repo, here, out):
    """Compile protocol/ and this script with mpy-cross, as a board would run them (frozen or
    .mpy): compiling source on the board costs far more heap than the code itself."""
    import subprocess
    from pathlib import Path

    cross = str(Path(sys.executable).with_name("mpy-cross"))
    src = Path(repo) / "protocol"
    for py in list(src.glob("*.py")) + [src / "vectors" / "__init__.py"]:
        if py.name == "cli.py":
            continue
        rel = py.relative_to(repo).with_suffix(".mpy")
        (Path(out) / rel).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([cross, "-o", str(Path(out) / rel), str(py)], check=True)
    subprocess.run([cross, "-o", str(Path(out) / "protocol_memory.mpy"), here], check=True)
    for hexfile in (src / "vectors").glob("*.hex"):
        (Path(out) / "protocol" / "vectors" / hexfile.name).write_text(hexfile.read_text())


def _min_heap(mp, build, name):
    lo, hi = 1024, 160 * 1024  # lo fails, hi works
    ok, out = _run(mp, build, name, "heap", hi)
    if not ok:
        raise SystemExit("%s does not run in %d bytes: %s" % (name, hi, out[-500:]))
    while hi - lo > 256:
        mid = (lo + hi) // 2
        if _run(mp, build, name, "heap", mid)[0]:
            hi = mid
        else:
            lo = mid
    # Collection timing makes success not quite monotonic in the heap size: walk down from 8 KB
    # above the bisection's answer to the first failure, so every size from the figure up works.
    n = hi + 8192
    while n > hi - 8192 and _run(mp, build, name, "heap", n)[0]:
        n -= 256
    return n + 256


def main(argv):
    import json
    import shutil
    import tempfile
    from pathlib import Path

    here = str(Path(__file__).resolve())
    repo = str(Path(__file__).resolve().parents[1])
    mp = str(Path(sys.executable).with_name("micropython"))
    if not Path(mp).exists():
        mp = shutil.which("micropython") or "micropython"
    build = tempfile.mkdtemp(prefix="gg-mpy-")
    _build(repo, here, build)
    rows = []
    base = None
    print("%-18s %8s %8s %10s %10s %9s" % ("scenario", "bytes", "alloc", "min heap", "- import", "live"))
    for name in SCENARIOS:
        ok, out = _run(mp, build, name, "alloc", 512 * 1024)
        if not ok or not out.startswith("ALLOC"):
            raise SystemExit("%s failed: %s" % (name, out[-500:]))
        _, alloc, size, live = out.split()
        heap = _min_heap(mp, build, name)
        if base is None:
            base = heap
        row = {"scenario": name, "message_bytes": int(size), "alloc_bytes": int(alloc),
               "min_heap_bytes": heap, "over_import_bytes": heap - base,
               "live_after_import_bytes": int(live)}
        rows.append(row)
        print("%-18s %8s %8d %10d %10d %9d" % (name, size if int(size) > 0 else "-", int(alloc),
                                               heap, heap - base, int(live)))
    ok, out = _run(mp, build, "-", "modules", 512 * 1024)
    modules = {}
    print("\nheap kept by each module imported from .mpy (0 when frozen into the firmware):")
    for line in out.splitlines():
        if line.startswith("MODULE"):
            _, mod, size = line.split()
            modules[mod] = int(size)
            print("  %-22s %7d" % (mod, int(size)))
    rows.append({"scenario": "modules_live_bytes", "modules": modules})
    shutil.rmtree(build, ignore_errors=True)
    if "--json" in argv:
        Path(argv[argv.index("--json") + 1]).write_text(json.dumps(rows, indent=2) + "\n")


if sys.implementation.name == "micropython":
    _mp_main(sys.argv[1], sys.argv[2])
elif __name__ == "__main__":
    main(sys.argv)
