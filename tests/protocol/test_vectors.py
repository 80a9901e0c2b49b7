# runs-on: micropython cpython
"""The golden vectors: on both interpreters, each sample encodes to exactly the bytes in
protocol/vectors/<name>.hex, those bytes decode back to the sample, and the diagnostic
notation in <name>.diag is what protocol.diag writes for them."""
from protocol import messages, vectors
from protocol.cbor import loads
from protocol.diag import diag


def test_vectors__cover_every_message_kind():
    kinds = [kind for _, kind, _ in vectors.VECTORS]
    for kind in messages.KINDS:
        assert kind in kinds, kind


def test_vectors__encode_to_exactly_the_golden_bytes():
    for name, kind, obj in vectors.VECTORS:
        got = messages.encode(kind, obj)
        want = vectors.golden_bytes(name)
        assert got == want, "%s: encoded %s, golden %s" % (name, got.hex(), want.hex())


def test_vectors__golden_bytes_decode_to_the_samples():
    for name, kind, obj in vectors.VECTORS:
        got = messages.decode(kind, vectors.golden_bytes(name))
        assert got == obj, "%s: decoded %r" % (name, got)


def test_vectors__diagnostic_notation_matches():
    for name, _, _ in vectors.VECTORS:
        got = diag(loads(vectors.golden_bytes(name)), indent=2)
        assert got == vectors.read(name, "diag"), name


def test_vectors__fit_one_coap_payload():
    from protocol.coap_numbers import MAX_PAYLOAD_SIZE

    for name, _, _ in vectors.VECTORS:
        assert len(vectors.golden_bytes(name)) <= MAX_PAYLOAD_SIZE, name
