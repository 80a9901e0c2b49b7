"""The "million" scenario: a city's installed base in the store, then the dashboard's queries timed.

The bulk loader writes rows straight through the DBAPI (`executemany` in chunks, one transaction
per chunk) with each column's own SQLAlchemy bind processing, so the rows are exactly what the
ORM would have written, at a few hundred thousand rows a second instead of a few thousand.
Columns the loader does not fill get their declared default (a fixed "now" for time defaults) or
NULL; a NOT NULL column with neither is an error naming it, so a schema change is caught here.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

from bench.perf import fleetstore, procs
from bench.perf.stats import summary_ms

# Timestamps are relative to the load time, so "offline" and "due" mean what they will mean to the fleet.
NOW = datetime.now(timezone.utc).replace(microsecond=0)
TOWNSHIPS = ["豫龙镇", "乔楼镇", "广武镇", "王村镇", "高村乡", "汜水镇", "高山镇", "刘河镇", "崔庙镇", "贾峪镇",
             "城关乡", "京城路街道", "索河街道", "东城街道", "康泰路街道"]
CHUNK = 20_000
QUERY_BUDGET_S = 15.0  # per query: repeat until the count asked for or this long, whichever first
MIN_REPEATS = 5


class BulkLoader:
    """Inserts generated rows into fleet tables through the raw DBAPI connection."""

    def __init__(self, url: str) -> None:
        from fleet.store.base import Base
        from fleet.store.db import Database

        import fleet.store.models  # noqa: F401 - registers the core tables on Base.metadata

        for optional in ("fleet.lifecycle.models", "fleet.campaign.models"):
            try:
                __import__(optional)
            except ImportError:
                pass
        self.db = Database(url)
        self.meta = Base.metadata
        self.dialect = self.db.engine.dialect
        self.rows = 0

    def table(self, name: str) -> Any:
        return self.meta.tables.get(name)

    def load(self, name: str, rows: Iterator[dict[str, Any]]) -> int:
        """Insert every dict of `rows` into table `name`; returns the count."""
        table = self.meta.tables[name]
        first = next(rows, None)
        if first is None:
            return 0
        # Every column the rows give, and every other one except a generated primary key.
        cols = [c for c in table.columns
                if c.name in first or not (c.primary_key and c.autoincrement in (True, "auto"))]
        procs_ = [c.type.dialect_impl(self.dialect).bind_processor(self.dialect) for c in cols]
        fills = [None if c.name in first else self._fill(c) for c in cols]
        rows = itertools.chain((first,), rows)
        marks = ", ".join(["?" if self.dialect.paramstyle == "qmark" else "%s"] * len(cols))
        sql = "INSERT INTO %s (%s) VALUES (%s)" % (table.name, ", ".join(c.name for c in cols), marks)
        raw = self.db.engine.raw_connection()
        n = 0
        try:
            cur = raw.cursor()
            if self.dialect.name == "sqlite":
                cur.execute("PRAGMA synchronous=OFF")
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                values = []
                for c, proc, fill in zip(cols, procs_, fills):
                    v = row[c.name] if fill is None else fill()
                    values.append(proc(v) if proc is not None and v is not None else v)
                batch.append(tuple(values))
                if len(batch) >= CHUNK:
                    cur.executemany(sql, batch)
                    raw.commit()
                    n += len(batch)
                    batch = []
            if batch:
                cur.executemany(sql, batch)
                raw.commit()
                n += len(batch)
        finally:
            raw.close()
        self.rows += n
        return n

    @staticmethod
    def _fill(col: Any) -> Callable[[], Any]:
        d = col.default
        if d is not None and getattr(d, "is_scalar", False):
            value = d.arg
            return lambda: value
        if d is not None and getattr(d, "is_callable", False):
            return lambda: NOW  # time defaults (`now`): the load time
        if col.nullable or col.server_default is not None:
            return lambda: None
        raise ValueError("bulk loader: %s.%s is NOT NULL with no default; give it a value" % (col.table.name, col.name))

    def dispose(self) -> None:
        self.db.dispose()


def populate(url: str, n: int, seed: int = 9) -> dict[str, Any]:
    """n sites, n assets, n devices (2 % offline, 0.1 % with an open alarm), lifecycle/campaign rows
    where those tables exist. Returns counts and timings."""
    rng = random.Random(seed)
    loader = BulkLoader(url)
    t0 = time.perf_counter()
    with loader.db.engine.connect() as conn:
        from sqlalchemy import text

        model_id = conn.execute(text("SELECT id FROM product_models WHERE code = :c"), {"c": fleetstore.BENCH_MODEL}).scalar()
    town = [TOWNSHIPS[i % len(TOWNSHIPS)] for i in range(n)]
    counts: dict[str, int] = {}

    def sites() -> Iterator[dict[str, Any]]:
        for i in range(n):
            res = rng.random() < 0.9
            yield {"id": i + 1, "account_no": "B%09d" % i, "name": "用户%d" % i,
                   "category": "residential" if res else "non_residential", "supply": "pipeline" if rng.random() < 0.85 else "lpg",
                   "township": town[i], "community": "社区%d" % (i % 400), "address": "%s %d号" % (town[i], i)}

    def assets() -> Iterator[dict[str, Any]]:
        base = date(2022, 4, 1)
        for i in range(n):
            yield {"id": i + 1, "kind": "alarm_shutoff", "product_model_id": model_id, "serial": "SN%010d" % i, "site_id": i + 1,
                   "installed_on": base + timedelta(days=rng.randrange(600)), "status": "in_service"}

    def devices() -> Iterator[dict[str, Any]]:
        for i in range(n):
            offline = rng.random() < 0.02
            seen = NOW - timedelta(seconds=rng.randrange(3600, 86400 * 3) if offline else rng.randrange(300))
            yield {"id": i + 1, "device_id": "gg-m%011x" % i, "asset_id": i + 1, "product_model_id": model_id, "site_id": i + 1,
                   "model_code": fleetstore.BENCH_MODEL, "fw": "1.0.0", "gas": "methane", "board": "esp32-mq4",
                   "registered_at": NOW - timedelta(days=rng.randrange(1, 600)), "last_report_at": seen,
                   "last_online_at": seen, "last_offline_at": seen if offline else None, "online": not offline,
                   "last_seq": rng.randrange(1, 50)}

    def alarms() -> Iterator[dict[str, Any]]:
        for i in rng.sample(range(n), max(1, n // 1000)):
            yield {"device_id": "gg-m%011x" % i, "site_id": i + 1, "state": "open", "level": 1,
                   "opened_at": NOW - timedelta(seconds=rng.randrange(3600))}

    def calibrations() -> Iterator[dict[str, Any]]:
        # One calibration per detector within the last 15 months: with a 12-month interval about
        # a fifth are overdue and some more fall due in the next month.
        today = NOW.date()
        for i in range(n):
            yield {"asset_id": i + 1, "calibrated_on": today - timedelta(days=rng.randrange(450)),
                   "calibrated_by": "检定站", "result": "pass", "certificate_no": "C%09d" % i}

    def work_orders() -> Iterator[dict[str, Any]]:
        today = NOW.date()
        for i in range(0, n, 12):  # about 8 % of detectors have a calibration work order open
            due = today + timedelta(days=rng.randrange(-60, 30))
            yield {"key": "calibration_due:asset:%d:%s" % (i + 1, due.isoformat()), "kind": "calibration_due",
                   "state": "open", "site_id": i + 1, "asset_id": i + 1, "device_id": "gg-m%011x" % i, "due_on": due}

    installed = [i for i in range(n) if rng.random() < 0.7]

    def installs() -> Iterator[dict[str, Any]]:
        base = date(2022, 4, 1)
        for k, i in enumerate(installed):
            yield {"id": k + 1, "site_id": i + 1, "installed_on": base + timedelta(days=rng.randrange(600)),
                   "installer": "安装队%d" % (i % 50), "total_fen": 24000, "city_fen": 8000, "gas_company_fen": 8000, "user_fen": 8000}

    def install_items() -> Iterator[dict[str, Any]]:
        for k, i in enumerate(installed):
            yield {"install_id": k + 1, "asset_id": i + 1, "price_fen": 24000}

    def inspections() -> Iterator[dict[str, Any]]:
        for i in installed[::3]:
            yield {"kind": "self_check", "site_id": i + 1, "inspected_on": date(2023, 11, 1) + timedelta(days=rng.randrange(29)),
                   "inspector": "乡镇", "result": "pass" if rng.random() < 0.95 else "fail"}

    for name, gen in (("sites", sites), ("assets", assets), ("devices", devices), ("alarms", alarms),
                      ("calibration_records", calibrations), ("work_orders", work_orders), ("installs", installs),
                      ("install_items", install_items), ("inspections", inspections)):
        if loader.table(name) is not None:
            counts[name] = loader.load(name, gen())
    seconds = time.perf_counter() - t0
    loader.dispose()
    return {"rows": counts, "load_s": round(seconds, 1), "rows_per_s": round(sum(counts.values()) / seconds) if seconds else None}


def time_queries(port: int, repeats: int, token: str | None = None) -> dict[str, Any]:
    """Each dashboard/API query `repeats` times, one after another, over one keep-alive connection."""
    import http.client

    import importlib.util
    import json

    out: dict[str, Any] = {}
    conn = http.client.HTTPConnection(procs.HOST, port, timeout=60)
    headers = fleetstore.auth_headers(token)
    conn.request("GET", "/openapi.json", headers=headers)
    r = conn.getresponse()
    body = r.read()
    served = set(json.loads(body).get("paths", {})) if r.status == 200 else set()
    for name, (path, needs) in fleetstore.QUERIES.items():
        if needs and needs != "page" and importlib.util.find_spec(needs) is None:
            out[name] = {"path": path, "skipped": "%s is not written yet" % needs}
            continue
        if needs != "page" and path.split("?")[0] not in served:
            out[name] = {"path": path, "skipped": "the fleet does not serve %s yet (not in /openapi.json)" % path.split("?")[0]}
            continue
        times: list[float] = []
        status: dict[int, int] = {}
        size = 0
        t_query = time.perf_counter()
        for i in range(repeats):
            if i >= MIN_REPEATS and time.perf_counter() - t_query > QUERY_BUDGET_S:
                break  # a slow query is measured a few times, not for minutes
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            body = r.read()
            times.append(time.perf_counter() - t0)
            status[r.status] = status.get(r.status, 0) + 1
            size = len(body)
        out[name] = {"path": path, **summary_ms(times), "status": status, "bytes": size}
    conn.close()
    return out


def _service_queries() -> dict[str, Callable[[Any], Any]]:
    """The store functions behind the dashboard pages, called directly (no HTTP): timed too, so a
    page whose route is not written yet still has its query measured at a million devices."""
    out: dict[str, Callable[[Any], Any]] = {}
    try:
        from fleet.lifecycle import service as lifecycle
    except ImportError:
        lifecycle = None
    try:
        from fleet.campaign import service as campaign
    except ImportError:
        campaign = None
    if lifecycle is not None and hasattr(lifecycle, "list_work_orders"):
        out["calibration_due"] = lambda s: lifecycle.list_work_orders(s, states=["open", "assigned"], kind="calibration_due", limit=50)
    try:
        from fleet.campaign import snapshot
    except ImportError:
        snapshot = None
    if snapshot is not None:
        # What the progress API and page call per request: the stored snapshot when it is there.
        out["township_progress"] = lambda s: snapshot.view(s)
        out["township_progress_one"] = lambda s: snapshot.view(s, township=TOWNSHIPS[0])
    elif campaign is not None and hasattr(campaign, "progress"):
        out["township_progress"] = lambda s: campaign.progress(s)
    return out


def _live_queries() -> dict[str, Callable[[Any], Any]]:
    """Off the default path, reported but not a goal: what `fresh=true` (or another `as_of`)
    costs for one township. The city's live figure is the snapshot refresh's own line."""
    try:
        from fleet.campaign import snapshot
    except ImportError:
        return {}
    return {"township_progress_one_live": lambda s: snapshot.view(s, township=TOWNSHIPS[0], fresh=True)}


def refresh_snapshot(url: str) -> dict[str, Any]:
    """After the bulk load (a DBAPI path, so it counts its own change), compute and store the
    township progress snapshot once, as the fleet's background task would have by the time an
    operator looks: the requests then time what users hit, and this is the refresh's own cost."""
    try:
        from fleet.campaign import changes, snapshot
    except ImportError:
        return {"skipped": "fleet.campaign.snapshot is not written yet"}
    from fleet.store.db import Database

    db = Database(url)
    try:
        with db.engine.begin() as conn:
            changes.bump(conn)
        t0 = time.perf_counter()
        c = snapshot.refresh(db)
        return {"ms": round((time.perf_counter() - t0) * 1000, 1), "compute_ms": c.ms, "communities": len(c.rows)}
    finally:
        db.dispose()


def time_service_queries(url: str, repeats: int, queries: dict[str, Callable[[Any], Any]] | None = None) -> dict[str, Any]:
    from fleet.store.db import Database

    db = Database(url)
    out: dict[str, Any] = {}
    try:
        for name, fn in (_service_queries() if queries is None else queries).items():
            times = []
            t_query = time.perf_counter()
            try:
                for i in range(repeats):
                    if i >= MIN_REPEATS and time.perf_counter() - t_query > QUERY_BUDGET_S:
                        break
                    with db.session() as s:
                        t0 = time.perf_counter()
                        fn(s)
                        times.append(time.perf_counter() - t0)
                out[name] = {"call": "service", **summary_ms(times)}
            except Exception as e:  # noqa: BLE001 - a broken query is a finding, not a crash
                out[name] = {"call": "service", "error": "%s: %s" % (type(e).__name__, e)}
    finally:
        db.dispose()
    return out


def million(ctx: Any) -> dict[str, Any]:
    from bench.perf.scenarios import fleet_available

    why = fleet_available()
    n = ctx.p(1_000_000, 10_000)
    url = ctx.db_url("million")
    loaded = populate(url, n)
    ctx.log("million: %d devices loaded in %.1f s" % (n, loaded["load_s"]))
    res: dict[str, Any] = {"devices": n, **loaded}
    if why:
        res["queries_skipped"] = why
        return res
    res["progress_snapshot_refresh"] = refresh_snapshot(url)
    ctx.log("million: progress snapshot refresh %s" % res["progress_snapshot_refresh"])
    srv = ctx.fleet("million", url)
    res["fleet_start_s"] = round(srv.start(ready_timeout=300), 1)
    try:
        res["queries"] = time_queries(srv.http_port, ctx.p(50, 5), ctx.tokens.get(url))
    finally:
        srv.stop()
    res["service_queries"] = time_service_queries(url, ctx.p(20, 3))
    res["live_queries"] = time_service_queries(url, ctx.p(5, 2), _live_queries())
    ctx.log("million: " + ", ".join("%s p95 %s ms" % (k, v.get("p95_ms")) for k, v in {**res["queries"], **res["service_queries"]}.items()))
    return res


def retime(url: str, log: Any = None) -> dict[str, Any]:
    """The scenario's queries again on a database it already loaded (`--workdir` keeps it): to
    measure a change to a query or a page without the minutes of loading a million rows. Nothing
    is loaded or refreshed; the fleet is started on the database as it is (its background task
    refreshes the progress snapshot first if that is due, which the timings then include)."""
    import os
    import sys

    token = fleetstore.prepare(url)
    coap, http_port = procs.free_ports()
    argv = [sys.executable, "-m", "fleet.cli", "serve", "--db", url, "--coap-port", str(coap), "--http-port", str(http_port)]
    srv = procs.Server("fleet", argv, coap, http_port, cpu=procs.pin_cpus()[0], log=log)
    res: dict[str, Any] = {"db": url, "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    res["fleet_start_s"] = round(srv.start(ready_timeout=300), 1)
    try:
        res["queries"] = time_queries(http_port, 50, token)
    finally:
        srv.stop()
    res["service_queries"] = time_service_queries(url, 20)
    res["live_queries"] = time_service_queries(url, 5, _live_queries())
    res["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return res


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(description="re-time the million scenario's queries on a database it loaded")
    ap.add_argument("--db", required=True, help="the database URL (e.g. sqlite:///WORKDIR/million.db)")
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args()
    out = retime(args.db)
    text = json.dumps(out, indent=1, ensure_ascii=False)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text)
    print(text)
