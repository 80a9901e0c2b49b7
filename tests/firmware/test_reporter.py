# runs-on: micropython cpython
# mp-heapsize: 256k
"""The uplink order and its rules on a fake CoAP endpoint: register first, events oldest first
and removed only on 2.04, a refused event dropped so it cannot block the queue, commands from
acks carried out once and their results sent up. (256 KB on MicroPython: every module here is
compiled from source in the test's heap, and the fake endpoint decodes heartbeats, the fleet's
side, whose helpers protocol.messages loads on first use.)"""
import asyncio

from firmware.coap import Message, RequestTimedOut
from firmware.outbox import Outbox
from firmware.reporter import Commands, Reporter
from fw_fakes import cleanup, Clock, tmpdir
from protocol import coap_numbers as N
from protocol import messages

teardown_function = cleanup


class FakeRequest:
    def __init__(self, response=None, error=None):
        self.response = response
        self.error = error

    async def wait(self):
        if self.error is not None:
            raise self.error
        return self.response


class FakeEndpoint:
    """Answers each request from a script of (code, ack dict or None) or an exception."""

    def __init__(self, script):
        self.script = list(script)
        self.sent = []  # (path, decoded payload)
        self.oscore = None

    def request(self, code, path, payload=b"", cf=None, remote=None, confirmable=True,
                options=None):
        kind = {"reg": "registration", "ev": "event", "hb": "heartbeat",
                "cr": "command_result"}[path[1]]
        self.sent.append((path[1], messages.decode(kind, payload)))
        step = self.script.pop(0) if self.script else (N.CHANGED, {"st": 1, "pc": 0})
        if isinstance(step, Exception):
            return FakeRequest(error=step)
        rcode, ack = step
        body = messages.encode("ack", ack) if ack is not None else b""
        return FakeRequest(Message(N.ACK, rcode, 1, b"", body))


def make(script, n_events=2):
    ob = Outbox(tmpdir("rep"), capacity=8)
    for i in range(n_events):
        ob.add({"dev": "gg-r", "k": "fault", "up": i, "f": 1})
    ep = FakeEndpoint(script)
    done = []

    def selftest():
        done.append("selftest")
        return "done", True, None

    cmds = Commands("gg-r", {"selftest": selftest})
    reg = {"dev": "gg-r", "uid": b"\x01", "model": "m", "board": "sim", "fw": "0.1.0",
           "gas": "methane", "seq": 0, "boot": 1}
    hb = {"dev": "gg-r", "fw": "0.1.0", "lel": 0.0, "alarm": 0, "valve": 0, "faults": 0,
          "uptime": 1, "last_seq": ob.last}
    rep = Reporter(ep, ob, b"fleet", lambda: reg, lambda: hb, cmds, heartbeat_s=60,
                   clock=Clock(0))
    return rep, ep, ob, done


def steps(rep, n):
    async def go():
        out = []
        for _ in range(n):
            try:
                out.append(await rep.step())
            except Exception as e:  # noqa: BLE001 - recorded for the assertions
                out.append(type(e).__name__)
        return out

    return asyncio.run(go())


def test_register_first_then_events_in_order_then_heartbeat():
    rep, ep, ob, done = make([])
    assert steps(rep, 5) == [True, True, True, True, False]
    assert [p for p, _ in ep.sent] == ["reg", "ev", "ev", "hb"]
    assert [o["seq"] for p, o in ep.sent if p == "ev"] == [1, 2]
    assert len(ob) == 0 and rep.server_time == 1


def test_an_event_stays_on_flash_until_the_fleet_says_2_04():
    rep, ep, ob, done = make([(N.CHANGED, {"st": 5, "pc": 0}), RequestTimedOut("x"),
                              (N.SERVICE_UNAVAILABLE, None), (N.CHANGED, {"st": 6, "pc": 0})])
    assert steps(rep, 4) == [True, "RequestTimedOut", "OSError", True]
    assert ob.waiting() == [2]
    assert [o["seq"] for p, o in ep.sent if p == "ev"] == [1, 1, 1]


def test_a_refused_event_is_dropped_so_it_cannot_block_the_queue():
    rep, ep, ob, done = make([(N.CHANGED, {"st": 5, "pc": 0}), (N.BAD_REQUEST, None)])
    steps(rep, 3)
    assert ob.waiting() == [] and rep.stats["refused"] == 1


def test_commands_in_an_ack_run_once_and_their_results_go_up():
    cmd = {"id": 9, "op": "selftest"}
    ack = {"st": 5, "pc": 2, "cmds": [cmd, {"id": 10, "op": "reboot"}]}  # no reboot action here
    rep, ep, ob, done = make([(N.CHANGED, ack), (N.CHANGED, {"st": 6, "pc": 1, "cmds": [cmd]})],
                             n_events=1)
    got = steps(rep, 6)
    # id 9 offered again while its result still waits: run once, and its result sent once
    assert [p for p, _ in ep.sent] == ["reg", "ev", "hb", "cr", "cr"], (got, ep.sent)
    assert done == ["selftest"]
    results = [o for p, o in ep.sent if p == "cr"]
    assert [(r["id"], r["st"]) for r in results] == [(9, "done"), (10, "refused")]
    assert results[1]["why"] == "unknown op 'reboot'"


def test_too_little_heap_left__the_reporter_refuses_to_start():
    # reporting gives way to detection: with less than `headroom` bytes free after a collection
    # it is not built (MemoryError: the app pauses reporting); CPython has no heap to watch
    import sys

    cmds = Commands("gg-r", {})
    try:
        Reporter(FakeEndpoint([]), None, b"fleet", dict, dict, cmds, headroom=1 << 40)
    except MemoryError as e:
        assert sys.implementation.name == "micropython"
        assert str(e).startswith("reporting: ") and str(e).endswith(
            " bytes free, detection keeps %d" % (1 << 40))
    else:
        assert sys.implementation.name != "micropython"
    assert Reporter(FakeEndpoint([]), None, b"fleet", dict, dict, cmds).registered is False
