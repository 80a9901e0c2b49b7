"""fleet/coap/fastpath.DedupCache: bounded in time and in size, and small per entry."""

from __future__ import annotations

import tracemalloc

import pytest

from fleet.coap.fastpath import MISSING, DedupCache, decode

ADDR = ("::ffff:127.0.0.1", 40000, 0, 0)


def test_dedup__remembers_answer_until_lifetime() -> None:
    c = DedupCache(lifetime_s=10.0, max_entries=100)
    c.reserve((ADDR, 1), t=0.0)
    assert c.get((ADDR, 1)) is None  # in progress: a retransmission is ignored
    c.answer((ADDR, 1), b"ack")
    assert c.get((ADDR, 1)) == b"ack"
    c.reserve((ADDR, 2), t=9.0)
    assert c.get((ADDR, 1)) == b"ack" and len(c) == 2
    c.reserve((ADDR, 3), t=10.5)  # entry 1 (t=0) is past its 10 s now
    assert c.get((ADDR, 1)) is MISSING
    assert len(c) == 2 and c.evicted_early == 0


def test_dedup__size_bound_drops_oldest_first() -> None:
    c = DedupCache(lifetime_s=1000.0, max_entries=1000)
    for mid in range(10_000):
        c.reserve((ADDR, mid), t=mid * 0.001, response=b"x" * 40)
    assert len(c) == 1000 and c.evicted_early == 9000
    assert c.get((ADDR, 9999)) == b"x" * 40 and c.get((ADDR, 8999)) is MISSING


def test_dedup__forgotten_then_reserved_again_is_not_dropped_by_its_old_entry() -> None:
    c = DedupCache(lifetime_s=10.0, max_entries=100)
    c.reserve((ADDR, 1), t=0.0)
    c.forget((ADDR, 1))  # a failed commit
    c.reserve((ADDR, 1), t=8.0, response=b"retry")
    c.reserve((ADDR, 2), t=11.0)  # the first (t=0) expires; the re-reservation stays
    assert c.get((ADDR, 1)) == b"retry"


def test_dedup__memory_per_entry_is_small() -> None:
    """The bound that matters: bytes per remembered request (aiocoap: ~2,400)."""
    n = 10_000
    c = DedupCache(lifetime_s=1e9, max_entries=n)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for mid in range(n):
        # as on the wire: a fresh address tuple per datagram, a ~20-byte ack
        c.reserve((("::ffff:127.0.0.%d" % (mid % 250), 40000 + mid % 1000, 0, 0), mid >> 8, mid & 0xFF), t=float(mid))
        c.answer((("::ffff:127.0.0.%d" % (mid % 250), 40000 + mid % 1000, 0, 0), mid >> 8, mid & 0xFF),
                 bytes(24) + mid.to_bytes(4, "big"))
    per_entry = (tracemalloc.get_traced_memory()[0] - before) / n
    tracemalloc.stop()
    assert len(c) == n
    assert per_entry < 600, per_entry  # ~470 measured


def test_dedup__bad_bounds_refused() -> None:
    with pytest.raises(ValueError, match=r"dedup cache needs lifetime_s > 0 and max_entries >= 1, got 0, 5"):
        DedupCache(0, 5)


def test_decode__refuses_what_protocol_cbor_refuses() -> None:
    from protocol import messages
    from utils import fleet_factories as ff

    ok = messages.encode("event", ff.event("gg-a4cf12b3c4d5", 3, "boot"))
    assert decode("event", ok) == messages.decode("event", ok)
    hb = messages.encode("heartbeat", ff.heartbeat("gg-a4cf12b3c4d5"))
    assert decode("heartbeat", hb) == messages.decode("heartbeat", hb)
    for bad in (ok + b"\x00", b"\xc1\x01", b"\xf7", bytes.fromhex("7801"), b""):
        with pytest.raises(ValueError, match=r"^event: not valid CBOR"):
            decode("event", bad)


def test_receive__mutated_datagrams_never_raise() -> None:
    """5,000 byte-level mutations of real uplinks into FastPath.receive (no database: the
    writer and counter are recorders): every one is taken or handed over, nothing raises."""
    import random

    import aiocoap

    from fleet.coap.fastpath import FastPath
    from protocol import messages
    from utils import fleet_factories as ff

    class Recorder:
        def __init__(self) -> None:
            self.items: list[object] = []

        def enqueue(self, item: object, done: object) -> None:
            self.items.append(item)

        def count(self, *a: object, **k: object) -> None:
            self.items.append(a)

    def datagram(path: str, payload: bytes, cf: int) -> bytes:
        m = aiocoap.Message(code=aiocoap.POST, uri_path=("gg", path), payload=payload, content_format=cf)
        m.mtype, m.mid, m.token = aiocoap.CON, 1, b"\x01\x02"
        return m.encode()

    seeds = [datagram("hb", messages.encode("heartbeat", ff.heartbeat()), 112),
             datagram("ev", messages.encode("event", ff.event()), 60),
             datagram("reg", messages.encode("registration", ff.registration()), 60)]
    rec = Recorder()
    fast = FastPath(rec, rec, dedup_lifetime_s=15.0)  # type: ignore[arg-type]
    fast.send = lambda data, addr, anc: None
    fast._loop = type("L", (), {"time": staticmethod(lambda: 0.0)})()  # noqa: SLF001 - no loop needed
    rng = random.Random(9)
    taken = 0
    for i in range(5_000):
        d = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            pos = rng.randrange(len(d))
            if op < 0.5:
                d[pos] = rng.randrange(256)
            elif op < 0.75:
                del d[pos:pos + rng.randint(1, 8)]
            else:
                d[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        d[2:4] = i.to_bytes(4, "big")[2:]  # a fresh message id: no answer from the cache
        taken += fast.receive(bytes(d), ("::ffff:127.0.0.1", 40000 + i % 7, 0, 0), [])
    assert 0 < taken and fast.handed_over > 0
