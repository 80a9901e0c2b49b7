# Golden vectors: one sample of each message, with its exact bytes in <name>.hex and its CBOR
# diagnostic notation (RFC 8949 section 8) in <name>.diag, beside this file. Both interpreters
# must produce exactly these bytes from these objects and decode the bytes back to them
# (tests/protocol/test_vectors.py). Change a sample only together with its files:
# `gasguard protocol vectors --write` rewrites them and checks them against cbor2 and cbor-diag.

DEV = "gg-a4cf12b3c4d5"

# (name, message kind, the dict handed to protocol.messages.encode)
VECTORS = (
    (
        "registration",
        "registration",
        {
            "dev": DEV,
            "uid": b"\xa4\xcf\x12\xb3\xc4\xd5",
            "model": "GG-JT-100",
            "board": "gg-esp32-v1",
            "fw": "0.1.0",
            "gas": "methane",
            "seq": 17,
            "boot": 1,
            "site": "xy-0042",
        },
    ),
    (
        "heartbeat",
        "heartbeat",
        {
            "dev": DEV,
            "t": 1764400000,
            "fw": "0.1.0",
            "mem_free_kb": 92,
            "rssi": -67,
            "lel": 3.5,
            "valve_open": True,
            "buzzer": False,
            "alarm": 0,
            "sp_low": 20,
            "sp_high": 50,
            "valve": 0,
            "faults": 0,
            "cal_due": 1790000000,
            "valve_eol": 2000000000,
            "powered_h": 1234,
            "baseline": 1.25,
            "uptime": 86400,
            "reset": 1,
            "outbox": 0,
            "heap_free": 94208,
            "last_seq": 17,
            "warmup": False,
        },
    ),
    (
        "heartbeat_minimal",
        "heartbeat",
        {
            "dev": DEV,
            "t": 0,
            "fw": "0.1.0",
            "lel": 0.0,
            "alarm": 0,
            "valve": 3,
            "faults": 128,
            "uptime": 12,
            "last_seq": 0,
        },
    ),
    (
        "event_alarm",
        "event",
        {"dev": DEV, "seq": 18, "k": "alarm", "up": 86500, "t": 1764400100, "lel": 27.5, "lvl": 1},
    ),
    (
        "event_valve_closed",
        "event",
        {"dev": DEV, "seq": 19, "k": "valve_closed", "up": 86501, "t": 1764400101, "src": "alarm"},
    ),
    ("event_boot", "event", {"dev": DEV, "seq": 1, "k": "boot", "up": 0, "boot": 3}),
    ("command", "command", {"id": 7, "op": "close_valve", "exp": 1764403600}),
    (
        "command_result",
        "command_result",
        {"dev": DEV, "id": 8, "st": "done", "ok": True},
    ),
    ("ack", "ack", {"st": 1764400102, "seq": 19, "pc": 0}),
    (
        "ack_with_commands",
        "ack",
        {
            "st": 1764400102,
            "pc": 2,
            "cmds": [{"id": 7, "op": "close_valve", "exp": 1764403600}, {"id": 8, "op": "selftest"}],
        },
    ),
)


def folder():
    """This folder's path (works on MicroPython, whose modules also have __file__)."""
    f = __file__
    i = f.rfind("/")
    return f[:i] if i >= 0 else "."


def read(name, ext):
    """The text of <name>.<ext> (ext "hex" or "diag"), without the final newline."""
    with open(folder() + "/" + name + "." + ext) as fh:
        return fh.read().strip()


def golden_bytes(name):
    return bytes.fromhex(read(name, "hex"))
