"""fleet/campaign/report.py: the monthly report's figures, its Excel workbook and its PDF."""

from __future__ import annotations

from datetime import date, datetime, timezone
from io import BytesIO

import pypdf
import pytest
from openpyxl import load_workbook

from fleet.campaign import report, service
from fleet.core.errors import BadInput


@pytest.fixture
def november(db, town):  # noqa: ANN001, ANN201
    with db.session() as s:
        service.record_inspection(s, kind="self_check", site_id=town["A-N1"], inspected_on=date(2023, 11, 20),
                                  inspector="城关镇", result="fail", findings=["报警器未通电"])
        stop = service.stop_supply(s, site_id=town["A-N2"], reason="未装切断阀", by="燃气公司",
                                   at=datetime(2023, 11, 25, 8, tzinfo=timezone.utc))
        s.commit()
        return stop.id


def test_monthly__city_figures(db, town, november) -> None:  # noqa: ANN001
    with db.session() as s:
        rep = report.monthly_report(s, month="2023-11")
    rows = {r.progress.area: r for r in rep.rows}
    a, b = rows["城关镇"], rows["广武镇"]
    assert rep.title == "全市燃气安全装置安装工作月报（2023年11月）"
    assert (a.installs_month, a.installs_total, b.installs_month, b.installs_total) == (6, 6, 1, 2)
    assert dict(a.fen_month) == {"total_fen": 272000, "city_fen": 24000, "gas_company_fen": 24000, "user_fen": 224000}
    assert dict(b.fen_month) == {"total_fen": 200000, "city_fen": 0, "gas_company_fen": 0, "user_fen": 200000}
    assert b.fen_total["city_fen"] == 8000  # B-R1 installed in October
    assert (a.findings_opened, a.supply_stopped, a.progress.open_findings) == (1, 1, 1)
    assert [(r.progress.area, r.progress.rank) for r in rep.rows] == [("广武镇", 1), ("城关镇", 2)]
    t = rep.total
    assert (t.installs_month, t.installs_total, t.fen_total["city_fen"], t.progress.sites, t.progress.compliant) == (
        7, 8, 32000, 10, 6)
    header, lines = report.table(rep)
    assert header[:3] == ["排名", "乡镇(街道)", "用户总数"]
    assert lines[-1][1] == "合计" and lines[-1][header.index("其中市财政")] == 240.0
    assert lines[0][header.index("完成率")] == "66.7%"


def test_monthly__earlier_month_and_township_scope(db, town, november) -> None:  # noqa: ANN001
    with db.session() as s:
        oct_ = report.monthly_report(s, month="2023-10")
        tw = report.monthly_report(s, month="2023-11", township="城关镇")
        with pytest.raises(BadInput, match="township '无此镇': no sites in the ledger"):
            report.monthly_report(s, month="2023-11", township="无此镇")
        with pytest.raises(BadInput, match="month '2023-13': expected YYYY-MM"):
            report.monthly_report(s, month="2023-13")
    assert {r.progress.area: (r.installs_month, r.supply_stopped) for r in oct_.rows} == {
        "城关镇": (0, 0), "广武镇": (1, 0)}
    assert tw.title == "城关镇燃气安全装置安装工作月报（2023年11月）"
    assert {r.progress.area: (r.progress.sites, r.installs_month) for r in tw.rows} == {"东街": (3, 3), "西街": (4, 3)}
    assert report.table(tw)[0][0] == "社区(村)"


def test_monthly__excel_and_pdf(db, town, november, tmp_path) -> None:  # noqa: ANN001
    with db.session() as s:
        rep = report.monthly_report(s, month="2023-11")
    xlsx = report.write(rep, tmp_path / "m.xlsx")
    wb = load_workbook(xlsx)
    ws = wb["月报"]
    assert ws["A1"].value == rep.title
    header = [c.value for c in ws[3]]
    total = [c.value for c in ws[3 + len(rep.rows) + 1]]
    assert total[header.index("乡镇(街道)")] == "合计"
    assert total[header.index("累计市财政")] == 320.0
    stages = wb["阶段进度"]
    assert [c.value for c in stages[4]][:2] == ["建立台账", "2022-04-20"]
    assert stages.cell(row=7, column=1).value == "居民用户完成安装"
    pdf = report.write(rep, tmp_path / "m.pdf")
    reader = pypdf.PdfReader(pdf)
    text = "".join(p.extract_text() for p in reader.pages)
    assert rep.title in text.replace("\n", "")
    assert "广武镇" in text and "逾期" in text
    fonts = {str(f["/BaseFont"]) for p in reader.pages for f in p["/Resources"]["/Font"].values()}
    assert "/STSong-Light" in fonts
    with pytest.raises(BadInput, match="choose a .xlsx or .pdf"):
        report.write(rep, tmp_path / "m.csv")
    assert BytesIO(pdf.read_bytes()).read(5) == b"%PDF-"
