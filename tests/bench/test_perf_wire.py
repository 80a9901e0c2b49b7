"""bench/perf/coapwire.py and stats.py: the generator's CoAP framing, checked against aiocoap."""

from __future__ import annotations

import aiocoap
import pytest
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import Type

from bench.perf import coapwire, stats
from bench.perf.scenarios import summarise_collapsed


def _full(mtype: int, code: int, mid: int, token: bytes, tail: bytes) -> bytes:
    return coapwire.header(mtype, len(token), code, mid) + token + tail


def test_request_tail__decodes_in_aiocoap() -> None:
    tail = coapwire.request_tail("/gg/hb", b"\x81\xa0", coapwire.CF_SENML_CBOR)
    msg = aiocoap.Message.decode(_full(coapwire.CON, coapwire.POST, 0x1234, b"\x01\x02\x03\x04", tail))
    assert msg.mtype == Type.CON
    assert msg.code == Code.POST
    assert msg.mid == 0x1234
    assert msg.token == b"\x01\x02\x03\x04"
    assert msg.opt.uri_path == ("gg", "hb")
    assert int(msg.opt.content_format) == 112
    assert msg.payload == b"\x81\xa0"


@pytest.mark.parametrize("segment_len", [1, 12, 13, 200, 268, 269, 600])
def test_request_tail__extended_option_lengths(segment_len: int) -> None:
    seg = "x" * segment_len
    tail = coapwire.request_tail("/gg/" + seg, b"p", coapwire.CF_CBOR)
    msg = aiocoap.Message.decode(_full(coapwire.CON, coapwire.POST, 1, b"", tail))
    assert msg.opt.uri_path == ("gg", seg), "segment of %d bytes" % segment_len
    assert int(msg.opt.content_format) == 60
    assert coapwire.payload_of(_full(coapwire.CON, coapwire.POST, 1, b"", tail)) == b"p"


def test_request_tail__no_payload_has_no_marker() -> None:
    tail = coapwire.request_tail("/gg/reg")
    assert not tail.endswith(b"\xff")
    assert coapwire.payload_of(_full(coapwire.CON, coapwire.POST, 1, b"ab", tail)) == b""


def test_parse_head__reads_aiocoap_ack() -> None:
    msg = aiocoap.Message(code=Code.CHANGED, payload=b"\xa0", content_format=60)
    msg.mtype, msg.mid, msg.token = Type.ACK, 0xBEEF, b"\xaa\xbb"  # set as the stack would
    ack = msg.encode()
    assert coapwire.parse_head(ack) == (coapwire.ACK, coapwire.CHANGED, 0xBEEF, b"\xaa\xbb")
    assert coapwire.payload_of(ack) == b"\xa0"
    assert coapwire.code_text(coapwire.CHANGED) == "2.04"


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"\x40\x00", "shorter than a CoAP header"), (b"\x80\x00\x00\x01", "CoAP version 2"),
     (b"\x49\x00\x00\x01", "token length 9"), (b"\x44\x00\x00\x01ab", "token length 4")],
)
def test_parse_head__invalid(data: bytes, reason: str) -> None:
    with pytest.raises(coapwire.WireError, match=reason):
        coapwire.parse_head(data)


def test_encode_uint__minimal_bytes() -> None:
    assert coapwire.encode_uint(0) == b""
    assert coapwire.encode_uint(60) == b"\x3c"
    assert coapwire.encode_uint(256) == b"\x01\x00"
    with pytest.raises(coapwire.WireError, match="must be >= 0"):
        coapwire.encode_uint(-1)


def test_percentile__nearest_rank() -> None:
    values = sorted(float(i) for i in range(1, 101))
    assert stats.percentile(values, 0.5) == 50.0
    assert stats.percentile(values, 0.99) == 99.0
    assert stats.percentile(values, 1.0) == 100.0
    assert stats.percentile([], 0.5) is None
    assert stats.percentile([7.0], 0.99) == 7.0


def test_summary_ms__converts_seconds() -> None:
    s = stats.summary_ms([0.001, 0.002, 0.003, 0.004])
    assert s["count"] == 4
    assert s["p50_ms"] == 2.0
    assert s["max_ms"] == 4.0
    assert stats.summary_ms([])["p99_ms"] is None


def test_slope__least_squares() -> None:
    assert stats.slope([0, 1, 2, 3], [1, 3, 5, 7]) == pytest.approx(2.0)
    assert stats.slope([1, 1], [1, 2]) is None
    assert stats.slope([1], [1]) is None


def test_summarise_collapsed__self_and_inclusive() -> None:
    text = "main;ingest;decode 30\nmain;ingest;commit 60\nmain;idle 10\n"
    s = summarise_collapsed(text)
    assert s["samples"] == 100
    assert s["self_pct"][0] == ["commit", 60.0]
    assert ["ingest", 90.0] in s["inclusive_pct"]


def test_summarise_collapsed__lines_of_one_function_add_up() -> None:
    text = "run (a.py:1);f (b.py:10) 3\nrun (a.py:1);f (b.py:12) 1\n"
    s = summarise_collapsed(text)
    assert s["self_pct"] == [["f (b.py)", 100.0]]
    s = summarise_collapsed("m (x.py);f (sqlalchemy/orm/a.py:3) 3\nm (x.py);g (copy.py:9) 1\n")
    assert s["self_by_package_pct"] == [["sqlalchemy", 75.0], ["copy", 25.0]]


def test_cpu_seconds__own_process_and_missing_pid() -> None:
    import os

    from bench.perf import procs

    sum(i * i for i in range(200_000))  # burn a little CPU
    assert procs.cpu_seconds(os.getpid()) > 0
    assert procs.cpu_seconds(2**22 + 12345) is None  # above pid_max: no such process
