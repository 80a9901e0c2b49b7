"""Runs the chosen scenarios and writes the JSON and Markdown reports.

The headline figures (`ingest_msgs_per_s`, `baseline_msgs_per_s`, `ratio`, `p99_ack_ms`) come
from the steady scenario; `p99_ack_ms` is the fleet's p99 acknowledgement latency at half of its
measured maximum rate (the goal's operating point), and the saturated p99 is reported beside it.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.perf import machine, report
from bench.perf.scenarios import SCENARIOS, Ctx

ORDER = ("steady", "scale", "storm", "restart", "million", "soak", "ablation", "oscore")
DEFAULT = ("steady", "scale", "storm", "restart", "million", "soak")

METHOD = (
    "Server and load generator are separate processes pinned to different cores "
    "(os.sched_setaffinity: server on the first usable CPU, generator on the second). "
    "The generator is a raw asyncio UDP CoAP client on uvloop: pre-encoded confirmable POSTs "
    "with payloads from protocol.messages, RFC 7252 retransmission timing, a bounded window of "
    "outstanding requests and at most one outstanding request per device, devices spread over "
    "a pool of sockets. Throughput is answered requests per second within the fixed duration; "
    "latency is from the first transmission to the response. The baseline is a bare aiocoap "
    "server (stock settings) with the same four resources that only decodes the CBOR payload, "
    "measured by the same generator in the same run. Each scenario starts from an empty database."
)


def available() -> dict[str, Callable[[Ctx], dict[str, Any]]]:
    """Scenario name -> function, in the order they run."""
    from bench.perf import million, scale

    table = {**SCENARIOS, "million": million.million, "scale": scale.scale}
    return {name: table[name] for name in ORDER if name in table}


def goals(rep: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal of issue 9 with the figure measured for it (None = not measured in this run)."""
    sc = rep["scenarios"]
    st = sc.get("steady", {})
    storm = sc.get("storm", {})
    restart = sc.get("restart", {})
    mil = sc.get("million", {})
    soak = sc.get("soak", {})
    best = sc.get("scale", {}).get("best", {})
    added = [r.get("added_per_process_msgs_per_s") for r in sc.get("scale", {}).get("runs", [])[1:]]

    def g(goal: str, target: str, measured: Any, met: bool | None) -> dict[str, Any]:
        return {"goal": goal, "target": target, "measured": measured, "met": met}

    def le(v: Any, limit: float) -> bool | None:
        return None if v is None else v <= limit

    def ge(v: Any, limit: float) -> bool | None:
        return None if v is None else v >= limit

    ing = st.get("ingest_msgs_per_s")
    q95 = [q.get("p95_ms") for q in [*mil.get("queries", {}).values(), *mil.get("service_queries", {}).values()]]
    q95max = max((v for v in q95 if v is not None), default=None)
    out = [
        g("sustained ingest, stored durably", ">= 10000 msgs/s", ing, ge(ing, 10000)),
        g("ratio to bare aiocoap, same run", ">= 4x", st.get("ratio"), ge(st.get("ratio"), 4.0)),
        g("sustained ingest, %s ingest processes on this host, stored durably" % best.get("processes"), ">= 10000 msgs/s",
          best.get("msgs_per_s"), ge(best.get("msgs_per_s"), 10000) and best.get("every_ack_stored")),
        g("ratio to bare aiocoap (one process), same run, %s ingest processes" % best.get("processes"), ">= 4x",
          best.get("ratio_to_baseline"), ge(best.get("ratio_to_baseline"), 4.0)),
        g("horizontal scaling: msgs/s added per added ingest process", "report", added or None, None),
        g("p99 ack latency at half the max rate", "< 50 ms", st.get("p99_ack_ms_half_rate"), le(st.get("p99_ack_ms_half_rate"), 50)),
        g("every acknowledged heartbeat stored", "yes", st.get("store", {}).get("every_ack_stored"), st.get("store", {}).get("every_ack_stored")),
        g("alarm storm: packet -> visible in API, p99", "< 1000 ms", storm.get("visible_latency", {}).get("p99_ms"),
          le(storm.get("visible_latency", {}).get("p99_ms"), 1000)),
        g("restart: nothing acknowledged lost", "0 missing", restart.get("acknowledged_but_missing"), restart.get("nothing_acknowledged_lost")),
        g("1M devices: slowest dashboard/API query p95", "< 200 ms", q95max, le(q95max, 200)),
        g("soak 1000 msgs/s (%s, %s s): p99" % (soak.get("server"), soak.get("duration_s")), "< 10 ms", soak.get("p99_ack_ms"), le(soak.get("p99_ack_ms"), 10)),
        g("soak: memory slope", "flat (report)", soak.get("rss_slope_mb_per_min"), None),
        g("soak: kernel UDP receive drops", "0", soak.get("kernel_udp_drops"), None if soak.get("kernel_udp_drops") is None else soak["kernel_udp_drops"] == 0),
    ]
    return out


def run(scenarios: list[str], json_path: Path, md_path: Path | None, smoke: bool, db: str = "sqlite",
        profile: bool = False, workdir: Path | None = None, log: Callable[[str], None] = print,
        soak_seconds: float = 600.0, soak_server: str = "fleet") -> dict[str, Any]:
    """Run `scenarios` in order and write the reports; a failing scenario is recorded, not fatal."""
    table = available()
    unknown = [s for s in scenarios if s not in table]
    if unknown:
        raise ValueError("unknown scenario(s) %s; known: %s" % (", ".join(unknown), ", ".join(table)))
    own_tmp = None
    if workdir is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="gg-bench-")
        workdir = Path(own_tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = Ctx(workdir, smoke, db=db, profile=profile, log=log, soak_seconds=soak_seconds, soak_server=soak_server)
    rep: dict[str, Any] = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "gasguard bench perf " + " ".join(shlex.quote(a) for a in sys.argv[3:]) if sys.argv[1:3] == ["bench", "perf"] else " ".join(sys.argv),
        "smoke": smoke,
        "database": db if db == "sqlite" else db.split("@")[-1],
        "machine": machine.describe(),
        "pinning": {"server_cpu": ctx.server_cpu, "generator_cpu": ctx.gen_cpu},
        "method": METHOD,
        "scenarios": {},
    }
    for name in (s for s in ORDER if s in scenarios):
        t0 = time.monotonic()
        log("scenario %s ..." % name)
        try:
            res = table[name](ctx)
        except Exception as e:  # noqa: BLE001 - one broken scenario must not hide the others
            res = {"error": "%s: %s" % (type(e).__name__, e), "traceback": traceback.format_exc()[-4000:]}
            log("scenario %s failed: %s" % (name, res["error"]))
        res["seconds"] = round(time.monotonic() - t0, 1)
        res["load_average_after"] = machine.load_average()
        rep["scenarios"][name] = res
    st = rep["scenarios"].get("steady", {})
    rep["ingest_msgs_per_s"] = st.get("ingest_msgs_per_s")
    rep["baseline_msgs_per_s"] = st.get("baseline_msgs_per_s")
    rep["ratio"] = st.get("ratio")
    rep["p99_ack_ms"] = st.get("p99_ack_ms_half_rate")
    rep["p99_ack_ms_saturated"] = st.get("p99_ack_ms_saturated")
    rep["aiocoap_path_msgs_per_s"] = st.get("aiocoap_path_msgs_per_s")
    rep["aiocoap_path_ratio"] = st.get("aiocoap_path_ratio")
    rep["fast_over_aiocoap_path"] = st.get("fast_over_aiocoap_path")
    rep["goals"] = goals(rep)
    rep["postgres_databases"] = list(ctx.pg_databases)
    if not os.environ.get("GASGUARD_BENCH_KEEP"):
        ctx.cleanup()
    rep["machine"]["load_average_at_end"] = machine.load_average()
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(rep, indent=1, sort_keys=False) + "\n")
    if md_path is not None:
        md_path.parent.mkdir(parents=True, exist_ok=True)
        md_path.write_text(report.markdown(rep))
    if own_tmp is not None and not os.environ.get("GASGUARD_BENCH_KEEP"):
        own_tmp.cleanup()
    return rep
