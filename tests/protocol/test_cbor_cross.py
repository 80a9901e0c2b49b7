"""Our CBOR codec against cbor2, property-based (CPython only).

- ours encodes -> cbor2 decodes the same value, and cbor2 encodes -> ours decodes it;
- our deterministic output equals cbor2's canonical output wherever the two orderings agree
  (cbor2's canonical=True sorts map keys length-first, RFC 7049 section 3.9; RFC 8949
  section 4.2.1, which we follow, sorts them bytewise: they differ only when a map's key
  encodings have different lengths and the shorter one is bytewise greater);
- random and mutated bytes: only CBORError ever comes out of loads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.cbor import CBORError, Simple, Tag, Undefined, dumps, loads

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Tag numbers cbor2 gives no meaning to, so both sides keep them as plain tags.
plain_tags = st.integers(min_value=70000, max_value=2**32)
simple_values = st.one_of(st.integers(0, 19), st.integers(32, 255))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(width=16),
    st.floats(width=32),
    st.text(max_size=20),
    st.binary(max_size=20),
    simple_values.map(Simple),
    st.just(Undefined),
)
keys = st.one_of(st.text(max_size=8), st.integers(min_value=-(2**64), max_value=2**64 - 1))


def _extend(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(keys, children, max_size=5),
        st.builds(Tag, plain_tags, children),
    )


values = st.recursive(scalars, _extend, max_leaves=12)


def to_cbor2(v: Any) -> Any:
    """Our value types -> cbor2's."""
    if isinstance(v, Tag):
        return cbor2.CBORTag(v.tag, to_cbor2(v.value))
    if isinstance(v, Simple):
        return cbor2.CBORSimpleValue(v.value)
    if v is Undefined:
        return cbor2.undefined
    if isinstance(v, list):
        return [to_cbor2(x) for x in v]
    if isinstance(v, dict):
        return {k: to_cbor2(x) for k, x in v.items()}
    return v


def norm(v: Any) -> Any:
    """A hashable, comparable form that tells True from 1, -0.0 from 0.0 and keeps NaN equal."""
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, float):
        return ("nan",) if math.isnan(v) else ("float", v, math.copysign(1.0, v))
    if isinstance(v, (Tag, cbor2.CBORTag)):
        return ("tag", v.tag, norm(v.value))
    if isinstance(v, Simple):
        return ("simple", v.value)
    if isinstance(v, cbor2.CBORSimpleValue):
        return ("simple", v.value)
    if v is Undefined or v is cbor2.undefined:
        return ("undefined",)
    if isinstance(v, (list, tuple)):  # cbor2 reads arrays inside tags as tuples
        return ("list",) + tuple(norm(x) for x in v)
    if isinstance(v, Mapping):  # ... and maps there as FrozenDict
        return ("map", frozenset((norm(k), norm(x)) for k, x in v.items()))
    return v


def orders_agree(v: Any) -> bool:
    """True when length-first and bytewise key order are the same for every map inside v."""
    if isinstance(v, Tag):
        return orders_agree(v.value)
    if isinstance(v, list):
        return all(orders_agree(x) for x in v)
    if isinstance(v, dict):
        enc = [dumps(k) for k in v]
        if sorted(enc) != sorted(enc, key=lambda b: (len(b), b)):
            return False
        return all(orders_agree(x) for x in v.values())
    return True


@SETTINGS
@given(values)
def test_ours_encodes__cbor2_decodes_the_same_value(v: Any) -> None:
    assert norm(cbor2.loads(dumps(v))) == norm(to_cbor2(v))


@SETTINGS
@given(values)
def test_cbor2_encodes__ours_decodes_the_same_value(v: Any) -> None:
    for data in (cbor2.dumps(to_cbor2(v)), cbor2.dumps(to_cbor2(v), canonical=True)):
        assert norm(loads(data)) == norm(v)


@SETTINGS
@given(values)
def test_ours_round_trips_and_is_stable(v: Any) -> None:
    data = dumps(v)
    back = loads(data)
    assert norm(back) == norm(v)
    assert dumps(back) == data


@SETTINGS
@given(values)
def test_deterministic_output_equals_cbor2_canonical_where_orders_agree(v: Any) -> None:
    if orders_agree(v):
        assert dumps(v) == cbor2.dumps(to_cbor2(v), canonical=True)


@SETTINGS
@given(st.dictionaries(keys, st.integers(0, 3), min_size=2, max_size=8))
def test_map_keys_are_sorted_bytewise(m: dict) -> None:
    data = dumps(m)
    # Walk the map's keys in the order they were written and check they ascend bytewise.
    from protocol.cbor import loads_prefix

    pos = 1 if len(m) < 24 else 2
    seen = []
    for _ in range(len(m)):
        k, nxt = loads_prefix(data, pos)
        seen.append(data[pos:nxt])
        _, pos = loads_prefix(data, nxt)
    assert seen == sorted(seen)


def _only_cbor_error(data: bytes) -> None:
    try:
        loads(data)
    except CBORError as e:
        assert " at byte " in str(e), str(e)
        assert e.offset is not None and 0 <= e.offset <= len(data)


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz__random_bytes_raise_only_cbor_error(data: bytes) -> None:
    _only_cbor_error(data)


@settings(max_examples=800, deadline=None)
@given(values, st.data())
def test_fuzz__mutated_encodings_raise_only_cbor_error(v: Any, data: st.DataObject) -> None:
    enc = bytearray(dumps(v))
    for _ in range(data.draw(st.integers(1, 4))):
        how = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        i = data.draw(st.integers(0, max(0, len(enc) - 1)))
        if how == "flip" and enc:
            enc[i] ^= data.draw(st.integers(1, 255))
        elif how == "cut":
            del enc[i:]
        else:
            enc.insert(i, data.draw(st.integers(0, 255)))
    _only_cbor_error(bytes(enc))
