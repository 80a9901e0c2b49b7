"""The firmware parsers on the real MicroPython interpreter, a short stream each (the CI
version of `python -m bench.fuzz.mp`), and the mutator giving the same stream there as here."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bench.fuzz.mp import LOOP, MP_TARGETS, REPO, micropython, run_mp
from bench.fuzz.mutator import Rng, mutate

pytestmark = pytest.mark.micropython

# Known findings the MicroPython loop counts apart (reported; test_fuzz_findings.py holds them):
# the MemoryError of a long input can hit any target, so every one may have some.


@pytest.mark.parametrize("name", MP_TARGETS)
def test_mp_target__short_run_on_micropython_has_no_crash(name: str):
    r = run_mp(name, 2000, seed=3)
    assert r.inputs == 2000, r.findings
    assert (r.crashes, r.hangs) == (0, 0), r.findings
    assert r.refused + r.accepted + sum(r.known.values()) == 2000


def test_mutator__same_stream_on_micropython(tmp_path: Path):
    script = tmp_path / "stream.py"
    script.write_text(
        "from mutator import Rng, mutate\n"
        "import binascii\n"
        "r = Rng(11)\n"
        "for i in range(200):\n"
        "    print('x' + binascii.hexlify(mutate(r, b'\\xa2\\x01\\x02\\x03\\x04', [b'xyz'], 96)).decode())\n")
    env = dict(os.environ, MICROPYPATH=str(LOOP.parent))
    out = subprocess.run([micropython(), str(script)], env=env, capture_output=True, text=True,
                         timeout=60, cwd=str(REPO), check=True).stdout.split()
    out = [line[1:] for line in out]
    r = Rng(11)
    here = [mutate(r, b"\xa2\x01\x02\x03\x04", [b"xyz"], 96).hex() for _ in range(200)]
    assert out == here
