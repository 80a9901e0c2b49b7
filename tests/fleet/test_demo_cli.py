"""`gasguard demo` end to end: the real command in a child process, with two virtual boards
running the firmware from the factory image and the fleet on SQLite. Checked against what the
fleet stored (the database the demo keeps with --keep), not only against what it printed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(240)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demo__leak_alarm_and_valve_reach_the_fleet_and_dashboard(tmp_path: Path) -> None:
    keep, summary_file, registry = tmp_path / "keep", tmp_path / "summary.json", tmp_path / "registry"
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb", GASGUARD_SIM_DIR=str(registry))
    proc = subprocess.run(
        [sys.executable, "-m", "fleet.cli", "demo", "--duration", "0", "--boards", "2", "--keep", str(keep),
         "--summary", str(summary_file)],
        capture_output=True, text=True, timeout=200, cwd=REPO, env=env)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    s = json.loads(summary_file.read_text(encoding="utf-8"))
    assert s["ok"] is True and s["error"] is None

    # the leak: alarm within GB 15322's 30 s at 1.6 x the set point, valve closed, both at the fleet
    leak = s["leak"]
    assert leak["lel"] == 40.0 and leak["set_point_lel"] == 25.0 and leak["limit_s"] == 30.0
    times = leak["times_s"]
    assert all(times[k] is not None for k in ("alarm", "buzzer", "valve_closed", "fleet_alarm", "fleet_valve_closed"))
    assert 0 < times["alarm"] <= 30 and times["fleet_alarm"] <= 30
    assert leak["within_limit"] is True
    assert "from the leak to" in out and f"{times['alarm']:.1f}" in out and f"{times['fleet_alarm']:.1f}" in out

    # what the fleet stored, as the summary says
    boards = s["boards"]
    assert [b["site"] for b in boards] == ["CG-0001", "CG-0002"]
    assert all(b["oscore"] for b in boards)  # each provisioned with its own OSCORE key
    eng = sa.create_engine(f"sqlite:///{keep / 'fleet.db'}")
    try:
        with eng.connect() as c:
            for b in boards:
                row = c.execute(sa.text(
                    "select d.registered_at, s.account_no, d.asset_id, d.model_code from devices d "
                    "join sites s on s.id = d.site_id where d.device_id = :d"), {"d": b["device_id"]}).one()
                assert row[0] is not None and row[1] == b["site"] and row[2] is not None and row[3] == "GG-SIM-M4"
                key = c.execute(sa.text("select version from device_credentials where device_id = :d"),
                                {"d": b["device_id"]}).one()
                assert key[0] == 1
            stored = s["store"]
            alarm = c.execute(sa.text("select id, device_id, state, opened_seq, peak_lel from alarms")).all()
            assert [tuple(a) for a in alarm] == [(stored["alarm"]["id"], leak["device_id"], "open",
                                                  stored["alarm"]["opened_seq"], stored["alarm"]["peak_lel"])]
            assert stored["alarm"]["peak_lel"] >= 25
            kinds = dict(c.execute(sa.text("select seq, kind from events where device_id = :d and seq is not null"),
                                   {"d": leak["device_id"]}).all())
            for e in stored["events"]:
                assert kinds[e["seq"]] == e["kind"]
            assert {"alarm", "valve_closed"} <= {e["kind"] for e in stored["events"]}
            assert kinds[stored["alarm"]["opened_seq"]] == "alarm"
            admin = c.execute(sa.text("select role from users where username = 'admin'")).one()
            assert admin[0] == "city_admin"
            sites = c.execute(sa.text("select count(*) from sites where township = '城关镇'")).scalar()
            assert sites == 4  # two businesses with a board each, two households
    finally:
        eng.dispose()

    # the dashboard answered while it ran, behind sign-in; the API with the token, not without
    assert s["dashboard"]["status"] == 200 and s["dashboard"]["signed_in"] and s["dashboard"]["shows_alarm"]
    assert s["api"]["status"] == 200 and s["api"]["without_credentials"] == 401
    assert [a["id"] for a in s["api"]["alarms"]] == [stored["alarm"]["id"]]

    # the password and the API token are printed once, and written nowhere
    pw = [p for p in re.findall(r"password (\S+)", out) if len(p) >= 10]
    token = re.findall(r"Bearer (ggt_[A-Za-z0-9_-]+)", out)
    assert len(pw) == 1 and len(token) == 1, out
    for secret in (pw[0], token[0]):
        assert out.count(secret) == 1
        assert secret not in summary_file.read_text(encoding="utf-8")
        assert secret not in (keep / "fleet.log").read_text(encoding="utf-8")

    # a clean shutdown: every MicroPython process gone, no board left announced
    assert s["shutdown"] == {"boards_stopped": 2, "stray_pids": [], "clean": True}
    assert not any(_alive(p) for p in s.get("micropython_pids", []))
    assert not list(registry.glob("*.json"))
