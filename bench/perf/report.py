"""The Markdown version of a perf report: headline, goals, machine, method, each scenario."""

from __future__ import annotations

from typing import Any


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "{:,.1f}".format(v) if abs(v) >= 100 else "{:.3g}".format(v)
    if isinstance(v, int):
        return "{:,}".format(v)
    return str(v)


def _lat_row(name: str, lat: dict[str, Any] | None) -> str:
    lat = lat or {}
    return "| %s | %s | %s | %s | %s | %s |" % (
        name, _fmt(lat.get("count")), _fmt(lat.get("p50_ms")), _fmt(lat.get("p95_ms")),
        _fmt(lat.get("p99_ms")), _fmt(lat.get("max_ms")))


def markdown(rep: dict[str, Any]) -> str:
    m = rep["machine"]
    lines = [
        "# gasguard performance report%s" % (" (smoke run: seconds per scenario, not figures)" if rep["smoke"] else ""),
        "",
        "Generated %s by `%s`." % (rep["generated_at"], rep["command"]),
        "",
        "| headline | value |",
        "|---|---|",
        "| fleet ingest (fast path, the default), answered msgs/s | %s |" % _fmt(rep.get("ingest_msgs_per_s")),
        "| bare aiocoap baseline, msgs/s | %s |" % _fmt(rep.get("baseline_msgs_per_s")),
        "| ratio fleet / baseline | %s |" % _fmt(rep.get("ratio")),
        "| p99 ack latency at half the max rate, ms | %s |" % _fmt(rep.get("p99_ack_ms")),
        "| p99 ack latency saturated, ms | %s |" % _fmt(rep.get("p99_ack_ms_saturated")),
        "| fleet with its aiocoap ingest path, msgs/s and ratio to the baseline | %s (%sx) |" % (
            _fmt(rep.get("aiocoap_path_msgs_per_s")), _fmt(rep.get("aiocoap_path_ratio"))),
        "| fast path / aiocoap path | %s |" % _fmt(rep.get("fast_over_aiocoap_path")),
        "",
        "## Goals",
        "",
        "| goal | target | measured | met |",
        "|---|---|---|---|",
    ]
    for g in rep["goals"]:
        lines.append("| %s | %s | %s | %s |" % (g["goal"], g["target"], _fmt(g["measured"]), _fmt(g["met"])))
    pk = ", ".join("%s %s" % (k, v) for k, v in m["packages"].items() if v)
    lines += [
        "",
        "## Machine",
        "",
        "%s, %s CPUs (%s usable), %s GiB; Linux %s; %s; %s." % (
            m["cpu_model"], m["cpus"], m["cpus_usable"], m["memory_gib"], m["kernel"], m["python"], pk),
        "Load average (1/5/15 min) at start %s, at end %s. Server on CPU %s, generator on CPU %s. Database: %s." % (
            m["load_average_at_start"], m.get("load_average_at_end"), rep["pinning"]["server_cpu"],
            rep["pinning"]["generator_cpu"], rep["database"]),
        "",
        "## Method",
        "",
        rep["method"],
        "",
    ]
    sc = rep["scenarios"]
    for name, res in sc.items():
        lines += ["## Scenario: %s" % name, ""]
        if "error" in res:
            lines += ["Failed: `%s`" % res["error"], ""]
            continue
        if "skipped" in res:
            lines += ["Skipped: %s" % res["skipped"], ""]
            continue
        if name == "steady":
            runs = ("baseline", "fleet", "fleet_half_rate", "fleet_aiocoap")
            lines += ["| run | answered msgs/s | server CPU µs/msg | retransmissions | lost | kernel UDP drops |", "|---|---|---|---|---|---|"]
            for key in runs:
                if key in res:
                    mm = res[key]["main"]
                    lines.append("| %s | %s | %s | %s | %s | %s |" % (key, _fmt(mm["answered_msgs_per_s"]), _fmt(mm.get("server_cpu_us_per_msg")),
                                                                  _fmt(mm["retransmissions"]), _fmt(mm["lost"]), _fmt(mm.get("kernel_udp_drops"))))
            lines += ["", "| latency | n | p50 ms | p95 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
            for key in runs:
                if key in res:
                    lines.append(_lat_row(key, res[key]["main"]["latency"]))
            if "fleet_skipped" in res:
                lines += ["", "Fleet not measured: %s." % res["fleet_skipped"]]
            if "store" in res:
                lines += ["", "Store after the max-rate run: %s; every acknowledged message stored: %s." % (
                    res["store"]["after_max_run"], _fmt(res["store"]["every_ack_stored"]))]
            if "aiocoap_path_store" in res:
                lines += ["", "Fleet with `--coap-ingest aiocoap`: %s msgs/s, %sx the baseline; store %s; every "
                          "acknowledged message stored: %s." % (_fmt(res["aiocoap_path_msgs_per_s"]), _fmt(res["aiocoap_path_ratio"]),
                                                                res["aiocoap_path_store"]["after_max_run"], _fmt(res["aiocoap_path_store"]["every_ack_stored"]))]
            if "profile" in res and res["profile"].get("self_pct"):
                lines += ["", "Where the fleet's time went (py-spy --gil, %d samples), self time by package: %s." % (
                    res["profile"]["samples"], ", ".join("%s %s %%" % (k, v) for k, v in res["profile"].get("self_by_package_pct", [])[:10])),
                    "", "Top functions by self time:", ""]
                lines += ["| function | self % |", "|---|---|"]
                lines += ["| `%s` | %s |" % (f, p) for f, p in res["profile"]["self_pct"][:15]]
        elif name == "scale":
            lines += ["Baseline (bare aiocoap, one process) %s msgs/s; %s devices, window %s, %s s per run, %s usable CPUs." % (
                _fmt(res.get("baseline_msgs_per_s")), _fmt(res.get("devices")), _fmt(res.get("window")),
                _fmt(res.get("duration_s")), _fmt(res.get("cpus"))), "",
                "| fleet processes | msgs/s | x one process | added per added process | x baseline | CPU µs/msg (all processes) "
                "| p50 / p99 ms | retransmissions, lost, kernel drops | every ack stored | load average |",
                "|---|---|---|---|---|---|---|---|---|---|"]
            for r in res.get("runs", []):
                lat = r.get("latency") or {}
                lines.append("| %s | %s | %s | %s | %s | %s | %s / %s | %s, %s, %s | %s | %s |" % (
                    r["processes"], _fmt(r["msgs_per_s"]), _fmt(r.get("speedup", 1.0)),
                    _fmt(r.get("added_per_process_msgs_per_s")), _fmt(r.get("ratio_to_baseline")),
                    _fmt(r.get("server_cpu_us_per_msg")), _fmt(lat.get("p50_ms")), _fmt(lat.get("p99_ms")),
                    _fmt(r.get("retransmissions")), _fmt(r.get("lost")), _fmt(r.get("kernel_udp_drops")),
                    "yes" if r.get("every_ack_stored") else "no", r.get("load_average")))
        elif name == "storm":
            lines += ["%s alarms sent by %s devices within %s s over heartbeats at %s/s; %s visible, %s never visible." % (
                _fmt(res["alarms_sent"]), _fmt(res["devices"]), _fmt(res["storm_span_s"]), _fmt(res["heartbeat_rate"]),
                _fmt(res["alarms_visible"]), _fmt(res["alarms_never_visible"])), "",
                "| latency | n | p50 ms | p95 ms | p99 ms | max ms |", "|---|---|---|---|---|---|",
                _lat_row("packet -> visible in API", res["visible_latency"]),
                _lat_row("CoAP ack (all messages)", res["generator"]["main"]["latency"])]
        elif name == "restart":
            lines += ["Fleet SIGKILLed after %s s, answering again after %s s. Events acknowledged %s, stored %s, "
                      "acknowledged but missing %s; heartbeats acknowledged %s, readings stored %s. Retransmissions %s, "
                      "given up %s." % (
                          _fmt(res["killed_after_s"]), _fmt(res["downtime_s"]), _fmt(res["events_acknowledged"]),
                          _fmt(res["events_stored"]), _fmt(res["acknowledged_but_missing"]),
                          _fmt(res.get("heartbeats_acknowledged")), _fmt(res.get("readings_stored")),
                          _fmt(res["generator"]["main"]["retransmissions"]), _fmt(res["generator"]["main"]["lost"]))]
        elif name == "million":
            lines += ["%s devices loaded in %s s (%s rows/s): %s." % (_fmt(res.get("devices")), _fmt(res.get("load_s")),
                                                                      _fmt(res.get("rows_per_s")), res.get("rows")), "",
                      "| query | path | n | p50 ms | p95 ms | max ms | status |", "|---|---|---|---|---|---|---|"]
            for q, r in res.get("queries", {}).items():
                lines.append("| %s | `%s` | %s | %s | %s | %s | %s |" % (q, r.get("path"), _fmt(r.get("count")), _fmt(r.get("p50_ms")),
                                                                       _fmt(r.get("p95_ms")), _fmt(r.get("max_ms")), r.get("status") or r.get("skipped")))
            for q, r in res.get("service_queries", {}).items():
                lines.append("| %s (store function, no HTTP) | — | %s | %s | %s | %s | %s |" % (
                    q, _fmt(r.get("count")), _fmt(r.get("p50_ms")), _fmt(r.get("p95_ms")), _fmt(r.get("max_ms")), r.get("error", "ok")))
            for q, r in res.get("live_queries", {}).items():
                lines.append("| %s (store function, `fresh=true`: not the default path, not a goal) | — | %s | %s | %s | %s | %s |" % (
                    q, _fmt(r.get("count")), _fmt(r.get("p50_ms")), _fmt(r.get("p95_ms")), _fmt(r.get("max_ms")), r.get("error", "ok")))
            snap = res.get("progress_snapshot_refresh")
            if snap:
                lines += ["", "Township progress snapshot refresh after the load (the background task's work, off the "
                          "request path; not a goal): %s." % (
                              "%s ms (%s communities)" % (_fmt(snap.get("ms")), _fmt(snap.get("communities")))
                              if "ms" in snap else snap.get("skipped"))]
            if "queries_skipped" in res:
                lines += ["", "Queries not timed: %s." % res["queries_skipped"]]
        elif name == "ablation":
            lines += ["| variant | msgs/s | server CPU µs/msg | p50 ms | p99 ms | retransmissions | kernel drops | load average |",
                      "|---|---|---|---|---|---|---|---|"]
            for v in res.get("variants", []):
                lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    v["variant"], _fmt(v["msgs_per_s"]), _fmt(v.get("server_cpu_us_per_msg")), _fmt(v["p50_ms"]), _fmt(v["p99_ms"]),
                    _fmt(v["retransmissions"]), _fmt(v["kernel_udp_drops"]), v["load_average"]))
        elif name == "soak":
            lines += ["%s: %s msgs/s for %s s with bursts of %s every %s s: p99 %s ms, RSS %s -> %s MB (slope %s MB/min over "
                      "the second half), kernel UDP drops %s." % (
                          res.get("server", "fleet"), _fmt(res["rate"]), _fmt(res["duration_s"]), res["burst"]["size"], _fmt(res["burst"]["every"]),
                          _fmt(res["p99_ack_ms"]), _fmt(res["rss_mb_start"]), _fmt(res["rss_mb_end"]),
                          _fmt(res["rss_slope_mb_per_min"]), _fmt(res["kernel_udp_drops"]))]
        lines += ["", "Took %s s; load average after: %s." % (_fmt(res.get("seconds")), res.get("load_average_after")), ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # re-render a saved JSON report: python -m bench.perf.report perf.json > perf.md
    import json
    import sys

    sys.stdout.write(markdown(json.load(open(sys.argv[1], encoding="utf-8"))))
