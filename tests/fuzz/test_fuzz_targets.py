"""Every fuzz target, a few thousand inputs each with the deterministic engine: the CI version
of `python -m bench.fuzz` (docs/fuzzing.md). Only the documented errors may come out."""

from __future__ import annotations

import pytest

from bench.fuzz.engine import run_mutate
from bench.fuzz.targets import TARGETS

RUNS = 3000
# inputs a known finding outside the parser under test drops (reported; see test_fuzz_findings.py)
MAY_HAVE_KNOWN = {"endpoint", "endpoint.oscore", "fleet.coap", "proto_ingest"}


@pytest.mark.parametrize("name", list(TARGETS))
def test_target__short_run_has_no_crash_and_no_hang(name: str):
    r = run_mutate(TARGETS[name], RUNS, seed=7)
    assert r.inputs == RUNS
    assert (r.crashes, r.hangs) == (0, 0), r.findings
    assert r.refused + r.accepted + sum(r.known.values()) == RUNS
    if name not in MAY_HAVE_KNOWN:
        assert not r.known


@pytest.mark.parametrize("name", list(TARGETS))
def test_target__every_seed_is_a_genuine_input(name: str):
    """The seeds are valid encoded messages: the parser accepts the ones of its own kind."""
    t = TARGETS[name].load()
    assert t.call is not None and t.seeds
    taken = 0
    for s in t.seeds:
        try:
            t.call(s)
            taken += 1
        except t.allowed:
            pass
    # message kinds: their own vector(s) at least; every other parser: all its seeds
    assert taken >= 1 if name.startswith("messages.") else taken == len(t.seeds)


def test_targets__cover_every_message_kind():
    from protocol.messages import KINDS

    assert {f"messages.{k}" for k in KINDS} <= set(TARGETS)
