# runs-on: micropython
"""Heap budgets on MicroPython (the figures and the method are in docs/protocol.md, Footprint;
bench/protocol_memory.py measures them all). With the collector off, what an operation allocates
bounds the heap it needs: these keep the device's per-message cost from creeping up."""
import gc

from protocol import cbor, messages, vectors

HB = vectors.VECTORS[1][2]
EV = vectors.VECTORS[3][2]


def allocated(fn, *args):
    fn(*args)  # warm: caches filled on first use are not the per-message cost
    gc.collect()
    gc.disable()
    try:
        a0 = gc.mem_alloc()
        fn(*args)
        return gc.mem_alloc() - a0
    finally:
        gc.enable()


def test_heartbeat__encode_and_decode_within_budget():
    data = messages.encode("heartbeat", HB)
    assert allocated(messages.encode, "heartbeat", HB) < 6 * 1024
    assert allocated(messages.decode, "heartbeat", data) < 12 * 1024


def test_event__encode_and_decode_within_budget():
    data = messages.encode("event", EV)
    assert allocated(messages.encode, "event", EV) < 2 * 1024
    assert allocated(messages.decode, "event", data) < 3 * 1024


def test_bad_input__fails_without_allocating_what_it_claims():
    # A byte string claiming 60 KB (under the length limit) with nothing behind it.
    data = b"\x59\xea\x60"
    n = allocated(lambda: _refuse(data))
    assert n < 1024, n


def test_long_array__refused_at_the_item_limit_not_after_a_big_list():
    # an 830-item array in a heartbeat grew a 1,024-slot list (an 8 KB block; 9.4 KB in all)
    # before the item limit; now a 48-slot list, twice (decode, then the walk naming the field)
    data = b"\xa2\x61k\x64boot\x62up\x9f" + b"\x00" * 830 + b"\xff"

    def refuse():
        try:
            messages.decode("heartbeat", data)
        except messages.MessageError:
            return
        raise AssertionError("accepted")

    n = allocated(refuse)
    assert n < 6 * 1024, n


def _refuse(data):
    try:
        cbor.loads(data)
    except cbor.CBORError:
        return
    raise AssertionError("accepted")
