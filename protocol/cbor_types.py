# The values and the error shared by protocol/cbor_encode.py and protocol/cbor_decode.py.
# Common subset of MicroPython and CPython: the firmware and the fleet import the same file.
# Use protocol.cbor, which re-exports everything here.


class CBORError(ValueError):
    """Any CBOR failure. Decoding messages end with "at byte N" (offset into the input) and
    the offset is also kept as .offset; encoding messages name the Python type at fault."""

    def __init__(self, msg, offset=None):
        if offset is not None:
            msg = "%s at byte %d" % (msg, offset)
        super().__init__(msg)
        self.offset = offset


class Tag:
    """A tagged item, major type 6: Tag(tag_number, content). Decoded for every tag number
    the decoder does not turn into a Python value itself (2 and 3 become int)."""

    __slots__ = ("tag", "value")

    def __init__(self, tag, value):
        if not isinstance(tag, int) or tag < 0 or tag > 0xFFFFFFFFFFFFFFFF:
            raise CBORError("tag number must be an int in 0..2**64-1, got %r" % (tag,))
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and self.tag == other.tag and self.value == other.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash((self.tag, self.value))

    def __repr__(self):
        return "Tag(%d, %r)" % (self.tag, self.value)


class Simple:
    """A simple value (major type 7) with no Python equivalent: 0..19 and 32..255.
    False, True, None and Undefined stand for 20..23."""

    __slots__ = ("value",)

    def __init__(self, value):
        if not isinstance(value, int) or value < 0 or value > 255 or 20 <= value <= 31:
            raise CBORError("simple value must be 0..19 or 32..255, got %r" % (value,))
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Simple) and self.value == other.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(("simple", self.value))

    def __repr__(self):
        return "Simple(%d)" % self.value


class _UndefinedType:
    """The CBOR `undefined` value (simple 23): one instance, `Undefined`."""

    __slots__ = ()

    def __repr__(self):
        return "Undefined"

    def __bool__(self):
        return False

    def __hash__(self):
        return 23


Undefined = _UndefinedType()
