"""protocol/schema.cddl (RFC 8610) checked by an independent CDDL tool, pycddl (CPython only):
every golden vector validates against its rule, and broken variants are refused."""

from __future__ import annotations

from pathlib import Path

import pycddl
import pytest

import protocol
from protocol import messages, vectors
from protocol.cbor import dumps, loads

SCHEMA = Path(protocol.__file__).with_name("schema.cddl").read_text()


def rule(kind: str) -> pycddl.Schema:
    """The schema with `kind` as its root (pycddl validates against the first rule)."""
    return pycddl.Schema("root = %s\n%s" % (kind.replace("_", "-"), SCHEMA))


def test_schema__defines_every_message_kind() -> None:
    for kind in messages.KINDS:
        assert "\n%s = " % kind.replace("_", "-") in SCHEMA, kind
    pycddl.Schema(SCHEMA)  # parses as a whole


@pytest.mark.parametrize("name,kind", [(n, k) for n, k, _ in vectors.VECTORS])
def test_vectors__validate_against_their_rule(name: str, kind: str) -> None:
    # Per rule, not against the `gasguard-message` union: pycddl 0.6.4 wrongly refuses a map
    # that matches a later choice once an earlier map choice with `* tstr => any` has failed
    # (e.g. `root = ack / command` refuses a valid command).
    rule(kind).validate_cbor(vectors.golden_bytes(name))


EVENT = loads(vectors.golden_bytes("event_alarm"))
HB_PACK = loads(vectors.golden_bytes("heartbeat"))


def _pack(i: int, label: int, value: object) -> list:
    pack = [dict(r) for r in HB_PACK]
    pack[i][label] = value
    return pack


BROKEN = [
    ("event", dict(EVENT, seq=0)),
    ("event", dict(EVENT, seq="18")),
    ("event", dict(EVENT, k="leak")),
    ("event", dict(EVENT, lvl=3)),
    ("event", dict(EVENT, dev="GG")),
    ("event", {k: v for k, v in EVENT.items() if k != "up"}),
    ("command", {"id": 1, "op": "open"}),
    ("command_result", {"dev": "gg-1", "id": 1, "st": "ok"}),
    ("ack", {"st": 1, "pc": 0, "cmds": [{"id": i, "op": "reboot"} for i in range(5)]}),
    ("registration", {"dev": "gg-1", "uid": "text", "model": "m", "board": "b", "fw": "1",
                      "gas": "methane", "seq": 0, "boot": 1}),
    ("heartbeat", _pack(3, 2, "3.5")),  # lel as text
    ("heartbeat", _pack(6, 2, 3)),  # alarm out of range
    ("heartbeat", _pack(0, -2, "urn:dev:os:1-gg-1:")),  # wrong base name
    ("heartbeat", [{k: v for k, v in HB_PACK[0].items() if k != -2}] + HB_PACK[1:]),  # no bn
]


@pytest.mark.parametrize("kind,obj", BROKEN)
def test_schema__refuses_broken_messages(kind: str, obj: object) -> None:
    with pytest.raises(pycddl.ValidationError):
        rule(kind).validate_cbor(dumps(obj))
    # protocol.messages refuses them too (the schema and the field tables say the same).
    with pytest.raises(messages.MessageError):
        messages.decode(kind, dumps(obj))


def test_schema__tolerates_unknown_keys() -> None:
    rule("event").validate_cbor(dumps(dict(EVENT, future={"x": [1]})))
