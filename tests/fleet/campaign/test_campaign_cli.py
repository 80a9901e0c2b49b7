"""`gasguard ledger ...` and `gasguard report ...` through the real CLI root, on a SQLite file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from openpyxl import load_workbook
from typer.testing import CliRunner

from campaign_factories import ledger_bytes
from fleet.campaign import service
from fleet.campaign.service import ItemSpec
from fleet.cli import app
from fleet.store.db import Database
from fleet.store.models import Site

runner = CliRunner(env={"COLUMNS": "250"})

ROWS = [
    ("HH-001", "张三", "居民", "管道气", "城关镇", "东街", "东街1号", "张三", "13800000001", None),
    ("NR-001", "饭店", "非居民", "瓶装液化气", "城关镇", "西街", "西街1号", None, None, None),
    ("HH-002", "李四", "居民", "沼气", "城关镇", "东街", "东街2号", None, None, None),
]


def test_ledger_cli__template_import_export(tmp_path: Path, set_day) -> None:  # noqa: ANN001
    set_day(date(2023, 11, 1))
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    r = runner.invoke(app, ["ledger", "template", str(tmp_path / "t.xlsx")])
    assert r.exit_code == 0, r.output
    assert load_workbook(tmp_path / "t.xlsx")["台账"]["A1"].value == "户号"
    (tmp_path / "l.xlsx").write_bytes(ledger_bytes(ROWS))
    r = runner.invoke(app, ["ledger", "import", str(tmp_path / "l.xlsx"), "--township", "城关镇", "--db", db])
    assert r.exit_code == 1
    assert "l.xlsx: row 4, 气源 = '沼气': expected 管道气 or 瓶装液化气" in r.output
    assert "1 of 3 row(s) rejected; nothing imported" in r.output
    r = runner.invoke(app, ["ledger", "import", str(tmp_path / "l.xlsx"), "--skip-bad", "--db", db])
    assert r.exit_code == 0, r.output
    assert "3 row(s) imported: 2 new, 0 updated, 0 unchanged, 1 rejected" in r.output
    r = runner.invoke(app, ["ledger", "import", str(tmp_path / "l.xlsx"), "--skip-bad", "--db", db])
    assert "0 new, 0 updated, 2 unchanged" in r.output
    r = runner.invoke(app, ["ledger", "export", str(tmp_path / "e.xlsx"), "--township", "城关镇", "--db", db])
    assert r.exit_code == 0 and "2 site(s) exported" in r.output
    ws = load_workbook(tmp_path / "e.xlsx")["台账"]
    assert ws["A2"].value == "HH-001" and ws["M3"].value == "报警器、切断阀、金属软管"
    r = runner.invoke(app, ["ledger", "import", str(tmp_path / "nope.xlsx"), "--db", db])
    assert r.exit_code == 2 and "nope.xlsx: file not found" in r.output


def test_report_cli__monthly_xlsx_pdf_and_progress(tmp_path: Path, set_day) -> None:  # noqa: ANN001
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    set_day(date(2023, 11, 30))
    runner.invoke(app, ["ledger", "template", str(tmp_path / "t.xlsx")])
    (tmp_path / "l.xlsx").write_bytes(ledger_bytes(ROWS[:2]))
    assert runner.invoke(app, ["ledger", "import", str(tmp_path / "l.xlsx"), "--db", db]).exit_code == 0
    database = Database(db)
    with database.session() as s:
        site = s.query(Site).filter_by(account_no="HH-001").one()
        service.record_install(s, site_id=site.id, installed_on=date(2023, 11, 20), installer="安装队",
                               items=[ItemSpec("self_closing_valve"), ItemSpec("hose")])
        s.commit()
    database.dispose()
    r = runner.invoke(app, ["report", "monthly", "--month", "2023-11", "--out", str(tmp_path / "m.xlsx"), "--db", db])
    assert r.exit_code == 0, r.output
    assert "全市燃气安全装置安装工作月报（2023年11月）: 1 row(s)" in r.output
    ws = load_workbook(tmp_path / "m.xlsx")["月报"]
    header = [c.value for c in ws[3]]
    row = [c.value for c in ws[4]]
    assert (row[header.index("乡镇(街道)")], row[header.index("本月金额(元)")], row[header.index("其中市财政")]) == (
        "城关镇", 240.0, 80.0)
    assert row[header.index("完成率")] == "50.0%"
    r = runner.invoke(app, ["report", "monthly", "--month", "2023-11", "--township", "城关镇",
                            "--out", str(tmp_path / "m.pdf"), "--db", db])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m.pdf").read_bytes()[:5] == b"%PDF-"
    r = runner.invoke(app, ["report", "monthly", "--month", "11/2023", "--out", str(tmp_path / "x.xlsx"), "--db", db])
    assert r.exit_code == 2 and "month '11/2023': expected YYYY-MM" in r.output
    r = runner.invoke(app, ["report", "monthly", "--month", "2023-11", "--out", str(tmp_path / "x.doc"), "--db", db])
    assert r.exit_code == 2 and "choose a .xlsx or .pdf" in r.output
    r = runner.invoke(app, ["report", "progress", "--as-of", "2023-11-30", "--db", db])
    assert r.exit_code == 0, r.output
    assert "城关镇" in r.output and "50.0%" in r.output
