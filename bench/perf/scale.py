"""The "scale" scenario: the fleet with 1, 2, ... ingest processes on one host, one database.

`gasguard serve --ingest-workers K` adds K processes that bind the CoAP port with SO_REUSEPORT
and take plain heartbeats (fleet/coap/ingest_worker.py). Each run here gets a fresh database,
the same devices and window, as fast as the window allows; the report gives msgs/s for each
process count, the throughput each added process brought, and the CPU per message of all the
fleet's processes together, beside the bare aiocoap baseline of the same run.

Pinning: the main process on the first usable CPU (as in `steady`), worker i on the next CPU
after it, round robin. On a 2-core machine the worker shares its core with the load generator
(about 10 µs of CPU per message, reported as `generator_cpu_s`), so the second process's figure
is a lower bound of what a free core would give."""

from __future__ import annotations

import os
import time
from typing import Any

from bench.perf import fleetstore, machine, procs
from bench.perf.scenarios import Ctx, _brief


def _pin_workers(srv: procs.Server, workers: int, cpus: list[int], timeout: float = 30.0) -> list[int]:
    """Wait for the fleet's worker processes and pin each to its own CPU; returns their pids."""
    t0 = time.monotonic()
    kids: list[int] = []
    while time.monotonic() - t0 < timeout:
        kids = procs.children(srv.pid)
        if len(kids) >= workers:
            break
        time.sleep(0.1)
    if len(kids) < workers:
        raise RuntimeError("fleet started %d of %d ingest workers within %.0f s; see %s" % (
            len(kids), workers, timeout, srv.log))
    if cpus:
        for i, pid in enumerate(sorted(kids)):
            try:
                os.sched_setaffinity(pid, {cpus[(i + 1) % len(cpus)]})
            except OSError:
                pass
    return sorted(kids)


def scale(ctx: Ctx) -> dict[str, Any]:
    # A wider window than `steady`: with several processes taking turns at SQLite's write lock a
    # request waits longer, and 256 outstanding would measure the window, not the processes.
    devices = ctx.p(2000, 200)
    duration = ctx.p(20.0, 1.5)
    window = ctx.p(1024, 64)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    most = max(2, min(len(cpus), 4)) if not ctx.smoke else 2
    res: dict[str, Any] = {"devices": devices, "duration_s": duration, "window": window, "cpus": len(cpus), "runs": []}

    lg = ctx.run_baseline("scale", devices=devices, duration=duration, window=window)
    res["baseline"] = _brief(lg)
    baseline_rate = lg["main"]["answered_msgs_per_s"]
    res["baseline_msgs_per_s"] = baseline_rate

    for n in range(1, most + 1):
        name = "scale-%d" % n
        url = ctx.db_url(name)
        srv = ctx.fleet(name, url, "--ingest-workers", str(n - 1))
        srv.start()
        try:
            pids = _pin_workers(srv, n - 1, cpus) if n > 1 else []
            lg = ctx.loadgen(name, srv, devices=devices, duration=duration, window=window)
            stored = fleetstore.counts(url)
        finally:
            srv.stop()
        m = lg["main"]
        hb = m["codes"].get("2.04", 0)
        run = {"processes": n, "worker_pids": pids, "msgs_per_s": m["answered_msgs_per_s"],
               "server_cpu_us_per_msg": m.get("server_cpu_us_per_msg"), "latency": m["latency"],
               "retransmissions": m["retransmissions"], "lost": m["lost"], "kernel_udp_drops": m.get("kernel_udp_drops"),
               "generator_cpu_s": lg.get("generator_cpu_s"), "stored": stored, "heartbeats_acknowledged": hb,
               "every_ack_stored": stored["readings"] >= hb, "load_average": machine.load_average()}
        run["ratio_to_baseline"] = round(run["msgs_per_s"] / baseline_rate, 2) if baseline_rate else None
        res["runs"].append(run)
        ctx.log("scale: %d process(es) %.0f msgs/s (%s x baseline)" % (n, run["msgs_per_s"], run["ratio_to_baseline"]))
    one = res["runs"][0]["msgs_per_s"]
    for run in res["runs"][1:]:
        run["added_per_process_msgs_per_s"] = round((run["msgs_per_s"] - one) / (run["processes"] - 1), 1)
        run["speedup"] = round(run["msgs_per_s"] / one, 2) if one else None
    best = max(res["runs"], key=lambda r: r["msgs_per_s"])
    res["best"] = {"processes": best["processes"], "msgs_per_s": best["msgs_per_s"],
                   "ratio_to_baseline": best["ratio_to_baseline"], "every_ack_stored": best["every_ack_stored"]}
    return res

