# CBOR (RFC 8949) for gasguard: the one codec the firmware (MicroPython) and the fleet (CPython)
# both import. The encoder and the decoder are separate modules (protocol/cbor_encode.py,
# protocol/cbor_decode.py) so the device can load only what it needs; this module re-exports them.
#
#   dumps(obj) -> bytes        deterministic encoding (RFC 8949 section 4.2.1), always
#   loads(data) -> obj         one item filling data; CBORError on anything malformed
#   loads_prefix(data, pos)    one item from pos -> (obj, next_pos)
#
# Python <-> CBOR: int (bignum tags 2/3 past 64 bits), float, bool, None, Undefined, bytes,
# str, list/tuple -> array, dict -> map, Tag(n, value), Simple(n). See docs/protocol.md.
from protocol.cbor_types import CBORError, Simple, Tag, Undefined
from protocol.cbor_encode import dumps, dump_into
from protocol.cbor_decode import MAX_DEPTH, MAX_LEN, loads, loads_prefix

__all__ = (
    "CBORError",
    "Simple",
    "Tag",
    "Undefined",
    "dumps",
    "dump_into",
    "loads",
    "loads_prefix",
    "MAX_DEPTH",
    "MAX_LEN",
)
