"""fleet/campaign/service.py on SQLite and PostgreSQL: installs and their cost split, acceptance
checks, findings, progress per township against the plan, the ranking table, supply stops."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from campaign_factories import HOSE, VALVE
from fleet.campaign import service
from fleet.campaign.models import Finding, Install
from fleet.campaign.service import ItemSpec
from fleet.core.errors import BadInput, Conflict, NotFound
from fleet.store.models import Asset

AS_OF = date(2023, 11, 30)


def test_install__cost_split_recorded(db, town) -> None:  # noqa: ANN001
    with db.session() as s:
        rows = {i.site_id: i for i in s.scalars(select(Install))}
        split = {acct: (rows[sid].total_fen, rows[sid].city_fen, rows[sid].gas_company_fen, rows[sid].user_fen)
                 for acct, sid in town.items() if sid in rows}
    assert split == {
        "A-R1": (24000, 8000, 8000, 8000),  # 240 yuan: 80 / 80 / 80
        "A-R2": (18000, 6000, 6000, 6000),  # valve only, in proportion
        "A-R3": (24000, 8000, 8000, 8000),  # the encouraged alarm has no tender price here
        "A-L1": (6000, 2000, 2000, 2000),
        "A-N1": (150000, 0, 0, 150000),  # non-residential pays its own
        "A-N2": (50000, 0, 0, 50000),
        "B-R1": (24000, 8000, 8000, 8000),
        "B-N1": (200000, 0, 0, 200000),
    }


def test_install__replaces_same_kind_and_refuses_bad_items(db, town, set_day) -> None:  # noqa: ANN001
    set_day(date(2023, 12, 5))
    with db.session() as s:
        old = s.scalars(select(Asset).where(Asset.site_id == town["A-R1"], Asset.kind == "hose")).one()
        inst = service.record_install(s, site_id=town["A-R1"], installed_on=date(2023, 12, 5), installer="李师傅",
                                      items=[HOSE])
        s.commit()
        s.refresh(old)
        assert old.status == "replaced" and old.replaced_by_id is not None
        assert (inst.total_fen, inst.city_fen, inst.gas_company_fen, inst.user_fen) == (6000, 0, 0, 6000)  # a replacement
        cases = [
            (dict(site_id=town["A-N2"], items=[ItemSpec("shutoff", "SHUT-OK")]),
             BadInput, "items[1].serial: a shutoff is a device and needs its serial number"),
            (dict(site_id=town["A-N2"], items=[ItemSpec("alarm", "ALM-NO", "X1")]),
             BadInput, "items[1].model 'ALM-NO': a non-residential user's alarm must be an approved catalogue model"),
            (dict(site_id=town["A-N2"], items=[ItemSpec("shutoff", "HOSE", "X1")]),
             BadInput, "items[1].model 'HOSE' is a hose, not a shutoff"),
            (dict(site_id=town["A-N2"], items=[ItemSpec("shutoff", "SHUT-OK", "AL-0002")]), None, None),
            (dict(site_id=town["B-N1"], items=[ItemSpec("alarm", "ALM-OK", "AL-0002")]),
             Conflict, "items[1].serial 'AL-0002': already in service as asset"),
            (dict(site_id=town["A-R4"], items=[]), BadInput, "items: an install needs at least one item"),
            (dict(site_id=town["A-R4"], items=[VALVE], total_fen=100), BadInput, "total_fen: only a non-residential"),
            (dict(site_id=999, items=[VALVE]), NotFound, "site 999 not found"),
            (dict(site_id=town["A-R4"], items=[ItemSpec("valve")]), BadInput, "items[1].kind 'valve'"),
        ]
        for kwargs, err, msg in cases:
            args = dict(installed_on=date(2023, 12, 5), installer="李师傅") | kwargs
            if err is None:
                service.record_install(s, **args)  # a shutoff may share a serial with an alarm
                continue
            with pytest.raises(err, match=__import__("re").escape(msg)):
                service.record_install(s, **args)
        with pytest.raises(BadInput, match="is in the future"):
            service.record_install(s, site_id=town["A-R4"], installed_on=date(2023, 12, 6), installer="x", items=[VALVE])


def test_progress__per_township_and_stages(db, town) -> None:  # noqa: ANN001
    with db.session() as s:
        service.record_inspection(s, kind="self_check", site_id=town["A-N1"], inspected_on=AS_OF,
                                  inspector="城关镇安委办", result="pass")
        service.record_inspection(s, kind="self_check", site_id=town["A-N2"], inspected_on=AS_OF,
                                  inspector="城关镇安委办", result="fail", findings=["未安装切断阀", "软管为橡胶管"])
        s.commit()
        areas = {p.area: p for p in service.progress(s, as_of=AS_OF)}
    a, b = areas["城关镇"], areas["广武镇"]
    assert (a.sites, a.residential, a.non_residential, a.residential_ok, a.non_residential_ok) == (7, 5, 2, 3, 1)
    assert (a.non_residential_accepted, a.installed_sites, a.self_checked, a.self_passed, a.open_findings) == (1, 6, 2, 1, 2)
    assert (a.compliant, a.completion_pct) == (4, 57.1)
    assert (b.sites, b.residential_ok, b.non_residential_ok, b.completion_pct) == (3, 1, 1, 66.7)
    stages = {st.stage.key: (st.done, st.target, st.status) for st in a.stages}
    assert stages == {
        "ledger": (1, 1, "done"),
        "pilot": (1, 1, "done"),
        "non_residential": (1, 2, "overdue"),  # deadline 2022-06-30
        "residential": (3, 5, "overdue"),  # deadline 2023-10-31
        "self_check": (2, 6, "in_progress"),  # deadline 2023-11-30 is today
        "spot_check": (0, 5, "not_started"),
    }
    # As of an earlier day the November installs did not exist yet.
    with db.session() as s:
        early = {p.area: p for p in service.progress(s, as_of=date(2023, 10, 31))}
    assert (early["城关镇"].compliant, early["广武镇"].compliant) == (0, 1)
    assert {st.stage.key: st.status for st in early["城关镇"].stages}["pilot"] == "overdue"


def test_progress__per_community_inside_a_township(db, town) -> None:  # noqa: ANN001
    with db.session() as s:
        rows = {p.area: (p.sites, p.compliant) for p in service.progress(s, as_of=AS_OF, township="城关镇")}
    assert rows == {"东街": (3, 2), "西街": (4, 2)}


def test_ranking__order_ties_and_total(db, town, set_day) -> None:  # noqa: ANN001
    with db.session() as s:
        ranked = service.rank(service.progress(s, as_of=AS_OF))
        assert [(p.area, p.rank) for p in ranked] == [("广武镇", 1), ("城关镇", 2)]
        # B-R2 gets its valve and hose: 广武镇 100 %
        service.record_install(s, site_id=town["B-R2"], installed_on=AS_OF, installer="x", items=[VALVE, HOSE])
        s.commit()
        total = service.totals(service.progress(s, as_of=AS_OF), name="全市", as_of=AS_OF)
        ranked = service.rank(service.progress(s, as_of=AS_OF))
    assert [(p.area, p.rank, p.completion_pct) for p in ranked] == [("广武镇", 1, 100.0), ("城关镇", 2, 57.1)]
    assert (total.sites, total.compliant, total.completion_pct) == (10, 7, 70.0)
    assert {st.stage.key: (st.done, st.target) for st in total.stages}["ledger"] == (2, 2)
    from fleet.campaign.service import AreaProgress

    tie = service.rank([AreaProgress("乙", sites=2, residential_ok=1), AreaProgress("甲", sites=4, residential_ok=2),
                        AreaProgress("丙", sites=1, residential_ok=1)])
    assert [(p.area, p.rank) for p in tie] == [("丙", 1), ("乙", 2), ("甲", 2)]


def test_spot_check__sample_reproducible_and_findings_loop(db, town) -> None:  # noqa: ANN001
    with db.session() as s:
        sample = service.draw_spot_check(s, seed="2023-12", as_of=AS_OF)
        assert sample == service.draw_spot_check(s, seed="2023-12", as_of=AS_OF)
        assert len(sample["城关镇"]) == 5 and set(sample["城关镇"]) <= set(town.values())
        assert sorted(sample["广武镇"]) == sorted([town["B-R1"], town["B-N1"]])  # fewer than 5: all
        with pytest.raises(BadInput, match="sample: a spot-check names the seed"):
            service.record_inspection(s, kind="spot_check", site_id=town["B-R1"], inspected_on=AS_OF,
                                      inspector="市住建局", result="pass")
        with pytest.raises(BadInput, match="a failed check must say what is to be rectified"):
            service.record_inspection(s, kind="spot_check", site_id=town["B-R1"], inspected_on=AS_OF,
                                      inspector="市住建局", result="fail", sample="2023-12")
        insp = service.record_inspection(s, kind="spot_check", site_id=town["B-N1"], inspected_on=AS_OF,
                                         inspector="市住建局", result="fail", sample="2023-12",
                                         findings=["切断阀未与报警器联动"])
        s.commit()
        f = s.scalars(select(Finding).where(Finding.inspection_id == insp.id)).one()
        assert (f.state, f.rectify_by) == ("open", date(2023, 12, 30))
        with pytest.raises(Conflict, match=f"finding {f.id} is open; only a rectified finding can be closed"):
            service.close_finding(s, finding_id=f.id, on=AS_OF, by="市住建局")
        assert {p.area: p.open_findings for p in service.progress(s, as_of=AS_OF)}["广武镇"] == 1
        service.rectify_finding(s, finding_id=f.id, on=AS_OF, by="厂1")
        service.close_finding(s, finding_id=f.id, on=AS_OF, by="市住建局")
        s.commit()
        b = {p.area: p for p in service.progress(s, as_of=AS_OF)}["广武镇"]
    assert (b.open_findings, b.spot_checked, b.spot_passed, b.spot_pass_pct) == (0, 1, 0, 0.0)


def test_supply_stop__restore_clock(db, town) -> None:  # noqa: ANN001
    t0 = datetime(2023, 12, 1, 10, 0, tzinfo=timezone.utc)
    with db.session() as s:
        with pytest.raises(BadInput, match="is residential; supply stops apply to non-residential users"):
            service.stop_supply(s, site_id=town["A-R2"], reason="x", by="燃气公司", at=t0)
        stop = service.stop_supply(s, site_id=town["A-N2"], reason="未安装切断阀", by="燃气公司", at=t0)
        with pytest.raises(Conflict, match="supply already stopped"):
            service.stop_supply(s, site_id=town["A-N2"], reason="again", by="燃气公司", at=t0)
        with pytest.raises(Conflict, match="record the hazard as removed before restoring supply"):
            service.restore_supply(s, stop_id=stop.id, by="燃气公司", at=t0)
        assert service.restore_state(stop, t0 + timedelta(days=3)) == ("stopped", None)
        removed = t0 + timedelta(days=2)
        service.hazard_removed(s, stop_id=stop.id, by="城关镇", at=removed)
        s.commit()
        assert stop.restore_due_at == removed + timedelta(hours=24)
        assert service.restore_state(stop, removed + timedelta(hours=23)) == ("restore_due", timedelta(hours=1))
        assert service.restore_state(stop, removed + timedelta(hours=25)) == ("restore_overdue", timedelta(hours=1))
        nc = {n.site.account_no: n for n in service.non_compliant(s, as_of=AS_OF)}
        assert sorted(nc) == ["A-N2"]
        assert (nc["A-N2"].missing, nc["A-N2"].restore) == (("shutoff", "hose"), "restore_due")
        service.restore_supply(s, stop_id=stop.id, by="燃气公司", at=removed + timedelta(hours=30))
        s.commit()
        assert service.restore_state(stop) == ("restored_late", None)


def test_progress__sql_agrees_with_python_rules(sqlite_db, set_day) -> None:  # noqa: ANN001
    """The progress query's compliance (the rule table as SQL) matches `rules.site_needs` on a
    random city with every kind, status and install date mixed in."""
    import random

    from fleet.campaign.rules import SATISFIES, site_needs
    from fleet.store.models import Site

    set_day(AS_OF)
    rng = random.Random(7)
    expected: dict[str, int] = {}
    with sqlite_db.session() as s:
        for i in range(300):
            cat = rng.choice(["residential", "non_residential"])
            sup = rng.choice(["pipeline", "lpg"])
            tw = rng.choice(["甲镇", "乙镇", "丙镇"])
            site = Site(account_no=f"R{i}", name="x", category=cat, supply=sup, township=tw)
            s.add(site)
            s.flush()
            live = []
            for _ in range(rng.randrange(4)):
                kind = rng.choice(list(SATISFIES))
                status = rng.choice(["in_service", "in_service", "replaced", "removed"])
                on = rng.choice([date(2023, 1, 1), date(2023, 11, 30), date(2023, 12, 1)])
                s.add(Asset(kind=kind, site_id=site.id, installed_on=on, status=status))
                if status == "in_service" and on <= AS_OF:
                    live.append(kind)
            expected[tw] = expected.get(tw, 0) + site_needs(cat, sup, live).compliant
        s.commit()
        got = {p.area: p.compliant for p in service.progress(s, as_of=AS_OF)}
        one = {p.area: p.compliant for p in service.progress(s, as_of=AS_OF, township="乙镇")}
    assert got == expected
    assert sum(one.values()) == expected["乙镇"]


def test_install__links_a_known_device_to_the_site(db, town, set_day) -> None:  # noqa: ANN001
    from fleet.store.models import Device

    set_day(date(2023, 12, 5))
    with db.session() as s:
        s.add(Device(device_id="gg-a4cf12b3c4d5", uid="a4cf12b3c4d5", last_seq=0))
        s.commit()
        service.record_install(s, site_id=town["A-N2"], installed_on=date(2023, 12, 5), installer="李师傅",
                               items=[ItemSpec("shutoff", "SHUT-OK", "SH-7"),
                                      ItemSpec("alarm_shutoff", "AS-OK", "a4cf12b3c4d5")])
        s.commit()
        dev = s.scalars(select(Device)).one()
        asset = s.get(Asset, dev.asset_id)
        assert (dev.site_id, asset.kind, asset.serial) == (town["A-N2"], "alarm_shutoff", "a4cf12b3c4d5")
