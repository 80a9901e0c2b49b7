"""The campaign and work-order pages in a real headless Chromium (Playwright), against uvicorn on
127.0.0.1: Chinese by default and the English switch, the ranking, township scope, the ledger
upload with rejected rows, non-compliant users, the monthly report and its PDF, work orders."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from campaign_factories import HEADERS, LiveServer, ledger_bytes, make_app

pytestmark = pytest.mark.browser


def chromium_path() -> str | None:
    path = os.environ.get("GASGUARD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if Path(path).exists() else None


@pytest.fixture
def db(sqlite_db):  # noqa: ANN001, ANN201 - the browser tests run on SQLite only (the queries are tested on both)
    return sqlite_db


@pytest.fixture
def browser_page(town, db) -> Iterator[tuple[object, str]]:  # noqa: ANN001
    exe = chromium_path()
    if exe is None:
        pytest.skip("Chromium not found: apt-get install chromium, or set GASGUARD_CHROMIUM")
    from playwright.sync_api import sync_playwright

    server = LiveServer(make_app(db))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
            context = browser.new_context(accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(15000)
            yield page, server.url
            context.close()
            browser.close()
    finally:
        server.stop()


def _cells(page, selector: str) -> list[list[str]]:  # noqa: ANN001
    return page.eval_on_selector_all(f"{selector} tbody tr",
                                     "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")


def test_progress__ranking_stages_language_and_scope(browser_page) -> None:  # noqa: ANN001
    page, url = browser_page
    page.goto(f"{url}/campaign?as_of=2023-11-30")
    assert page.locator("h1").inner_text() == "进度与排名"
    rows = _cells(page, "#ranking")
    assert [(r[0], r[1], r[6]) for r in rows[:2]] == [("1", "广武镇", "66.7%"), ("2", "城关镇", "57.1%")]
    assert rows[2][0] == "合计" and rows[2][1] == "10"
    assert page.locator('#stages tr[data-stage="residential"] td.overdue').count() == 3  # both townships and the total
    page.click("#lang")
    assert page.locator("h1").inner_text() == "Progress and ranking"
    page.click('a[data-nav="non_compliant"]')  # the cookie keeps English
    assert page.locator("h1").inner_text() == "Non-compliant businesses"
    page.goto(f"{url}/campaign?as_of=2023-11-30")
    page.select_option('#scope select[name="township"]', "城关镇")
    page.wait_for_url("**township=*")
    assert [r[0] for r in _cells(page, "#ranking")] == ["东街", "西街", "Total"]


def test_ledger__upload_rejected_rows_then_skip_bad(browser_page, tmp_path) -> None:  # noqa: ANN001
    page, url = browser_page
    f = tmp_path / "城关镇台账.xlsx"
    f.write_bytes(ledger_bytes([
        ("C-001", "新户", "居民", "管道气", "城关镇", "东街", "东街10号", None, None, None),
        ("C-002", "坏户", "居民", "煤气", "城关镇", "东街", "东街11号", None, None, None),
    ], HEADERS))
    page.goto(f"{url}/campaign/ledger?township=城关镇")
    assert page.locator("h1").inner_text() == "台账导入导出"
    page.set_input_files('input[name="file"]', str(f))
    page.click("#import-form button")
    page.wait_for_selector("#rejected")
    assert _cells(page, "#rejected") == [["3", "气源", "煤气", "expected 管道气 or 瓶装液化气"]]
    assert "有错误行，未导入任何数据" in page.locator("#import-result").inner_text()
    page.set_input_files('input[name="file"]', str(f))
    page.check('input[name="skip_bad"]')
    page.click("#import-form button")
    page.wait_for_selector("#import-result .done")
    assert "1 新增" in page.locator("#import-result").inner_text()
    with page.expect_download() as dl:
        page.click("#export")
    assert dl.value.suggested_filename == "台账-城关镇.xlsx"
    with page.expect_download() as dl:
        page.click("#export-non")
    assert dl.value.suggested_filename == "台账-城关镇-非居民.xlsx"
    from openpyxl import load_workbook

    from io import BytesIO

    ws = load_workbook(BytesIO(Path(dl.value.path()).read_bytes()))["台账"]
    assert [r[0] for r in ws.iter_rows(min_row=2, values_only=True)] == ["A-N1", "A-N2"]
    page.goto(f"{url}/campaign/sites?township=城关镇&missing=1")
    accounts = [r[0] for r in _cells(page, "#sites")]
    assert accounts == ["A-R2", "C-001", "A-N2", "A-R4"]  # by community (东街, 西街), then account


def test_noncompliant_report_and_pdf(browser_page, db, town) -> None:  # noqa: ANN001
    from datetime import datetime, timezone

    from fleet.campaign import service

    with db.session() as s:
        stop = service.stop_supply(s, site_id=town["A-N2"], reason="未装切断阀", by="燃气公司",
                                   at=datetime(2023, 11, 29, 8, tzinfo=timezone.utc))
        service.hazard_removed(s, stop_id=stop.id, by="城关镇", at=datetime(2023, 11, 30, 8, tzinfo=timezone.utc))
        s.commit()
    page, url = browser_page
    page.goto(f"{url}/campaign/non-compliant")
    rows = _cells(page, "#noncompliant")
    assert [(r[0], r[4], r[6], r[7]) for r in rows] == [
        ("A-N2", "切断阀、金属软管", "隐患已消除，待恢复供气", "2023-12-01 08:00")]
    page.goto(f"{url}/campaign/report?month=2023-11")
    assert page.locator("#report-title").inner_text() == "全市燃气安全装置安装工作月报（2023年11月）"
    lines = _cells(page, "#report")
    assert [line[1] for line in lines] == ["广武镇", "城关镇", "合计"]
    header = page.eval_on_selector_all("#report thead th", "hs => hs.map(h => h.innerText.trim())")
    assert lines[-1][header.index("其中市财政")] == "240.00"
    pdf = page.request.get(url + page.get_attribute("#pdf", "href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body()[:5] == b"%PDF-"
    xlsx = page.request.get(url + page.get_attribute("#xlsx", "href"))
    assert xlsx.status == 200 and xlsx.body()[:2] == b"PK"


def test_workorders__assign_done_close_in_the_browser(browser_page, db, set_day) -> None:  # noqa: ANN001
    from fleet.lifecycle import service as lifecycle

    set_day(date(2024, 11, 1))
    with db.session() as s:
        lifecycle.raise_work_orders(s)
        s.commit()
    page, url = browser_page
    page.goto(f"{url}/workorders?township=广武镇")
    rows = _cells(page, "#workorders")
    assert [(r[1], r[2], r[3]) for r in rows] == [("到期检定", "待派单", "2024-11-08")]
    page.fill("#workorders tbody tr form:first-of-type input", "李工")
    page.click('#workorders tbody tr button[value="assign"]')
    page.wait_for_url("**state=assigned**")
    assert _cells(page, "#workorders")[0][2:7:4] == ["已派单", "李工"]
    page.fill('#workorders tbody tr form:nth-of-type(2) input', "李工")
    page.click('#workorders tbody tr button[value="done"]')
    page.wait_for_url("**state=done**")
    page.fill("#workorders tbody tr form input", "王主任")
    page.click('#workorders tbody tr button[value="close"]')
    page.wait_for_url("**state=closed**")
    assert _cells(page, "#workorders")[0][2] == "已销单"
    if os.environ.get("GASGUARD_SCREENSHOTS"):
        page.goto(f"{url}/campaign?as_of=2023-11-30")
        page.screenshot(path=os.path.join(os.environ["GASGUARD_SCREENSHOTS"], "campaign.png"), full_page=True)
        page.goto(f"{url}/campaign/report?month=2023-11&township=城关镇")
        page.screenshot(path=os.path.join(os.environ["GASGUARD_SCREENSHOTS"], "report.png"), full_page=True)


def test_site_page__check_findings_and_supply_stop(browser_page, set_day) -> None:  # noqa: ANN001
    set_day(date(2023, 12, 1))
    page, url = browser_page
    page.goto(f"{url}/campaign/non-compliant")
    page.click('#noncompliant tr[data-account="A-N2"] a')
    assert page.locator("h1").inner_text() == "用户详情"
    assert page.locator("#site-missing").inner_text() == "切断阀、金属软管"
    assert _cells(page, "#assets")[0][:4] == ["报警器", "ALM-OK", "AL-0002", "2023-11-08"]
    assert _cells(page, "#installs") == [["2023-11-08", "安装队", "500.00", "0.00", "0.00", "500.00"]]
    page.fill('#inspect-form input[name="inspector"]', "城关镇安委办")
    page.select_option('#inspect-form select[name="result"]', "fail")
    page.click("#inspect-form button")  # a failed check without findings is refused, with the reason
    assert page.locator("#error").inner_text() == "findings: a failed check must say what is to be rectified"
    page.go_back()
    page.fill('#inspect-form input[name="inspector"]', "城关镇安委办")
    page.select_option('#inspect-form select[name="result"]', "fail")
    page.fill('#inspect-form textarea[name="findings"]', "未安装切断阀\n软管为橡胶管")
    page.click("#inspect-form button")
    page.wait_for_selector("#findings tbody tr[data-id]")
    assert [r[1:4] for r in _cells(page, "#findings")] == [
        ["未安装切断阀", "待整改", "2023-12-31"], ["软管为橡胶管", "待整改", "2023-12-31"]]
    page.fill("#stop-form input[name=reason]", "未整改")
    page.fill("#stop-form input[name=name]", "燃气公司")
    page.click("#stop-form button")
    page.wait_for_selector("#supply-state.stopped")
    for row in ("1", "2"):
        page.fill(f"#findings tbody tr:nth-child({row}) input", "饭店2")
        page.click(f"#findings tbody tr:nth-child({row}) button")
    assert [r[2] for r in _cells(page, "#findings")] == ["已整改", "已整改"]
    page.fill("#stop-form input[name=name]", "城关镇")
    page.click("#stop-form button")
    assert page.locator("#supply-state").inner_text() == "隐患已消除，待恢复供气 · 恢复时限 2023-12-02 09:00 UTC"
    page.fill("#stop-form input[name=name]", "燃气公司")
    page.click("#stop-form button")
    assert page.locator("#supply-state").inner_text() == "正常供气"
    # The missing shutoff and hose are installed from the page: the user pays the contract price.
    page.fill('#install-form input[name="installer"]', "李师傅")
    page.fill('#install-form input[name="price_yuan"]', "abc")
    page.click("#install-form button")
    assert page.locator("#error").inner_text() == "contract price 'abc': expected an amount in yuan, e.g. 1500 or 1500.50"
    page.go_back()
    page.fill('#install-form input[name="installer"]', "李师傅")
    page.fill('#install-form input[name="price_yuan"]', "1200.50")
    rows = page.locator("#install-form .item")
    rows.nth(0).locator("select").select_option("shutoff")
    rows.nth(0).locator('input[name="model"]').fill("SHUT-OK")
    rows.nth(0).locator('input[name="serial"]').fill("SH-0099")
    rows.nth(1).locator("select").select_option("hose")
    rows.nth(1).locator('input[name="model"]').fill("HOSE")
    page.click("#install-form button")
    page.wait_for_selector("#site-missing:text('无')")
    assert _cells(page, "#installs")[-1] == ["2023-12-01", "李师傅", "1200.50", "0.00", "0.00", "1200.50"]
    if os.environ.get("GASGUARD_SCREENSHOTS"):
        page.screenshot(path=os.path.join(os.environ["GASGUARD_SCREENSHOTS"], "site.png"), full_page=True)


def test_spot_check_page__same_seed_same_sample(browser_page) -> None:  # noqa: ANN001
    page, url = browser_page
    page.goto(f"{url}/campaign/spot-check")
    page.fill('#draw-form input[name="seed"]', "2023-12")
    page.fill('#draw-form input[name="as_of"]', "2023-11-30")
    page.click("#draw-form button")
    page.wait_for_selector("#sample")
    first = _cells(page, "#sample")
    assert [r[0] for r in first].count("城关镇") == 5 and [r[0] for r in first].count("广武镇") == 2
    page.reload()
    assert _cells(page, "#sample") == first
