"""fleet/campaign/ledger.py: template, import with good and bad rows (all or nothing, every
rejected row reported), re-import changes nothing, export with must-have / has / missing."""

from __future__ import annotations

from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from campaign_factories import HEADERS, ledger_bytes
from fleet.campaign import ledger
from fleet.campaign.ledger import LedgerError, RowError
from fleet.store.models import AuditLog, Site

GOOD = [
    ("HH-001", "张三", "居民", "管道气", "城关镇", "东街社区", "东街1号", "张三", "13800000001", None),
    ("HH-002", "李四", "居民", "瓶装液化气", "城关镇", "东街社区", "东街2号", None, None, "独居老人"),
    ("NR-001", "老王饭店", "非居民", "管道气", "城关镇", "西街社区", "西街8号", "王五", "0371-64000000", None),
]
BAD = [
    ("HH-003", "赵六", "商户", "管道气", "城关镇", "东街社区", "东街3号", None, None, None),  # row 5
    ("HH-004", "钱七", "居民", "煤气", "城关镇", "东街社区", None, None, "abc", None),  # row 6
    ("HH-001", "张三", "居民", "管道气", "城关镇", "东街社区", "东街1号", None, None, None),  # row 7
    (None, None, None, None, None, None, None, None, None, None),  # row 8: blank, skipped
    ("GW-001", "孙八", "居民", "管道气", "广武镇", "南村", "南村1号", None, None, None),  # row 9
]
EXPECTED_REJECTED = [
    RowError(5, "用户类别", "商户", "expected 居民 or 非居民"),
    RowError(6, "地址", "", "required, but empty"),
    RowError(6, "气源", "煤气", "expected 管道气 or 瓶装液化气"),
    RowError(6, "联系电话", "abc", "expected 7 to 20 digits (spaces, + and - allowed)"),
    RowError(7, "户号", "HH-001", "duplicate: already on row 2"),
    RowError(9, "乡镇(街道)", "广武镇", "this import is for 城关镇"),
]


def _count(db) -> int:  # noqa: ANN001
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Site)) or 0


def test_import__bad_rows_reported_and_nothing_written(db) -> None:
    with db.session() as s:
        r = ledger.import_ledger(s, ledger_bytes(GOOD + BAD), township="城关镇")
    assert r.rejected == EXPECTED_REJECTED
    assert r.rejected_rows == [5, 6, 7, 9]
    assert (r.rows, r.written, r.created) == (7, False, 0)  # the blank line is not a row
    assert str(r.rejected[0]) == "row 5, 用户类别 = '商户': expected 居民 or 非居民"
    assert _count(db) == 0


def test_import__skip_bad_then_reimport_changes_nothing(db, set_day) -> None:  # noqa: ANN001
    from datetime import date

    data = ledger_bytes(GOOD + BAD)
    set_day(date(2022, 4, 10))
    with db.session() as s:
        r = ledger.import_ledger(s, data, township="城关镇", skip_bad=True)
    assert (r.created, r.updated, r.unchanged, r.written) == (3, 0, 0, True)
    with db.session() as s:
        site = s.scalars(select(Site).where(Site.account_no == "NR-001")).one()
        assert (site.category, site.supply, site.township, site.community, site.phone) == (
            "non_residential", "pipeline", "城关镇", "西街社区", "0371-64000000")
        assert s.scalars(select(Site.extra).where(Site.account_no == "HH-002")).one() == {"note": "独居老人"}
        stamp = site.updated_at
        audits = s.scalar(select(func.count()).select_from(AuditLog))
    set_day(date(2022, 4, 11))
    with db.session() as s:
        r2 = ledger.import_ledger(s, data, township="城关镇", skip_bad=True)
    assert (r2.created, r2.updated, r2.unchanged) == (0, 0, 3)
    with db.session() as s:
        assert s.scalars(select(Site.updated_at).where(Site.account_no == "NR-001")).one() == stamp
        assert s.scalar(select(func.count()).select_from(AuditLog)) == audits  # no empty audit rows
    changed = [GOOD[0], GOOD[1], ("NR-001", "老王饭店（新）", *GOOD[2][2:])]
    with db.session() as s:
        r3 = ledger.import_ledger(s, ledger_bytes(changed))
    assert (r3.created, r3.updated, r3.unchanged) == (0, 1, 2)
    assert _count(db) == 3


def test_import__aliases_numbers_and_unknown_columns(db) -> None:
    headers = ["用户编号", "用户名称", "用户类别", "气源", "乡镇（街道）", "社区", "地址", "手机", "片区"]
    rows = [(10086, "周九", "居民用户", "天然气", "城关镇", "东街", "东街9号", 13912345678, "一片")]
    with db.session() as s:
        r = ledger.import_ledger(s, ledger_bytes(rows, headers))
    assert (r.created, r.rejected, r.ignored_columns) == (1, [], ["片区"])
    with db.session() as s:
        site = s.scalars(select(Site)).one()
        assert (site.account_no, site.category, site.supply, site.phone) == ("10086", "residential", "pipeline",
                                                                             "13912345678")


def test_import__bad_files(tmp_path, db) -> None:  # noqa: ANN001
    with db.session() as s:
        with pytest.raises(LedgerError, match=r"header row: missing column\(s\) 气源, 地址; expected headers: 户号"):
            ledger.import_ledger(s, ledger_bytes([], ["户号", "用户名称", "用户类别", "乡镇(街道)", "社区(村)"]))
        text = tmp_path / "ledger.xlsx"
        text.write_text("户号,用户名称\n", encoding="utf-8")
        with pytest.raises(LedgerError, match="not an Excel .xlsx workbook"):
            ledger.import_ledger(s, str(text))
        with pytest.raises(LedgerError, match="file not found"):
            ledger.import_ledger(s, str(tmp_path / "missing.xlsx"))
        with pytest.raises(LedgerError, match="column '户号/用户编号' repeats '户号'"):
            ledger.import_ledger(s, ledger_bytes([], ["户号", "户号/用户编号", *HEADERS[1:]]))


def test_import__database_failure_rolls_back_everything(db, monkeypatch) -> None:  # noqa: ANN001
    with db.session() as s:
        original = s.commit

        def boom() -> None:
            s.flush()
            raise RuntimeError("disk full")

        monkeypatch.setattr(s, "commit", boom)
        with pytest.raises(RuntimeError, match="disk full"):
            ledger.import_ledger(s, ledger_bytes(GOOD))
        monkeypatch.setattr(s, "commit", original)
    assert _count(db) == 0


def test_template__headers_dropdowns_and_notes(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "template.xlsx"
    ledger.save(ledger.template_workbook(), path)
    wb = load_workbook(path)
    ws = wb["台账"]
    assert [c.value for c in ws[1]] == HEADERS
    assert HEADERS[:9] == ["户号", "用户名称", "用户类别", "气源", "乡镇(街道)", "社区(村)", "地址", "联系人", "联系电话"]
    lists = sorted(dv.formula1 for dv in ws.data_validations.dataValidation)
    assert lists == ['"居民,非居民"', '"管道气,瓶装液化气"']
    assert wb["填写说明"]["A2"].value == "户号"
    # The template itself imports cleanly (nothing in it).
    good, result = ledger.read_rows(path.read_bytes())
    assert (good, result.rows, result.rejected) == ([], 0, [])


def test_export__round_trip_with_needs(db, town) -> None:  # noqa: ANN001
    with db.session() as s:
        wb = ledger.export_workbook(s, township="城关镇")
    buf = BytesIO()
    wb.save(buf)
    ws = load_workbook(BytesIO(buf.getvalue()))["台账"]
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert list(ws.iter_rows(max_row=1, values_only=True))[0][-3:] == ("应装", "已装", "缺项")
    assert len(rows) == 7
    assert rows["A-R2"][-3:] == ("自闭阀、金属软管", "自闭阀", "金属软管")
    assert rows["A-R3"][-3:] == ("自闭阀、金属软管", "报警器、自闭阀、金属软管", None)
    assert rows["A-N2"][-3:] == ("报警器、切断阀、金属软管", "报警器", "切断阀、金属软管")
    assert rows["A-N1"][2:4] == ("非居民", "管道气")
    # The export is itself a valid ledger; importing it back changes nothing.
    with db.session() as s:
        r = ledger.import_ledger(s, buf.getvalue(), township="城关镇")
    assert (r.rejected, r.unchanged, r.created, r.updated) == ([], 7, 0, 0)


def test_import_over_http__township_staff_cannot_take_another_townships_account(db, api_client) -> None:  # noqa: ANN001
    """A 城关镇 staff member's file holds an account that is a 河西镇 site: a row error naming both
    townships (it was HTTP 500: the scoped lookup missed the site, the insert broke the unique
    account number), nothing written; with skip_bad the other rows go in and the site stays."""
    from utils.security_auth import make_token

    with db.session() as s:
        s.add(Site(account_no="HX-001", name="河西饭店", category="non_residential", supply="pipeline",
                   township="河西镇", community="河西村", address="河西村1号"))
        s.commit()
    staff = {"Authorization": "Bearer " + make_token(db, role="township_staff", township="城关镇", username="zhang")}
    rows = [GOOD[0], ("HX-001", "河西饭店", "非居民", "管道气", "城关镇", "东街社区", "东街99号", None, None, None)]
    files = {"file": ("城关镇.xlsx", ledger_bytes(rows), "application/octet-stream")}
    r = api_client.post("/campaign/ledger", files=files, headers=staff)
    assert r.status_code == 422, r.text[:500]
    assert "account HX-001 belongs to township 河西镇; you may import only township 城关镇" in r.text
    assert _count(db) == 1  # only the 河西镇 site: nothing half-imported
    r = api_client.post("/campaign/ledger", files=files, data={"skip_bad": "true"}, headers=staff)
    assert r.status_code == 200, r.text[:500]
    with db.session() as s:
        assert s.scalars(select(Site.account_no).order_by(Site.account_no)).all() == ["HH-001", "HX-001"]
        assert s.scalars(select(Site.township).where(Site.account_no == "HX-001")).one() == "河西镇"


def test_import__with_a_township_an_account_of_another_township_is_a_row_error(db) -> None:  # noqa: ANN001
    """The same rule without the HTTP scope (the CLI's --township): the site is not moved."""
    with db.session() as s:
        s.add(Site(account_no="HX-001", name="河西饭店", category="non_residential", supply="pipeline",
                   township="河西镇", community="河西村", address="河西村1号"))
        s.commit()
    row = ("HX-001", "河西饭店", "非居民", "管道气", "城关镇", "东街社区", "东街99号", None, None, None)
    with db.session() as s:
        r = ledger.import_ledger(s, ledger_bytes([GOOD[0], row]), township="城关镇")
    assert r.rejected == [RowError(3, "户号", "HX-001",
                                   "account HX-001 belongs to township 河西镇; you may import only township 城关镇")]
    assert (r.written, _count(db)) == (False, 1)
    with db.session() as s:  # the city (no township) may move a site between townships
        assert ledger.import_ledger(s, ledger_bytes([row])).updated == 1
