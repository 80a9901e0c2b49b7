"""The load generator's OSCORE mode (bench/perf/loadgen.py, keys from bench/perf/oscore_keys.py)
against the real fleet in this process: every request protected with its device's key and
acknowledged, every answer verified, every acknowledged heartbeat stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.perf import fleetstore, loadgen, oscore_keys
from fleet.runtime import Fleet
from utils.fleet_runtime import make_settings


def test_oscore_loadgen__protected_heartbeats_acknowledged_verified_and_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fleet.db"
    fleetstore.prepare(url)
    keys, env = oscore_keys.write_keys(url, 20, tmp_path, "t")
    settings = make_settings(url, credential_key_file=env["GASGUARD_CREDENTIAL_KEY_FILE"])

    async def main() -> dict:
        fleet = Fleet(settings)
        await fleet.start(background=False)
        try:
            cfg = {"port": fleet.coap_port, "devices": 20, "sockets": 4, "duration": 1.0, "window": 8, "drain": 5.0,
                   "oscore": str(keys), "model": fleetstore.BENCH_MODEL, "ack_timeout": 5.0}
            return await asyncio.to_thread(loadgen.run, cfg)
        finally:
            await fleet.stop()

    out = asyncio.run(main())
    assert out["register"]["registered"] == 20
    main_ = out["main"]
    assert main_["answered"] > 0 and set(main_["codes"]) == {"2.04"}, main_["codes"]
    assert main_.get("oscore_bad_response", 0) == 0
    assert fleetstore.counts(url)["readings"] >= main_["codes"]["2.04"]
