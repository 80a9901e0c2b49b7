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


_SENML = {  # TEMPORARY: flat name -> (SenML name, value key), until protocol.messages lands
    "fw": ("3/0/3", "vs"), "mem_free_kb": ("3/0/10", "v"), "rssi": ("4/0/2", "v"),
    "lel": ("3325/0/5700", "v"), "alarm": ("30000/0/0", "v"), "sp_low": ("30000/0/1", "v"),
    "sp_high": ("30000/0/2", "v"), "valve": ("30000/0/3", "v"), "faults": ("30000/0/4", "v"),
    "uptime": ("30000/0/9", "v"), "outbox": ("30000/0/11", "v"), "last_seq": ("30000/0/13", "v"),
}


class _Interim:
    """TEMPORARY stand-in for protocol.messages.encode while that module is being written."""

    @staticmethod
    def encode(kind: str, obj: dict) -> bytes:
        import cbor2

        if kind != "heartbeat":
            return cbor2.dumps(obj, canonical=True)
        keys = {"bn": -2, "bt": -3, "n": 0, "v": 2, "vs": 3, "vb": 4}
        recs = []
        for flat, value in obj.items():
            if flat in _SENML:
                name, vk = _SENML[flat]
                recs.append({keys["n"]: name, keys[vk]: value})
        recs[0][keys["bn"]] = "urn:dev:os:32473-%s:" % obj["dev"]
        recs[0][keys["bt"]] = obj.get("t", 0)
        return cbor2.dumps(recs, canonical=True)


def codec_name() -> str:
    """Which codec built the payloads (reported, so an interim run is never mistaken)."""
    return "protocol.messages" if _messages() is not _Interim else "interim cbor2 encoder"


def _messages():  # type: ignore[no-untyped-def]
    """protocol.messages, imported late so `gasguard bench` starts without it."""
    try:
        from protocol import messages
    except ImportError:
        return _Interim
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
