# Deterministic input mutation for the fuzzers, in the common subset of MicroPython and CPython:
# the host engine (bench/fuzz/engine.py) and the MicroPython loop (bench/fuzz/mp_loop.py) import
# this same file, so a seed number names the same input stream on both interpreters.
#
#   rng = Rng(seed)                  xorshift32; small ints only (no wide integers on the device)
#   mutate(rng, data, corpus) -> bytes   1-4 edits of data; corpus entries are spliced in
#
# The edits are the usual byte-level ones (bit flip, byte set, truncate, extend, insert, delete,
# duplicate a slice) plus values that sit on parser boundaries: CBOR heads with 1/2/4/8-byte
# arguments, indefinite-length starts and breaks, CoAP option nibbles 13/14/15 and the payload
# marker. Repeating a slice many times builds deep nesting, which probes recursion limits.

# Bytes that sit on a boundary of CBOR (RFC 8949) or CoAP (RFC 7252) headers.
INTERESTING = (0x00, 0x01, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1F, 0x20, 0x3B, 0x40, 0x5F,
               0x60, 0x7F, 0x80, 0x81, 0x9F, 0xA0, 0xA1, 0xBF, 0xC0, 0xC2, 0xC3, 0xD8, 0xD9,
               0xE0, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB, 0xFF, 0x0D, 0x0E, 0x0F,
               0xD0, 0xE0, 0xF0, 0x09, 0x19, 0x7E, 0x3F)
# Multi-byte heads: a huge length, a huge tag, big ints, a nested open array/map.
CHUNKS = (b"\x1b\xff\xff\xff\xff\xff\xff\xff\xff", b"\x5a\xff\xff\xff\xff", b"\x7a\x7f\xff\xff\xff",
          b"\x9a\x10\x00\x00\x00", b"\xba\x10\x00\x00\x00", b"\xdb\xff\xff\xff\xff\xff\xff\xff\xff",
          b"\xc2\x49\x01\x00\x00\x00\x00\x00\x00\x00\x00", b"\xc3\x41\x00", b"\x9f\x9f\x9f\x9f",
          b"\xbf\xbf\xbf", b"\xff\xff", b"\xf9\x7c\x00", b"\xf9\x7e\x00", b"\xfb\x7f\xf0\x00\x00\x00\x00\x00\x00",
          b"\xe0\xff\xff", b"\xdd\xff\xff", b"\x0e\xff\xff", b"\xd8\x18\x40", b"\x00\x00\x00\x00")


class Rng:
    """xorshift32: the same stream on both interpreters."""

    def __init__(self, seed):
        self.s = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def next(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s

    def below(self, n):
        return self.next() % n if n > 0 else 0


def random_bytes(rng, n):
    b = bytearray(n)
    for i in range(n):
        b[i] = rng.next() & 0xFF
    return bytes(b)


def mutate(rng, data, corpus=None, max_len=1024):
    """1-4 random edits of data (bytes), never longer than max_len."""
    b = bytearray(data)
    if rng.below(16) == 0 or not b:
        return random_bytes(rng, rng.below(64))
    for _ in range(1 + rng.below(4)):
        op = rng.below(11)
        n = len(b)
        if op == 0 and n:  # flip a bit
            b[rng.below(n)] ^= 1 << rng.below(8)
        elif op == 1 and n:  # set a byte
            b[rng.below(n)] = rng.next() & 0xFF
        elif op == 2 and n:  # interesting byte
            b[rng.below(n)] = INTERESTING[rng.below(len(INTERESTING))]
        elif op == 3 and n:  # truncate
            b = b[0:rng.below(n)]
        elif op == 4:  # extend with random bytes
            b.extend(random_bytes(rng, 1 + rng.below(8)))
        elif op == 5:  # insert an interesting byte
            i = rng.below(n + 1)
            b = b[0:i] + bytes((INTERESTING[rng.below(len(INTERESTING))],)) + b[i:]
        elif op == 6 and n:  # delete a slice
            i = rng.below(n)
            b = b[0:i] + b[i + 1 + rng.below(8):]
        elif op == 7:  # insert a multi-byte boundary chunk
            i = rng.below(n + 1)
            b = b[0:i] + CHUNKS[rng.below(len(CHUNKS))] + b[i:]
        elif op == 8 and n:  # repeat a short slice many times (deep nesting, long runs)
            i = rng.below(n)
            piece = bytes(b[i:i + 1 + rng.below(4)])
            b = b[0:i] + piece * (2 + rng.below(300)) + b[i:]
        elif op == 9 and corpus:  # splice: our head, another seed's tail
            other = corpus[rng.below(len(corpus))]
            b = b[0:rng.below(n + 1)] + other[rng.below(len(other) + 1):]
        elif n:  # overwrite a 2-byte big-endian value with an edge
            i = rng.below(n)
            v = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF)[rng.below(9)]
            b[i] = v >> 8
            if i + 1 < n:
                b[i + 1] = v & 0xFF
    if len(b) > max_len:
        b = b[0:max_len]
    return bytes(b)
