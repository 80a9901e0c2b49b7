# runs-on: micropython cpython
"""Diagnostic notation (RFC 8949 section 8) of decoded values, on both interpreters."""
from protocol.cbor import Simple, Tag, Undefined, loads
from protocol.diag import diag


def test_diag__scalars():
    assert diag(0) == "0"
    assert diag(-18446744073709551617) == "-18446744073709551617"
    assert diag(1.5) == "1.5"
    assert diag(100000.0) == "100000.0"
    assert diag(1e300) in ("1e+300", "1.0e+300")
    assert diag(float("nan")) == "NaN"
    assert diag(float("-inf")) == "-Infinity"
    assert diag(True) == "true"
    assert diag(None) == "null"
    assert diag(Undefined) == "undefined"
    assert diag(Simple(16)) == "simple(16)"
    assert diag(b"\x01\xff") == "h'01ff'"
    assert diag('a"\\\n\u00fc') == '"a\\"\\\\\\u000a\u00fc"'


def test_diag__containers_in_the_order_they_are_sent():
    assert diag({"b": [1, 2], "a": {}}) == '{"a": {}, "b": [1, 2]}'
    assert diag(Tag(1, 1363896240)) == "1(1363896240)"
    assert diag(loads(bytes.fromhex("9f018202039f0405ffff"))) == "[1, [2, 3], [4, 5]]"


def test_diag__indent_breaks_only_nested_containers():
    assert diag([1, 2], indent=2) == "[1, 2]"
    assert diag([{"a": 1}, [2]], indent=2) == '[\n  {"a": 1},\n  [2]\n]'
