"""Benchmark: campaign progress and ranking over a city-sized ledger (default 200,000 sites).

Not part of the test suite. It builds a synthetic city (townships, communities, the campaign's
mix of residential pipeline / residential LPG / non-residential users, installs, assets and
acceptance checks, most sites compliant), then times, best and median of N runs each:
- `progress()` per township (the one aggregate query) + `rank()` + `totals()`;
- `progress()` for one township, per community;
- the city's monthly report (progress plus the month's installs, money, findings, stops, orders);
- raising lifecycle work orders over every installed item, once (first run) and again (nothing new).

    python -m bench.campaign_progress                      # SQLite file in a temp dir
    python -m bench.campaign_progress --db postgresql://postgres@127.0.0.1:5432/test --schema bench_campaign
    python -m bench.campaign_progress --sites 20000 --runs 3

Results go to stdout as JSON (and a Markdown table with --markdown); docs/campaign.md records the
figures with the machine and the command."""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

TOWNSHIPS = 16
COMMUNITIES = 12


def _mix(rng: random.Random) -> tuple[str, str]:
    r = rng.random()
    if r < 0.70:
        return "residential", "pipeline"
    if r < 0.85:
        return "residential", "lpg"
    return "non_residential", "pipeline" if rng.random() < 0.7 else "lpg"


def build(db: Any, sites: int, seed: int = 1) -> dict[str, int]:
    """Fill `db` with a synthetic city; returns row counts."""
    from fleet.campaign.models import Inspection, Install
    from fleet.store.models import Asset, ProductModel, Site

    rng = random.Random(seed)
    t0 = datetime(2022, 4, 1, tzinfo=timezone.utc)
    counts = {"sites": 0, "assets": 0, "installs": 0, "inspections": 0}
    with db.engine.begin() as conn:
        conn.execute(insert(ProductModel), [
            {"code": "AS", "kind": "alarm_shutoff", "maker": "M", "model": "AS", "approved": True, "created_at": t0,
             "calibration_interval_days": 365, "service_life_days": None},
            {"code": "SCV", "kind": "self_closing_valve", "maker": "V", "model": "Z", "approved": False, "created_at": t0,
             "calibration_interval_days": None, "service_life_days": 3650},
            {"code": "HOSE", "kind": "hose", "maker": "H", "model": "H", "approved": False, "created_at": t0,
             "calibration_interval_days": None, "service_life_days": 2920},
        ])
        model_ids = dict(conn.execute(text("select kind, id from product_models")).all())
        batch = 20000
        for start in range(0, sites, batch):
            n = min(batch, sites - start)
            rows = []
            for i in range(start, start + n):
                cat, sup = _mix(rng)
                tw = i % TOWNSHIPS
                rows.append({"id": i + 1, "account_no": f"AC{i + 1:07d}", "name": f"用户{i + 1}", "category": cat,
                             "supply": sup, "township": f"乡镇{tw:02d}", "community": f"社区{tw:02d}-{rng.randrange(COMMUNITIES):02d}",
                             "address": f"地址{i + 1}", "created_at": t0, "updated_at": t0})
            conn.execute(insert(Site), rows)
            assets, installs, inspections = [], [], []
            for r in rows:
                tw = int(r["township"][2:])
                progress = 0.55 + 0.4 * tw / TOWNSHIPS  # townships differ, so the ranking has work to do
                if rng.random() > progress:
                    continue
                day = date(2022, 5, 1) + timedelta(days=rng.randrange(540))
                kinds = (["alarm_shutoff", "hose"] if r["category"] == "non_residential"
                         else (["self_closing_valve", "hose"] if r["supply"] == "pipeline" else ["hose"]))
                if rng.random() < 0.08:
                    kinds = kinds[:1]  # partial installs: not yet compliant
                for k in kinds:
                    assets.append({"kind": k, "product_model_id": model_ids[k], "site_id": r["id"], "installed_on": day,
                                   "status": "in_service", "serial": f"S{r['id']}{k[:2]}", "created_at": t0})
                installs.append({"site_id": r["id"], "installed_on": day, "installer": "队", "total_fen": 24000,
                                 "city_fen": 8000, "gas_company_fen": 8000, "user_fen": 8000, "created_at": t0})
                if rng.random() < 0.5:
                    inspections.append({"kind": "self_check", "site_id": r["id"], "inspected_on": day + timedelta(days=30),
                                        "inspector": "镇", "result": "pass", "sample": None, "created_at": t0})
                if rng.random() < 0.05:
                    inspections.append({"kind": "spot_check", "site_id": r["id"], "inspected_on": day + timedelta(days=60),
                                        "inspector": "市", "result": "pass" if rng.random() < 0.9 else "fail",
                                        "sample": "bench", "created_at": t0})
            if assets:
                conn.execute(insert(Asset), assets)
            if installs:
                conn.execute(insert(Install), installs)
            if inspections:
                conn.execute(insert(Inspection), inspections)
            counts["sites"] += n
            counts["assets"] += len(assets)
            counts["installs"] += len(installs)
            counts["inspections"] += len(inspections)
        if db.dialect == "postgresql":
            conn.execute(text("select setval(pg_get_serial_sequence('sites', 'id'), (select max(id) from sites))"))
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return counts


def timed(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"best_s": round(min(times), 3), "median_s": round(statistics.median(times), 3), "runs": runs}


def run(db: Any, runs: int) -> dict[str, Any]:
    from fleet.campaign import report, service

    as_of = date(2023, 11, 30)
    out: dict[str, Any] = {}
    with db.session() as s:
        def city() -> None:
            areas = service.rank(service.progress(s, as_of=as_of))
            service.totals(areas, name="total", as_of=as_of)

        out["progress_and_ranking_city"] = timed(city, runs)
        out["progress_one_township"] = timed(lambda: service.progress(s, as_of=as_of, township="乡镇07"), runs)
        out["monthly_report_city"] = timed(lambda: report.monthly_report(s, month="2023-11"), runs)
        from fleet.lifecycle.service import raise_work_orders

        def raise_once(key: str) -> None:
            t = time.perf_counter()
            made = raise_work_orders(s, on=date(2024, 6, 1))
            s.commit()
            out[key] = {"s": round(time.perf_counter() - t, 3), "raised": len(made)}

        raise_once("raise_work_orders_first")  # every detector's calibration, some valves and hoses
        raise_once("raise_work_orders_again")  # idempotent: nothing new
        areas = service.rank(service.progress(s, as_of=as_of))
        out["check"] = {"townships": len(areas), "sites": sum(a.sites for a in areas),
                        "compliant": sum(a.compliant for a in areas),
                        "top": [(a.area, a.rank, a.completion_pct) for a in areas[:3]]}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--db", help="database URL (default: a new SQLite file in a temp dir)")
    ap.add_argument("--schema", default="bench_campaign", help="PostgreSQL: schema to create (dropped after)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)

    from fleet.store.db import Database, normalise_url
    from fleet.store.migrate import upgrade

    tmp = None
    url = args.db
    admin = None
    if url is None:
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    elif normalise_url(url).startswith("postgresql"):
        import sqlalchemy as sa

        admin = sa.create_engine(normalise_url(url))
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{args.schema}" CASCADE')
            conn.exec_driver_sql(f'CREATE SCHEMA "{args.schema}"')
        url = normalise_url(url) + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{args.schema}"
    try:
        upgrade(url)
        db = Database(url)
        t = time.perf_counter()
        counts = build(db, args.sites)
        build_s = round(time.perf_counter() - t, 1)
        result = {"backend": db.dialect, "counts": counts, "build_s": build_s, **run(db, args.runs),
                  "machine": {"python": platform.python_version(), "platform": platform.platform(),
                              "processor": platform.processor() or platform.machine()}}
        db.dispose()
    finally:
        if admin is not None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{args.schema}" CASCADE')
            admin.dispose()
        if tmp is not None:
            tmp.cleanup()
    print(json.dumps(result, ensure_ascii=False, indent=2))  # noqa: T201 - a command-line report
    if args.markdown:
        print(f"\n| {result['backend']} ({counts['sites']:,} sites) | best | median |\n|---|---|---|")  # noqa: T201
        for k in ("progress_and_ranking_city", "progress_one_township", "monthly_report_city"):
            print(f"| {k} | {result[k]['best_s']} s | {result[k]['median_s']} s |")  # noqa: T201
        for k in ("raise_work_orders_first", "raise_work_orders_again"):
            print(f"| {k} ({result[k]['raised']:,} raised) | {result[k]['s']} s | (one run) |")  # noqa: T201


if __name__ == "__main__":
    main()
