"""The messages the simulated devices send, built once before a run with the real codec.

Every payload comes from `protocol.messages.encode`, the same code the firmware and the fleet use,
so the generator speaks the wire contract of docs/protocol.md and nothing of its own. Building
happens before the clock starts: during a run the generator only copies bytes.
"""

from __future__ import annotations

import hashlib

from bench.perf import coapwire

PATH_REG = "/gg/reg"
PATH_HB = "/gg/hb"
PATH_EV = "/gg/ev"
PATH_CR = "/gg/cr"

# Device time written into the payloads: a fixed epoch keeps runs comparable.
BASE_EPOCH = 1_785_000_000


def _messages():  # type: ignore[no-untyped-def]
    """protocol.messages, imported late so `gasguard bench --help` works without loading it."""
    from protocol import messages

    return messages


def device_id(index: int, prefix: str = "gg-b") -> str:
    """A stable id per simulated device, valid per the contract: `gg-b00000000002a`."""
    return "%s%011x" % (prefix, index)


def registration(index: int, model: str, board: str, fw: str, site: str | None = None) -> bytes:
    """A registration payload for device `index` (no events sent yet: seq 0, power-on boot)."""
    dev = device_id(index)
    obj = {
        "dev": dev,
        "uid": hashlib.blake2s(dev.encode(), digest_size=6).digest(),
        "model": model,
        "board": board,
        "fw": fw,
        "gas": "methane",
        "seq": 0,
        "boot": 1,
    }
    if site is not None:
        obj["site"] = site
    return _messages().encode("registration", obj)


def heartbeat(index: int, fw: str, uptime: int = 3600, lel: float = 0.0, alarm: int = 0) -> bytes:
    """A heartbeat (SenML pack) of a quiet device."""
    obj = {
        "dev": device_id(index),
        "t": BASE_EPOCH + uptime,
        "fw": fw,
        "lel": lel,
        "alarm": alarm,
        "valve": 0,
        "faults": 0,
        "uptime": uptime,
        "last_seq": 0,
        "mem_free_kb": 96,
        "rssi": -67,
        "sp_low": 25,
        "sp_high": 0,
        "outbox": 0,
    }
    return _messages().encode("heartbeat", obj)


def event(index: int, seq: int, kind: str, uptime: int, **extra: object) -> bytes:
    """An event with sequence number `seq` (alarm events carry the reading and level)."""
    obj: dict[str, object] = {
        "dev": device_id(index),
        "seq": seq,
        "k": kind,
        "up": uptime,
        "t": BASE_EPOCH + uptime,
    }
    obj.update(extra)
    return _messages().encode("event", obj)


def alarm_event(index: int, seq: int, uptime: int) -> bytes:
    """The alarm that opens an incident: a high reading, level 1."""
    return event(index, seq, "alarm", uptime, lel=38.5, lvl=1)


def tail(path: str, payload: bytes) -> bytes:
    """The CoAP request tail (Uri-Path, Content-Format, payload) for a payload on `path`."""
    cf = coapwire.CF_SENML_CBOR if path == PATH_HB else coapwire.CF_CBOR
    return coapwire.request_tail(path, payload, cf)
