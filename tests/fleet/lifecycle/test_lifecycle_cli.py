"""`gasguard workorders ...` through the real CLI root, on a SQLite file, with the test clock."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

from typer.testing import CliRunner

from fleet.cli import app
from fleet.core import clock as clock_mod
from fleet.store.db import Database
from fleet.store.migrate import upgrade
from fleet.store.models import Asset, ProductModel, Site

runner = CliRunner(env={"COLUMNS": "250"})


def test_workorders_cli__raise_list_assign_done_close_calibrate(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    upgrade(db)
    database = Database(db)
    with database.session() as s:
        m = ProductModel(code="ALM", kind="alarm", maker="M", model="A", calibration_interval_days=365, approved=True)
        site = Site(account_no="NR-1", name="饭店", category="non_residential", supply="pipeline", township="城关镇")
        s.add_all([m, site])
        s.flush()
        s.add(Asset(kind="alarm", product_model_id=m.id, site_id=site.id, serial="A-1",
                    installed_on=date(2023, 5, 10), status="in_service"))
        s.commit()
    database.dispose()
    clock_mod.set_clock(clock_mod.FrozenClock(datetime(2024, 4, 20, 9, tzinfo=timezone.utc)))
    try:
        r = runner.invoke(app, ["workorders", "raise", "--db", db])
        assert r.exit_code == 0, r.output
        assert "1 work order(s) raised: calibration_due 1" in r.output
        r = runner.invoke(app, ["workorders", "list", "--json", "--db", db])
        rows = [json.loads(line) for line in r.output.splitlines()]
        assert [(w["kind"], w["due_on"], w["state"]) for w in rows] == [("calibration_due", "2024-05-09", "open")]
        wo = str(rows[0]["id"])
        r = runner.invoke(app, ["workorders", "close", wo, "--by", "王", "--db", db])
        assert r.exit_code == 2 and f"work order {wo} is open; it can be closed only when done" in r.output
        assert "assigned" in runner.invoke(app, ["workorders", "assign", wo, "--to", "李工", "--db", db]).output
        r = runner.invoke(app, ["workorders", "calibrate", "1", "--by", "计量所", "--result", "pass",
                                "--cert", "JD-1", "--db", db])
        assert r.exit_code == 0 and "calibration 1 recorded for asset 1: pass" in r.output
        r = runner.invoke(app, ["workorders", "list", "--state", "done", "--db", db])
        assert "calibration_due" in r.output and "2024-05-09" in r.output
        assert "closed" in runner.invoke(app, ["workorders", "close", wo, "--by", "王", "--db", db]).output
        r = runner.invoke(app, ["workorders", "list", "--kind", "calibration", "--db", db])
        assert r.exit_code == 2 and "kind 'calibration': expected one of calibration_due" in r.output
        plan = tmp_path / "plan.toml"
        plan.write_text("[lifecycle.lead_days]\ncalibration_due = 60\n", encoding="utf-8")
        r = runner.invoke(app, ["workorders", "raise", "--on", "2025-02-23", "--db", db])
        assert "0 work order(s) raised" in r.output
        r = runner.invoke(app, ["workorders", "raise", "--on", "2025-02-24", "--plan", str(plan), "--db", db])
        assert "1 work order(s) raised" in r.output  # 365 days after the calibration, minus 60 days' lead
        plan.write_text("[lifecycle]\nmax_calibration_interval_days = 400\n", encoding="utf-8")
        r = runner.invoke(app, ["workorders", "raise", "--plan", str(plan), "--db", db])
        assert r.exit_code == 2 and "max_calibration_interval_days = 400: JJG 693 allows 1..365 days" in r.output
    finally:
        clock_mod.set_clock(None)
