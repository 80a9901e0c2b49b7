"""The benchmark's scenarios. Each takes a Ctx and returns a JSON-able dict.

- steady:  heartbeats as fast as a bounded window allows, against the bare aiocoap baseline and
           the fleet in the same run (ratio), then the fleet again at half its rate (p99 there);
           then the fleet with its aiocoap ingest path (`--coap-ingest aiocoap`) at full rate;
           afterwards the store must hold every acknowledged heartbeat.
- storm:   10 % of the devices send an alarm within the storm span while heartbeats go on; a
           watcher polls the fleet's HTTP API and times packet -> alarm visible.
- restart: heartbeats and events; the fleet is SIGKILLed mid-run and started again; devices
           retransmit; afterwards every acknowledged event must be in the store.
- million: 1,000,000 registered devices bulk-loaded, then the dashboard/API queries timed.
- soak:    a steady rate with bursts; server memory sampled (slope) and kernel UDP drops counted.
- oscore:  the fleet's ingest with every request OSCORE-protected (per-device keys) against the
           same fleet with plain CoAP (fast path and aiocoap path), alternating rounds, medians;
           every acknowledged heartbeat stored.
"""

from __future__ import annotations

import http.client
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.perf import fleetstore, procs
from bench.perf.stats import slope, summary_ms


class Ctx:
    """What every scenario needs: where to write, which cores, which database, how long."""

    def __init__(self, workdir: Path, smoke: bool, db: str = "sqlite", profile: bool = False,
                 log: Callable[[str], None] = print, soak_seconds: float = 600.0, soak_server: str = "fleet") -> None:
        self.soak_seconds = soak_seconds
        self.soak_server = soak_server
        self.workdir = workdir
        self.smoke = smoke
        self.db = db
        self.profile = profile
        self.log = log
        self.server_cpu, self.gen_cpu = procs.pin_cpus()
        self.shared: dict[str, Any] = {}  # figures one scenario hands the next (steady's max rate)
        self.pg_databases: list[str] = []
        self.tokens: dict[str, str | None] = {}  # database URL -> the benchmark's API token

    def cleanup(self) -> None:
        """Drop the PostgreSQL databases this run created."""
        if not self.pg_databases:
            return
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        from fleet.store.db import normalise_url

        engine = create_engine(make_url(normalise_url(self.db)), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for name in self.pg_databases:
                    conn.exec_driver_sql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        finally:
            engine.dispose()
        self.pg_databases = []

    def p(self, full: Any, smoke: Any) -> Any:
        """A parameter: its full value, or its smoke value under --smoke."""
        return smoke if self.smoke else full

    def db_url(self, name: str) -> str:
        """A fresh database for one scenario."""
        if self.db == "sqlite":
            path = self.workdir / ("%s.db" % name)
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            url = "sqlite:///%s" % path
        else:
            # One database per scenario and run: parallel runs (CI, a colleague's `make test`) never collide.
            dbname = "gg_bench_%d_%s" % (os.getpid(), name.replace("-", "_"))
            url = fresh_postgres_database(self.db, dbname)
            self.pg_databases.append(dbname)
        self.tokens[url] = fleetstore.prepare(url)
        return url

    def fleet(self, name: str, url: str, *extra: str) -> procs.Server:
        """`gasguard serve` (its default ingest path, unless `extra` says `--coap-ingest aiocoap`)."""
        coap, http_port = procs.free_ports()
        argv = [sys.executable, "-m", "fleet.cli", "serve", "--db", url,
                "--coap-port", str(coap), "--http-port", str(http_port), *extra]
        return procs.Server("fleet", argv, coap, http_port, cpu=self.server_cpu,
                            log=self.workdir / ("%s.fleet.log" % name))

    def baseline(self, name: str) -> procs.Server:
        coap = procs.free_port()
        argv = [sys.executable, "-m", "bench.perf.baseline", "--port", str(coap)]
        return procs.Server("baseline", argv, coap, None, cpu=self.server_cpu,
                            log=self.workdir / ("%s.baseline.log" % name))

    def run_baseline(self, name: str, **cfg: Any) -> dict[str, Any]:
        """Start the bare aiocoap baseline, run the generator against it with `cfg`, stop it."""
        srv = self.baseline(name)
        srv.start()
        try:
            return self.loadgen("%s-baseline" % name, srv, **cfg)
        finally:
            srv.stop()

    def proposal(self, name: str, url: str, *extra: str) -> procs.Server:
        """The lean ingest prototype (bench/perf/proto_ingest.py) on the same kind of database."""
        coap = procs.free_port()
        argv = [sys.executable, "-m", "bench.perf.proto_ingest", "--db", url, "--port", str(coap), "--batch-wait-ms", "2", *extra]
        return procs.Server("proposal", argv, coap, None, cpu=self.server_cpu,
                            log=self.workdir / ("%s.proposal.log" % name))

    def loadgen(self, name: str, server: procs.Server, **cfg: Any) -> dict[str, Any]:
        """Run the generator against `server`; adds the kernel's UDP drops on the server's port."""
        cfg.setdefault("model", fleetstore.BENCH_MODEL)
        before = procs.udp_drops(server.coap_port) or 0
        cpu0 = procs.tree_cpu_seconds(server.pid)  # with a fleet's ingest workers
        out = procs.run_loadgen({"port": server.coap_port, **cfg}, self.workdir, name, self.gen_cpu)
        cpu1 = procs.tree_cpu_seconds(server.pid)
        after = procs.udp_drops(server.coap_port)
        m = out["main"]
        m["kernel_udp_drops"] = None if after is None else after - before
        # The server's own CPU time over the whole run (registration, main phase, drain): per
        # answered message it is a cost that other load on the machine changes far less than msgs/s.
        answered = m["answered"] + out.get("register", {}).get("registered", 0)
        if cpu0 is not None and cpu1 is not None and answered:
            m["server_cpu_s"] = round(cpu1 - cpu0, 3)
            m["server_cpu_us_per_msg"] = round((cpu1 - cpu0) / answered * 1e6, 1)
        return out


def fresh_postgres_database(server_url: str, dbname: str) -> str:
    """Drop and create database `dbname` on the server of `server_url`; returns its URL.

    The benchmark never touches the database named in `server_url` (tests may be using it);
    it only connects there to create its own."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from fleet.store.db import normalise_url

    admin = make_url(normalise_url(server_url))
    if not dbname.isidentifier():
        raise ValueError("bad benchmark database name %r" % dbname)
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % dbname)
            conn.exec_driver_sql('CREATE DATABASE "%s"' % dbname)
    finally:
        engine.dispose()
    return admin.set(database=dbname).render_as_string(hide_password=False)


def fleet_available() -> str | None:
    """None when the fleet server can run; otherwise why not (the scenario says so)."""
    import importlib.util

    for mod in ("fleet.serve", "protocol.messages"):
        if importlib.util.find_spec(mod) is None:
            return "%s is not written yet" % mod
    return None


def _brief(lg: dict[str, Any]) -> dict[str, Any]:
    """The generator's report without its long lists."""
    main = {k: v for k, v in lg["main"].items() if k not in ("acked_events", "alarms", "timeline")}
    out = {"main": main, "generator_cpu_s": lg.get("generator_cpu_s"), "event_loop": lg.get("event_loop")}
    if "register" in lg:
        out["register"] = lg["register"]
    return out


# -- steady -----------------------------------------------------------------------------------
def steady(ctx: Ctx) -> dict[str, Any]:
    devices = ctx.p(1000, 200)
    duration = ctx.p(20.0, 1.5)
    window = ctx.p(128, 64)
    res: dict[str, Any] = {"devices": devices, "duration_s": duration, "window": window}

    lg = ctx.run_baseline("steady", devices=devices, duration=duration, window=window)
    res["baseline"] = _brief(lg)
    res["baseline_msgs_per_s"] = lg["main"]["answered_msgs_per_s"]
    ctx.log("steady: baseline %.0f msgs/s" % res["baseline_msgs_per_s"])

    why = fleet_available()
    if why:
        res["fleet_skipped"] = why
        return res
    url = ctx.db_url("steady")
    srv = ctx.fleet("steady", url)
    srv.start()
    prof = None
    try:
        if ctx.profile:
            prof = start_profile(ctx, srv.pid, "steady", duration)
        lg = ctx.loadgen("steady-fleet", srv, devices=devices, duration=duration, window=window)
        if prof is not None:
            res["profile"] = finish_profile(prof)
        stored = fleetstore.counts(url)
        rate = lg["main"]["answered_msgs_per_s"]
        half = ctx.loadgen("steady-fleet-half", srv, devices=devices, duration=ctx.p(15.0, 1.0), window=max(window, 256),
                           rate=max(1.0, rate / 2.0), register=False)
        stored_after = fleetstore.counts(url)
    finally:
        srv.stop()
    res["fleet"] = _brief(lg)
    res["fleet_half_rate"] = _brief(half)
    res["ingest_msgs_per_s"] = rate
    res["ratio"] = round(rate / res["baseline_msgs_per_s"], 2) if res["baseline_msgs_per_s"] else None
    res["p99_ack_ms_saturated"] = lg["main"]["latency"]["p99_ms"]
    res["p99_ack_ms_half_rate"] = half["main"]["latency"]["p99_ms"]
    hb_acked = lg["main"]["codes"].get("2.04", 0)
    res["store"] = {
        "after_max_run": stored,
        "after_half_rate_run": stored_after,
        "heartbeats_acknowledged_max_run": hb_acked,
        "registered_acknowledged": lg.get("register", {}).get("registered"),
        "every_ack_stored": stored["readings"] >= hb_acked and stored["devices"] >= lg.get("register", {}).get("registered", 0),
    }
    ctx.shared["max_rate"] = rate
    ctx.log("steady: fleet %.0f msgs/s, ratio %s, p99 at half rate %s ms" % (rate, res["ratio"], res["p99_ack_ms_half_rate"]))

    # The same fleet with its aiocoap ingest path (coap_ingest = "aiocoap"), same generator, same kind of store.
    url_a = ctx.db_url("steady-aiocoap")
    srv = ctx.fleet("steady-aiocoap", url_a, "--coap-ingest", "aiocoap")
    srv.start()
    try:
        la = ctx.loadgen("steady-fleet-aiocoap", srv, devices=devices, duration=duration, window=window)
        stored_a = fleetstore.counts(url_a)
    finally:
        srv.stop()
    arate = la["main"]["answered_msgs_per_s"]
    res["fleet_aiocoap"] = _brief(la)
    res["aiocoap_path_msgs_per_s"] = arate
    res["aiocoap_path_ratio"] = round(arate / res["baseline_msgs_per_s"], 2) if res["baseline_msgs_per_s"] else None
    res["fast_over_aiocoap_path"] = round(rate / arate, 2) if arate else None
    hb_a = la["main"]["codes"].get("2.04", 0)
    res["aiocoap_path_store"] = {"after_max_run": stored_a, "heartbeats_acknowledged_max_run": hb_a,
                                 "every_ack_stored": stored_a["readings"] >= hb_a and stored_a["devices"] >= la.get("register", {}).get("registered", 0)}
    ctx.log("steady: fleet, aiocoap path %.0f msgs/s, ratio %s" % (arate, res["aiocoap_path_ratio"]))
    return res


# -- profiling --------------------------------------------------------------------------------
def start_profile(ctx: Ctx, pid: int, name: str, duration: float) -> tuple[Any, Path] | None:
    """py-spy record on the server for the run (raw collapsed stacks); None if py-spy is absent."""
    import shutil
    import subprocess

    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        ctx.log("profile: py-spy not found, skipping")
        return None
    out = ctx.workdir / ("%s.pyspy.txt" % name)
    # --gil: only samples that hold the GIL, i.e. Python work on the server's one core.
    proc = subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(max(1, int(duration))),
                             "--rate", "200", "--format", "raw", "--nonblocking", "--gil", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, out


def finish_profile(prof: tuple[Any, Path]) -> dict[str, Any]:
    proc, out = prof
    try:
        _, err = proc.communicate(timeout=60)
    except Exception:  # noqa: BLE001
        proc.kill()
        return {"error": "py-spy did not finish"}
    if not out.exists():
        return {"error": "py-spy wrote nothing: %s" % err[-500:]}
    return summarise_collapsed(out.read_text())


_LINE = re.compile(r":\d+\)$")


def summarise_collapsed(text_: str, top: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    self_n: dict[str, int] = {}
    incl_n: dict[str, int] = {}
    pkg_n: dict[str, int] = {}
    total = 0
    for line in text_.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        # "func (path/file.py:123)" -> "func (path/file.py)": one row per function, not per line.
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        leaf = frames[-1]
        self_n[leaf] = self_n.get(leaf, 0) + n
        pkg = _package(leaf)
        pkg_n[pkg] = pkg_n.get(pkg, 0) + n
        for f in set(frames):
            incl_n[f] = incl_n.get(f, 0) + n

    def top_of(d: dict[str, int]) -> list[list[Any]]:
        return [[f, round(100.0 * n / total, 1)] for f, n in sorted(d.items(), key=lambda kv: -kv[1])[:top]]

    return {"samples": total, "self_by_package_pct": top_of(pkg_n) if total else [],
            "self_pct": top_of(self_n) if total else [], "inclusive_pct": top_of(incl_n) if total else []}


def _package(frame: str) -> str:
    """`f (sqlalchemy/orm/loading.py)` -> `sqlalchemy`; `g (copy.py)` -> `copy`; `<module>` stays."""
    m = re.search(r"\(([^)]*)\)$", frame)
    if not m:
        return frame
    path = m.group(1)
    head = path.split("/", 1)[0]
    return head[:-3] if head.endswith(".py") else head


# -- storm ------------------------------------------------------------------------------------
class AlarmWatcher(threading.Thread):
    """Polls the fleet's open alarms and notes when each device's alarm first shows."""

    def __init__(self, port: int, path: str, period: float = 0.02, token: str | None = None) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.headers = fleetstore.auth_headers(token)
        self.path = path
        self.period = period
        self.seen: dict[str, float] = {}
        self.polls = 0
        self.errors: dict[str, int] = {}
        self.stop_flag = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection(procs.HOST, self.port, timeout=5)
        while not self.stop_flag.is_set():
            try:
                conn.request("GET", self.path, headers=self.headers)
                r = conn.getresponse()
                body = r.read()
                now = time.time()
                self.polls += 1
                if r.status != 200:
                    key = "HTTP %d" % r.status
                    self.errors[key] = self.errors.get(key, 0) + 1
                for dev in fleetstore.device_ids_in(body):
                    self.seen.setdefault(dev, now)
            except (OSError, http.client.HTTPException) as e:
                key = type(e).__name__
                self.errors[key] = self.errors.get(key, 0) + 1
                conn.close()
                conn = http.client.HTTPConnection(procs.HOST, self.port, timeout=5)
            self.stop_flag.wait(self.period)
        conn.close()


def storm(ctx: Ctx) -> dict[str, Any]:
    why = fleet_available()
    if why:
        return {"skipped": why}
    devices = ctx.p(2000, 200)
    span = ctx.p(60.0, 1.5)
    start = ctx.p(5.0, 0.5)
    duration = ctx.p(start + span + 5.0, start + span + 1.0)
    rate = ctx.p(min(5000.0, 0.5 * ctx.shared.get("max_rate", 4000.0)), 300.0)
    url = ctx.db_url("storm")
    srv = ctx.fleet("storm", url)
    srv.start()
    watcher = AlarmWatcher(srv.http_port or 0, fleetstore.OPEN_ALARMS, token=ctx.tokens.get(url))
    watcher.start()
    try:
        lg = ctx.loadgen("storm", srv, devices=devices, duration=duration, window=256, rate=rate,
                         storm={"fraction": 0.1, "start": start, "span": span})
        time.sleep(ctx.p(2.0, 1.0))  # last chance for the latest alarms to show
    finally:
        watcher.stop_flag.set()
        watcher.join(10)
        srv.stop()
    alarms = lg["main"].get("alarms", [])
    lat = [watcher.seen[a["dev"]] - a["sent"] for a in alarms if a["dev"] in watcher.seen]
    stored = fleetstore.counts(url)
    res = {
        "devices": devices, "heartbeat_rate": rate, "storm_span_s": span,
        "alarms_sent": len(alarms), "alarms_acknowledged": sum(1 for a in alarms if a["ok"]),
        "alarms_visible": len(lat), "alarms_never_visible": len(alarms) - len(lat),
        "visible_latency": summary_ms(lat),
        "watcher": {"polls": watcher.polls, "period_ms": watcher.period * 1000, "errors": watcher.errors,
                    "path": fleetstore.OPEN_ALARMS},
        "store": stored,
        "generator": _brief(lg),
    }
    ctx.log("storm: %d alarms, visible p99 %s ms" % (len(alarms), res["visible_latency"]["p99_ms"]))
    return res


# -- restart ----------------------------------------------------------------------------------
def restart(ctx: Ctx) -> dict[str, Any]:
    why = fleet_available()
    if why:
        return {"skipped": why}
    devices = ctx.p(500, 100)
    duration = ctx.p(20.0, 5.0)
    kill_at = duration * 0.4
    url = ctx.db_url("restart")
    srv = ctx.fleet("restart", url)
    srv.start()
    cfg = {"port": srv.coap_port, "devices": devices, "duration": duration, "window": 128,
           "rate": ctx.p(2000.0, 400.0), "event_ratio": 0.5, "record_events": True, "timeline": True,
           "drain": ctx.p(60.0, 30.0), "model": fleetstore.BENCH_MODEL}
    proc, out = procs.start_loadgen(cfg, ctx.workdir, "restart", ctx.gen_cpu)
    try:
        # The generator registers first; kill once its main phase has run for kill_at seconds.
        t_start = time.monotonic()
        time.sleep(kill_at + ctx.p(2.0, 1.0))
        srv.kill()
        t_kill = time.monotonic()
        restart_s = srv.start()
        downtime = time.monotonic() - t_kill
        lg = procs.finish_loadgen(proc, out, "restart", timeout=duration + 200)
    finally:
        if proc.poll() is None:
            proc.kill()
        srv.stop()
    acked = {(d, int(s)) for d, s in lg["main"].get("acked_events", [])}
    stored = fleetstore.stored_events(url)
    missing = sorted(acked - stored)
    counts = fleetstore.counts(url)
    # Heartbeats carry no sequence number: every acknowledged one must at least be a row.
    hb_acked = lg["main"]["codes"].get("2.04", 0) - len(lg["main"].get("acked_events", []))
    res = {
        "devices": devices, "duration_s": duration, "killed_after_s": round(t_kill - t_start, 2),
        "downtime_s": round(downtime, 2), "restart_ready_s": round(restart_s, 2),
        "events_acknowledged": len(acked), "events_stored": len(stored),
        "acknowledged_but_missing": len(missing), "missing_sample": missing[:10],
        "heartbeats_acknowledged": hb_acked, "readings_stored": counts["readings"],
        "nothing_acknowledged_lost": not missing and len(acked) > 0 and counts["readings"] >= hb_acked,
        "store": counts,
        "generator": _brief(lg),
        "timeline": lg["main"].get("timeline", []),
    }
    ctx.log("restart: %d events acknowledged, %d missing from the store" % (len(acked), len(missing)))
    return res


# -- soak -------------------------------------------------------------------------------------
class Sampler(threading.Thread):
    """Samples a server's RSS and its socket's kernel drops once a period."""

    def __init__(self, pid: int, port: int, period: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.port, self.period = pid, port, period
        self.t: list[float] = []
        self.rss: list[int] = []
        self.drops: list[int] = []
        self.stop_flag = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop_flag.is_set():
            r = procs.rss_kb(self.pid)
            d = procs.udp_drops(self.port)
            if r is not None:
                self.t.append(time.monotonic() - t0)
                self.rss.append(r)
                self.drops.append(d or 0)
            self.stop_flag.wait(self.period)


def soak(ctx: Ctx) -> dict[str, Any]:
    why = fleet_available()
    if why:
        return {"skipped": why}
    rate = 1000.0
    duration = ctx.p(float(ctx.soak_seconds), 3.0)
    burst = {"every": ctx.p(30.0, 1.5), "size": 256}
    url = ctx.db_url("soak")
    srv = ctx.proposal("soak", url) if ctx.soak_server == "proposal" else ctx.fleet("soak", url)
    srv.start()
    sampler = Sampler(srv.pid, srv.coap_port, ctx.p(1.0, 0.25))
    try:
        drops0 = procs.udp_drops(srv.coap_port) or 0
        sampler.start()
        lg = ctx.loadgen("soak", srv, devices=ctx.p(2000, 600), duration=duration, window=512, rate=rate,
                         burst=burst, timeline=True)
        drops1 = procs.udp_drops(srv.coap_port) or 0
    finally:
        sampler.stop_flag.set()
        sampler.join(5)
        srv.stop()
    # Memory slope over the second half: start-up and the first caches filling are not a leak.
    half = len(sampler.t) // 2
    s = slope(sampler.t[half:], sampler.rss[half:])
    res = {
        "server": ctx.soak_server, "rate": rate, "duration_s": duration, "burst": burst,
        "p99_ack_ms": lg["main"]["latency"]["p99_ms"],
        "answered_msgs_per_s": lg["main"]["answered_msgs_per_s"],
        "rss_mb_start": round(sampler.rss[0] / 1024, 1) if sampler.rss else None,
        "rss_mb_end": round(sampler.rss[-1] / 1024, 1) if sampler.rss else None,
        "rss_slope_mb_per_min": None if s is None else round(s * 60 / 1024, 3),
        "kernel_udp_drops": drops1 - drops0,
        "rss_series_mb": [[round(t, 1), round(r / 1024, 1)] for t, r in zip(sampler.t, sampler.rss)][:: max(1, len(sampler.t) // 120)],
        "store": fleetstore.counts(url),
        "generator": _brief(lg),
        "timeline": lg["main"].get("timeline", []),
    }
    ctx.log("soak: p99 %s ms, RSS slope %s MB/min, drops %d" % (res["p99_ack_ms"], res["rss_slope_mb_per_min"], res["kernel_udp_drops"]))
    return res


# -- ablation ---------------------------------------------------------------------------------
ABLATION = (
    ("baseline: bare aiocoap, decode only", "baseline", ()),
    ("fleet: fast ingest path (the default)", "fleet", ()),
    ("fleet: aiocoap ingest path (--coap-ingest aiocoap)", "fleet", ("--coap-ingest", "aiocoap")),
    ("proposal: fast path in aiocoap's socket, 2 ms batches, cbor2 + checks", "proposal", ()),
    ("proposal without the 2 ms batch wait (one batch per loop turn)", "proposal", ("--batch-wait-ms", "0")),
    ("proposal with protocol.messages.decode (pure-Python CBOR)", "proposal", ("--decode", "messages")),
    ("proposal on a bare uvloop socket (no aiocoap at all)", "proposal", ("--front", "raw")),
)


def ablation(ctx: Ctx) -> dict[str, Any]:
    """Each of the proposal's choices taken away in turn, same generator, same store: what each
    one is worth. Not in the default run; `-s ablation`."""
    why = fleet_available()
    if why:
        return {"skipped": why}
    rows = []
    for i, (label, kind, extra) in enumerate(ABLATION):
        name = "ablation-%d" % i
        if kind == "baseline":
            srv = ctx.baseline(name)
        else:
            url = ctx.db_url(name)
            srv = ctx.fleet(name, url, *extra) if kind == "fleet" else ctx.proposal(name, url, *extra)
        srv.start()
        try:
            lg = ctx.loadgen(name, srv, devices=ctx.p(1000, 100), duration=ctx.p(10.0, 1.0), window=128)
        finally:
            srv.stop()
        m = lg["main"]
        rows.append({"variant": label, "msgs_per_s": m["answered_msgs_per_s"], "p50_ms": m["latency"]["p50_ms"],
                     "p99_ms": m["latency"]["p99_ms"], "retransmissions": m["retransmissions"],
                     "kernel_udp_drops": m.get("kernel_udp_drops"), "server_cpu_us_per_msg": m.get("server_cpu_us_per_msg"),
                     "load_average": ctx_load()})
        ctx.log("ablation: %s: %.0f msgs/s" % (label, m["answered_msgs_per_s"]))
    return {"variants": rows}


# -- oscore -----------------------------------------------------------------------------------
def _start_fleet(ctx: Ctx, name: str, url: str, env: dict[str, str] | None, *extra: str, tries: int = 3
                 ) -> procs.Server:
    """Start a fleet, on new ports if it does not answer (seen a few times on the loaded machine
    before `gasguard serve` left uvloop: a readiness ping landing while aiocoap wires its socket)."""
    for attempt in range(tries):
        srv = ctx.fleet(name, url, *extra)
        srv.env = env
        try:
            srv.start(ready_timeout=30.0)
            return srv
        except RuntimeError as e:
            ctx.log("oscore: %s did not start (attempt %d): %s" % (name, attempt + 1, str(e).splitlines()[0]))
            if attempt + 1 == tries:
                raise
    raise AssertionError("unreachable")


def oscore(ctx: Ctx) -> dict[str, Any]:
    """Plain CoAP (the fleet's default fast ingest path, and its aiocoap path) and OSCORE (RFC 8613,
    one key per device, bench/perf/oscore_keys.py; protected uplinks always take the aiocoap path)
    against the fleet, same generator and devices, fresh database each run, rounds alternating so
    load on the shared machine falls on every mode; the medians are the figures."""
    from statistics import median

    from bench.perf import oscore_keys

    why = fleet_available()
    if why:
        return {"skipped": why}
    devices = ctx.p(1000, 100)
    duration = ctx.p(10.0, 1.5)
    window = ctx.p(128, 32)
    rounds = ctx.p(3, 1)
    modes: dict[str, tuple[str, ...]] = {"plain": (), "plain_aiocoap": ("--coap-ingest", "aiocoap"), "oscore": ()}
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for r in range(rounds):
        for mode, extra in modes.items():
            name = "oscore-%s-%d" % (mode, r)
            url = ctx.db_url(name)
            cfg: dict[str, Any] = {}
            env = None
            if mode == "oscore":
                keys, env = oscore_keys.write_keys(url, devices, ctx.workdir, name)
                cfg["oscore"] = str(keys)
            srv = _start_fleet(ctx, name, url, env, *extra)
            try:
                lg = ctx.loadgen(name, srv, devices=devices, duration=duration, window=window, **cfg)
            finally:
                srv.stop()
            stored = fleetstore.counts(url)
            m = lg["main"]
            acked = m["codes"].get("2.04", 0)
            row = {"msgs_per_s": m["answered_msgs_per_s"], "p50_ms": m["latency"]["p50_ms"],
                   "p99_ms": m["latency"]["p99_ms"], "codes": m["codes"],
                   "registered": lg.get("register", {}).get("registered"),
                   "oscore_bad_response": m.get("oscore_bad_response", 0),
                   "retransmissions": m["retransmissions"], "lost": m["lost"],
                   "server_cpu_us_per_msg": m.get("server_cpu_us_per_msg"),
                   "generator_cpu_s": lg.get("generator_cpu_s"), "load_average": ctx_load(),
                   "every_ack_stored": stored["readings"] >= acked}
            runs[mode].append(row)
            ctx.log("oscore: round %d %s: %.0f msgs/s, p99 %s ms" % (r, mode, row["msgs_per_s"], row["p99_ms"]))

    def med(mode: str, key: str) -> float | None:
        vals = [x[key] for x in runs[mode] if x.get(key) is not None]
        return round(median(vals), 1) if vals else None

    res: dict[str, Any] = {"devices": devices, "duration_s": duration, "window": window, "rounds": rounds, "runs": runs}
    for mode in modes:
        for key in ("msgs_per_s", "p50_ms", "p99_ms", "server_cpu_us_per_msg"):
            res["%s_%s_median" % (mode, key)] = med(mode, key)
    o = res["oscore_msgs_per_s_median"]
    for mode in ("plain", "plain_aiocoap"):
        p = res["%s_msgs_per_s_median" % mode]
        res["oscore_over_%s" % mode] = round(o / p, 2) if p and o else None
    res["every_ack_stored"] = all(x["every_ack_stored"] for rows in runs.values() for x in rows)
    ctx.log("oscore: median msgs/s plain %s, plain via aiocoap %s, OSCORE %s" % (
        res["plain_msgs_per_s_median"], res["plain_aiocoap_msgs_per_s_median"], o))
    return res


def ctx_load() -> list[float]:
    from bench.perf import machine

    return machine.load_average()


SCENARIOS: dict[str, Callable[[Ctx], dict[str, Any]]] = {
    "steady": steady,
    "storm": storm,
    "restart": restart,
    "soak": soak,
    "ablation": ablation,
    "oscore": oscore,
}
