"""The child process of the atheris engine: one target under libFuzzer.

    python -m bench.fuzz.atheris_child NAME STATS_JSON [libFuzzer flags...] CORPUS_DIR

The seed corpus is written into CORPUS_DIR first (libFuzzer adds what it finds there). A
documented error returns normally; any other exception propagates, and libFuzzer reports it as
a crash with the input saved under -artifact_prefix. STATS_JSON gets the outcome counts every
10,000 inputs and at the last one (libFuzzer exits the process itself, so nothing runs after).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path


def main() -> None:
    import atheris

    name, stats_path = sys.argv[1], Path(sys.argv[2])
    lib_args = sys.argv[3:]
    from bench.fuzz.targets import KNOWN, TARGETS, KnownDrop

    # Instrument only the code under test (ours and aiocoap, imported while the target loads):
    # instrument_all() would also instrument the standard library, slowly, for no coverage.
    with atheris.instrument_imports(include=["protocol", "firmware", "fleet", "aiocoap", "bench.perf"]):
        target = TARGETS[name].load()
    call, allowed = target.call, target.allowed
    corpus = Path(lib_args[-1])
    for s in target.seeds:
        (corpus / hashlib.sha1(s).hexdigest()).write_bytes(s)
    runs = next((int(a.split("=", 1)[1]) for a in lib_args if a.startswith("-runs=")), 0)
    counts = {"inputs": 0, "refused": 0, "accepted": 0, "slowest_ms": 0.0}

    def save() -> None:
        stats_path.write_text(json.dumps(dict(counts, known=dict(KNOWN))))

    def one(data: bytes) -> None:
        t0 = time.process_time()
        try:
            call(data)
            counts["accepted"] += 1
        except KnownDrop:
            pass  # counted by the target in KNOWN
        except allowed:
            counts["refused"] += 1
        finally:
            dt = (time.process_time() - t0) * 1000.0
            if dt > counts["slowest_ms"]:
                counts["slowest_ms"] = dt
            counts["inputs"] += 1
            if counts["inputs"] % 10000 == 0 or counts["inputs"] >= runs:
                save()

    atheris.Setup([sys.argv[0], *lib_args], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
