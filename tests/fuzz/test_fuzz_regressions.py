# runs-on: micropython cpython
"""Inputs the fuzzers found (bench/fuzz, docs/fuzzing.md) that crashed a parser, each now
refused with the parser's own error on both interpreters."""
from protocol.cbor import CBORError, loads


def _raises_cbor_error(data, text):
    try:
        loads(data)
    except CBORError as e:
        assert text in str(e), str(e)
        return
    raise AssertionError("no CBORError for %r" % (data,))


def test_cbor__tag_holding_an_array_as_first_map_key():
    # {8([1, "x", "y"]): ...}: MicroPython looks nothing up in an empty dict, so the unhashable
    # key reached `out[k] = v` and raised TypeError (found by the MicroPython loop, seed 1)
    _raises_cbor_error(bytes.fromhex("a1d080830161786179"), "map key is not hashable")


def test_cbor__tag_holding_a_map_as_a_later_map_key():
    _raises_cbor_error(bytes.fromhex("a201f6d808a0f6"), "map key is not hashable")
