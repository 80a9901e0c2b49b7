# runs-on: micropython cpython
"""protocol.messages on both interpreters: round trips, the exact refusal for each way a message
can be wrong, tolerance of unknown fields, and the heartbeat's SenML pack."""
from protocol import messages, senml
from protocol.cbor import CBORError, Tag, dumps, loads
from protocol.messages import MessageError, decode, encode, validate
from utils.dual import raises

DEV = "gg-a4cf12b3c4d5"
EVENT = {"dev": DEV, "seq": 18, "k": "alarm", "up": 86500, "t": 1764400100, "lel": 27.5, "lvl": 1}
HB = {
    "dev": DEV,
    "t": 1764400000,
    "fw": "0.1.0",
    "lel": 3.5,
    "alarm": 0,
    "valve": 0,
    "faults": 0,
    "uptime": 86400,
    "last_seq": 17,
    "valve_open": True,
    "rssi": -67,
}


def refused(kind, obj):
    """The message of the MessageError that validate() raises."""
    return str(raises(MessageError, validate, kind, obj))


def with_(base, **changes):
    d = dict(base)
    d.update(changes)
    return d


def without(base, key):
    d = dict(base)
    del d[key]
    return d


def test_event__round_trips():
    data = encode("event", EVENT)
    assert loads(data) == EVENT
    assert decode("event", data) == EVENT


def test_refusals__name_the_field_the_expectation_and_what_came():
    cases = (
        ("event", with_(EVENT, seq="18"), "event.seq: expected uint, got text"),
        ("event", with_(EVENT, seq=-1), "event.seq: expected uint, got negint"),
        ("event", with_(EVENT, seq=True), "event.seq: expected uint, got bool"),
        ("event", with_(EVENT, seq=0), "event.seq: expected at least 1, got 0"),
        ("event", with_(EVENT, lel="x"), "event.lel: expected number, got text"),
        ("event", with_(EVENT, lvl=3), "event.lvl: expected 1..2, got 3"),
        ("event", with_(EVENT, f=4096), "event.f: expected 0..4095, got 4096"),
        ("event", with_(EVENT, up=None), "event.up: expected uint, got null"),
        ("event", with_(EVENT, ok=1), "event.ok: expected bool, got uint"),
        ("event", without(EVENT, "dev"), "event.dev: missing (required)"),
        (
            "event",
            with_(EVENT, k="leak"),
            "event.k: expected one of boot, alarm, alarm_clear, valve_closed, valve_reopened, "
            "fault, fault_clear, power_lost, power_back, selftest, calibration, got 'leak'",
        ),
        (
            "event",
            with_(EVENT, src="magic"),
            "event.src: expected one of alarm, comparator, command, power, selftest, got 'magic'",
        ),
        (
            "event",
            with_(EVENT, dev="GG-1"),
            "event.dev: expected device_id ([a-z0-9][a-z0-9-]{0,31}), got text 'GG-1'",
        ),
        ("event", [1], "event: expected map, got array"),
        (
            "registration",
            {"dev": DEV, "uid": "a4cf", "model": "m", "board": "b", "fw": "1", "gas": "methane",
             "seq": 0, "boot": 1},
            "registration.uid: expected bytes, got text",
        ),
        (
            "registration",
            {"dev": DEV, "uid": b"", "model": "m", "board": "b", "fw": "1", "gas": "hydrogen",
             "seq": 0, "boot": 1},
            "registration.gas: expected one of methane, lpg, propane, butane, got 'hydrogen'",
        ),
        (
            "registration",
            {"dev": DEV, "uid": b"", "model": "m", "board": "b", "fw": "1", "gas": "lpg",
             "seq": 0, "boot": 9},
            "registration.boot: expected one of 0, 1, 2, 3, 4, 5, 6, got 9",
        ),
        ("command", {"id": 1, "op": "open"},
         "command.op: expected one of close_valve, selftest, reboot, got 'open'"),
        ("command", {"op": "reboot"}, "command.id: missing (required)"),
        ("command_result", {"dev": DEV, "id": 1, "st": "ok"},
         "command_result.st: expected one of done, failed, refused, expired, got 'ok'"),
        ("ack", {"st": 1, "pc": 1, "cmds": {}}, "ack.cmds: expected array, got map"),
        ("ack", {"st": 1, "pc": 1, "cmds": [{"id": 1, "op": "reboot"}, 5]},
         "ack.cmds[1]: expected map, got uint"),
        ("ack", {"st": 1, "pc": 1, "cmds": [{"id": 1, "op": "open"}]},
         "ack.cmds[0].op: expected one of close_valve, selftest, reboot, got 'open'"),
        ("ack", {"st": 1, "pc": 5, "cmds": [{"id": i, "op": "reboot"} for i in range(5)]},
         "ack.cmds: expected at most 4 items, got 5"),
        ("heartbeat", with_(HB, lel="high"), "heartbeat.lel: expected number, got text"),
        ("heartbeat", with_(HB, alarm=3), "heartbeat.alarm: expected 0..2, got 3"),
        ("heartbeat", without(HB, "last_seq"), "heartbeat.last_seq: missing (required)"),
        ("heartbeat", with_(HB, battery_pct=101), "heartbeat.battery_pct: expected 0..100, got 101"),
        (
            "alarm",
            EVENT,
            "kind: expected one of registration, heartbeat, event, command, command_result, ack, "
            "got 'alarm'",
        ),
    )
    for kind, obj, msg in cases:
        got = refused(kind, obj)
        assert got == msg, "got %r, expected %r" % (got, msg)


def test_message_error__is_a_value_error_with_the_field():
    e = raises(MessageError, validate, "event", with_(EVENT, seq="1"))
    assert isinstance(e, ValueError)
    assert e.field == "event.seq"


def test_encode__refuses_before_encoding():
    e = raises(MessageError, encode, "event", without(EVENT, "k"))
    assert str(e) == "event.k: missing (required)"


def test_decode__refuses_bytes_that_are_not_the_message():
    e = raises(MessageError, decode, "event", dumps(with_(EVENT, seq="x")))
    assert str(e) == "event.seq: expected uint, got text"
    e = raises(MessageError, decode, "command", dumps([1]))
    assert str(e) == "command: expected map, got array"


def test_decode__cbor_failures_come_out_as_cbor_error():
    e = raises(CBORError, decode, "event", b"\xa1\x61\x61")
    assert str(e) == "truncated input: 1 byte needed, 0 left at byte 3"


def test_unknown_fields__are_tolerated_and_passed_through():
    ev = with_(EVENT, future=[1, 2], **{"x-vendor": {"a": 1}})
    assert decode("event", encode("event", ev)) == ev
    cmd = {"id": 3, "op": "reboot", "why": "maintenance"}
    assert decode("command", dumps(cmd)) == cmd
    # non-text keys are tolerated too
    assert decode("ack", dumps({"st": 5, "pc": 0, 99: "x"})) == {"st": 5, "pc": 0, 99: "x"}


def test_ack__with_commands_round_trips():
    ack = {"st": 1764400102, "pc": 2, "cmds": [{"id": 7, "op": "close_valve", "exp": 1}]}
    assert decode("ack", encode("ack", ack)) == ack


def test_heartbeat__round_trips_through_a_senml_pack():
    data = encode("heartbeat", HB)
    pack = loads(data)
    assert pack[0][senml.BN] == "urn:dev:os:32473-gg-a4cf12b3c4d5:"
    assert pack[0][senml.BT] == 1764400000
    assert pack[0][senml.N] == "3/0/3" and pack[0][senml.VS] == "0.1.0"
    names = [r[senml.N] for r in pack]
    assert names == [
        "3/0/3", "4/0/2", "3325/0/5700", "3342/0/5500", "30000/0/0", "30000/0/3",
        "30000/0/4", "30000/0/9", "30000/0/13",
    ]
    assert pack[3] == {senml.N: "3342/0/5500", senml.VB: True}
    assert pack[2] == {senml.N: "3325/0/5700", senml.V: 3.5}
    assert decode("heartbeat", data) == HB


def test_heartbeat__time_defaults_to_zero():
    hb = without(HB, "t")
    back = decode("heartbeat", encode("heartbeat", hb))
    assert back["t"] == 0
    assert loads(encode("heartbeat", hb))[0][senml.BT] == 0


def test_heartbeat__unknown_records_pass_through_by_name():
    hb = with_(HB, **{"3303/0/5700": 21.5})
    data = encode("heartbeat", hb)
    assert loads(data)[-1] == {senml.N: "3303/0/5700", senml.V: 21.5}
    assert decode("heartbeat", data) == hb


def test_heartbeat__refuses_malformed_packs():
    bn = "urn:dev:os:32473-gg-1:"
    good = [{-2: bn, -3: 0, 0: "3/0/3", 3: "1"}]
    cases = (
        ({"a": 1}, "heartbeat: expected array (SenML pack), got map"),
        ([], "heartbeat: expected at least one SenML record, got none"),
        (good + [7], "heartbeat[1]: expected map (SenML record), got uint"),
        ([{0: "3/0/3", 3: "1"}], "heartbeat[0].bn: missing (the first record names the device)"),
        ([{-2: 5, 0: "3/0/3", 3: "1"}], "heartbeat[0].bn: expected text, got uint"),
        (
            [{-2: "urn:dev:os:1-gg-1:", 0: "3/0/3", 3: "1"}],
            "heartbeat[0].bn: expected urn:dev:os:32473-<device_id>:, got text 'urn:dev:os:1-gg-1:'",
        ),
        ([{-2: bn, -3: "now", 0: "3/0/3", 3: "1"}], "heartbeat[0].bt: expected number, got text"),
        (good + [{0: 5, 2: 1}], "heartbeat[1].n: expected text, got uint"),
        (good + [{0: "30000/0/9"}], "heartbeat[1]: expected a value (v, vs, vb or vd), got none"),
        (good + [{0: "30000/0/9", 2: 1, 4: True}],
         "heartbeat[1]: expected one value (v, vs, vb or vd), got several"),
        (good + [{0: "3/0/3", 3: "2"}], "heartbeat[1]: duplicate record 3/0/3 (fw)"),
        (good + [{0: "3325/0/5700", 3: "x"}], "heartbeat.lel: expected number, got text"),
        (good, "heartbeat.lel: missing (required)"),
    )
    for pack, msg in cases:
        e = raises(MessageError, decode, "heartbeat", dumps(pack))
        assert str(e) == msg, "got %r, expected %r" % (str(e), msg)


def test_heartbeat__record_table_matches_the_field_table():
    flat = [f[0] for f in messages.FIELDS["heartbeat"] if f[0] not in ("dev", "t")]
    assert [r[0] for r in messages.HEARTBEAT_RECORDS] == flat


def test_device_id__pattern_by_hand():
    ok = ("a", "gg-a4cf12b3c4d5", "0" * 32, "9-")
    bad = ("", "-a", "A", "gg_1", "a" * 33, "gg 1", "é")
    for d in ok:
        validate("command_result", {"dev": d, "id": 1, "st": "done"})
    for d in bad:
        raises(MessageError, validate, "command_result", {"dev": d, "id": 1, "st": "done"})


def test_heartbeat__direct_writer_equals_the_generic_encoding():
    for hb in (HB, with_(HB, **{"zz": 1, "3303/0/5700": 21.5, "a": "x", "b": b"\x01", "c": False}),
               without(HB, "t")):
        assert encode("heartbeat", hb) == dumps(messages.heartbeat_to_pack(hb))


# {"k": "boot", "up": [_ 0, 0, ... 830 zeros]}: ~840 bytes, once a 1,024-slot list
LONG_ARRAY = b"\xa2\x61k\x64boot\x62up\x9f" + b"\x00" * 830 + b"\xff"


def test_decode__item_limits_per_kind_name_the_field():
    assert messages.MAX_ITEMS == {"registration": 18, "heartbeat": 48, "event": 24, "command": 16,
                                  "command_result": 16, "ack": 16}
    cases = (
        ("heartbeat", LONG_ARRAY, "heartbeat.up: expected at most 48 items, got more"),
        ("event", dumps({"dev": DEV, "x": {"y": [{"z": list(range(25))}]}}),
         "event.x.y[0].z: expected at most 24 items, got more"),
        ("ack", dumps({"st": 1, "pc": 0, "cmds": [{"id": i, "op": "reboot"} for i in range(17)]}),
         "ack.cmds: expected at most 4 items, got more than 16"),
        ("heartbeat", dumps([{senml.N: "x", senml.V: 1}] * 49), "heartbeat: expected at most 48 items, got more"),
        ("heartbeat", dumps([{senml.BN: messages.base_name(DEV), senml.N: "3/0/3", senml.VS: "1"}, [0] * 49]),
         "heartbeat[1]: expected at most 48 items, got more"),
        ("registration", dumps(dict((str(i), i) for i in range(19))), "registration: expected at most 18 keys, got more"),
        ("command", dumps(Tag(99, list(range(17)))), "command: expected at most 16 items, got more"),
    )
    for kind, data, want in cases:
        e = raises(MessageError, decode, kind, data)
        assert str(e) == want, (kind, str(e))
    # at the limit: decoded, then judged by the field table as before
    e = raises(MessageError, decode, "ack", dumps({"st": 1, "pc": 0, "cmds": [{"id": 1, "op": "reboot"}] * 16}))
    assert str(e) == "ack.cmds: expected at most 4 items, got 16"
    assert decode("event", dumps(dict(EVENT, x=list(range(24)))))["x"] == list(range(24))
