"""fleet/campaign/snapshot.py, changes.py and fleet/tasks/progress_snapshot.py on SQLite and
PostgreSQL: the stored township progress equals the live `progress()` on the same data; a
campaign write (ORM flush or ORM-enabled UPDATE) marks it stale and a refresh takes it in; a
rolled-back write or a write to another table does not; the date change makes it due; one
township's community breakdown from the snapshot equals the live one too; the API and the page
say where the figures came from and when they were computed; a township-pinned user still sees
only their township."""

from __future__ import annotations

import asyncio
from datetime import date
from types import SimpleNamespace
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from campaign_factories import HOSE, VALVE, make_app
from fleet.campaign import changes, service, snapshot
from fleet.campaign.models import ProgressArea
from fleet.core.clock import now
from fleet.store.models import AuditLog, Site
from fleet.tasks import progress_snapshot

DAY = date(2023, 11, 30)  # the `town` fixture's clock


def _checks(db, town) -> None:  # noqa: ANN001
    """Self-checks, a spot-check with a finding: every counter of AreaProgress non-zero somewhere."""
    with db.session() as s:
        for acct, kind, result, findings in (("A-R1", "self_check", "pass", []), ("A-N1", "self_check", "pass", []),
                                             ("B-R1", "self_check", "fail", ["软管老化"]),
                                             ("B-N1", "spot_check", "pass", []), ("A-R3", "spot_check", "fail", ["未联动"])):
            service.record_inspection(s, kind=kind, site_id=town[acct], inspected_on=DAY, inspector="镇",
                                      result=result, findings=findings, sample="s1" if kind == "spot_check" else None)
        s.commit()


def _live(db, township: str | None = None) -> list[service.AreaProgress]:  # noqa: ANN001
    with db.session() as s:
        return service.progress(s, as_of=now().date(), township=township)


def _stored(db, township: str | None = None) -> list[service.AreaProgress]:  # noqa: ANN001
    with db.session() as s:
        loaded = snapshot.load(s, day=now().date(), township=township)
        assert loaded is not None
        return loaded.areas


def _same(db) -> bool:  # noqa: ANN001
    """The city and each township (and one that does not exist) equal live, field by field."""
    return all(_stored(db, tw) == _live(db, tw) for tw in (None, "城关镇", "广武镇", "无此镇"))


def _due(db) -> str | None:  # noqa: ANN001
    with db.session() as s:
        return snapshot.due(s)


def test_snapshot__equals_live_and_follows_writes(db, town, set_day) -> None:  # noqa: ANN001
    _checks(db, town)
    assert _due(db) == "no snapshot yet"
    with db.session() as s:
        assert snapshot.view(s).source == "live"
    c = snapshot.refresh(db)
    assert (c.as_of, len(c.rows)) == (DAY, 3) and _due(db) is None  # 城关镇 东街/西街, 广武镇 南村
    live = _live(db)
    assert _stored(db) == live and _same(db)  # every counter, ledger_since and every stage
    assert [p.area for p in _stored(db, "城关镇")] == ["东街", "西街"]
    assert {p.area: (p.compliant, p.self_checked, p.spot_passed, p.open_findings) for p in live} == {
        "城关镇": (4, 2, 0, 1), "广武镇": (2, 1, 1, 1)}
    with db.session() as s:
        v, fresh = snapshot.view(s), snapshot.view(s, fresh=True)
    assert (v.source, v.stale, v.computed_at) == ("snapshot", False, c.computed_at)
    assert (v.areas, v.total) == (fresh.areas, fresh.total) and fresh.source == "live"

    # An install (ORM flush of installs, install_items, assets) marks it stale; a refresh takes it in.
    with db.session() as s:
        service.record_install(s, site_id=town["A-R4"], installed_on=DAY, installer="安装队", items=[VALVE, HOSE])
        s.commit()
    assert _due(db) == "1 change(s) since"
    with db.session() as s:
        v = snapshot.view(s)
    assert (v.source, v.stale) == ("snapshot", True) and _stored(db) != _live(db)
    snapshot.refresh(db)
    assert _due(db) is None and _same(db)
    assert {p.area: p.compliant for p in _stored(db)} == {"城关镇": 5, "广武镇": 2}

    # Rolled back, or another table only: nothing to count.
    with db.session() as s:
        service.record_install(s, site_id=town["B-R2"], installed_on=DAY, installer="安装队", items=[VALVE])
        s.rollback()
        s.add(AuditLog(at=now(), actor="t", action="note", entity="x", entity_id="1"))
        s.commit()
    assert _due(db) is None

    # An ORM-enabled UPDATE statement counts too (a site moved to another community).
    with db.session() as s:
        s.execute(update(Site).where(Site.id == town["B-R2"]).values(township="城关镇"))
        s.commit()
    assert _due(db) == "1 change(s) since"
    snapshot.refresh(db)
    assert _same(db) and {p.area: p.sites for p in _stored(db)} == {"城关镇": 8, "广武镇": 2}
    assert {p.area: p.sites for p in _stored(db, "城关镇")} == {"东街": 3, "西街": 4, "南村": 1}

    # The next day: due, and served live until the refresh.
    set_day(date(2023, 12, 1))
    assert _due(db) == "snapshot is for 2023-11-30, today is 2023-12-01"
    with db.session() as s:
        assert snapshot.view(s).source == "live"
    snapshot.refresh(db)
    assert _same(db)
    with db.session() as s:
        assert snapshot.view(s, as_of=DAY).source == "live"  # another date: always live
        assert [(r.township, r.community) for r in s.scalars(select(ProgressArea).order_by(ProgressArea.position))] == [
            ("城关镇", "东街"), ("城关镇", "南村"), ("城关镇", "西街"), ("广武镇", "南村")]


def test_snapshot__bulk_writer_bumps_by_hand(db, town) -> None:  # noqa: ANN001
    snapshot.refresh(db)
    with db.engine.begin() as conn:  # a DBAPI/Core path, outside any ORM session
        conn.exec_driver_sql("UPDATE sites SET community = 'x' WHERE id = %d" % town["A-R1"])
        assert _due(db) is None  # not counted by itself (documented: such a path must bump)
        changes.bump(conn)
    assert _due(db) == "1 change(s) since"


def test_api_and_page__say_where_figures_came_from(db, town) -> None:  # noqa: ANN001
    with TestClient(make_app(db)) as client:
        r = client.get("/api/v1/campaign/progress").json()
        assert (r["source"], r["stale"], r["as_of"]) == ("live", False, "2023-11-30") and r["computed_at"]
        c = snapshot.refresh(db)
        snap = client.get("/api/v1/campaign/progress").json()
        assert (snap["source"], snap["stale"]) == ("snapshot", False)
        assert snap["computed_at"].replace("Z", "+00:00") == c.computed_at.isoformat()
        fresh = client.get("/api/v1/campaign/progress", params={"fresh": "true"}).json()
        assert fresh["source"] == "live" and (fresh["data"], fresh["total"]) == (snap["data"], snap["total"])
        assert client.get("/api/v1/campaign/progress", params={"as_of": "2023-11-29"}).json()["source"] == "live"
        page = client.get("/campaign", params={"lang": "en"}).text
        assert 'id="computed-at" data-source="snapshot"' in page and "Figures computed at 2023-11-30 09:00:00 UTC" in page
        assert 'href="/campaign?fresh=1"' in page
        assert 'data-source="live"' in client.get("/campaign", params={"fresh": "1"}).text
    with TestClient(make_app(db, pin="城关镇")) as pinned:  # township staff: their township, per community
        r = pinned.get("/api/v1/campaign/progress").json()
        assert (r["township"], r["source"], [a["area"] for a in r["data"]]) == ("城关镇", "snapshot", ["东街", "西街"])
        assert r["total"]["sites"] == 7
        live = pinned.get("/api/v1/campaign/progress", params={"fresh": "true"}).json()
        assert live["source"] == "live" and (live["data"], live["total"]) == (r["data"], r["total"])
        assert pinned.get("/api/v1/campaign/progress", params={"township": "广武镇"}).status_code == 403
        page = pinned.get("/campaign").text
        assert 'data-source="snapshot"' in page and "广武镇" not in page


class _Writer:
    async def run(self, fn: Any, *args: Any) -> Any:
        return fn(*args)


def test_task__refreshes_only_when_due(db, town) -> None:  # noqa: ANN001
    fleet: Any = SimpleNamespace(db=db, writer=_Writer())
    first = asyncio.run(progress_snapshot.refresh_once(fleet))
    assert first is not None and _same(db)
    assert asyncio.run(progress_snapshot.refresh_once(fleet)) is None
    with db.session() as s:
        service.record_install(s, site_id=town["A-R4"], installed_on=DAY, installer="安装队", items=[VALVE])
        s.commit()
    again = asyncio.run(progress_snapshot.refresh_once(fleet))
    assert again is not None and again.changes == first.changes + 1 and _same(db)
    assert asyncio.run(progress_snapshot.refresh_once(fleet, force=True)) is not None


def test_townships__one_seek_each_same_as_distinct(db, town) -> None:  # noqa: ANN001
    with db.session() as s:
        s.add_all([Site(account_no="X-1", name="无乡镇", category="residential", supply="lpg", township=None),
                   Site(account_no="X-2", name="一", category="residential", supply="lpg", township="一镇")])
        s.commit()
        plain = list(s.scalars(select(Site.township).where(Site.township.is_not(None)).distinct().order_by(Site.township)))
        assert service.townships(s) == plain and len(plain) == 3
