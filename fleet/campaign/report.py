"""The monthly report (月报), for the city (one row per township) or for one township (one row
per community), as Excel and as a printable PDF.

Figures are as of the last day of the month: sites and compliance from the assets installed by
then, installs and money in the month and in total, checks, findings opened and rectified in the
month, supply stops in force, work orders open at the end of the month, and (city) the rank.

The PDF uses reportlab's built-in STSong-Light CID font: the file names the font and every
Chinese-capable viewer supplies the glyphs (nothing to install or ship, and the file stays
small). To embed a font instead, set GASGUARD_REPORT_FONT to a TrueType file (.ttf/.ttc)."""

from __future__ import annotations

import calendar
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from sqlalchemy import func, literal, or_, select
from sqlalchemy.orm import Session

from fleet.campaign.models import Finding, Install, SupplyStop
from fleet.campaign.plan import DEFAULT_PLAN, Plan
from fleet.campaign.service import AreaProgress, progress, rank, totals
from fleet.core.clock import now
from fleet.core.errors import BadInput
from fleet.lifecycle.models import WorkOrder
from fleet.store.models import Site

FONT_ENV = "GASGUARD_REPORT_FONT"
CITY = "全市"
STATUS_ZH = {"done": "已完成", "in_progress": "进行中", "not_started": "未开始", "overdue": "逾期", "n/a": "—"}


def parse_month(text: str) -> tuple[date, date]:
    """'2023-11' -> (2023-11-01, 2023-11-30)."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise BadInput(f"month {text!r}: expected YYYY-MM, e.g. 2023-11")
    y, mo = int(m.group(1)), int(m.group(2))
    return date(y, mo, 1), date(y, mo, calendar.monthrange(y, mo)[1])


@dataclass
class Row:
    progress: AreaProgress
    installs_month: int = 0
    installs_total: int = 0
    fen_month: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fen_total: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    findings_opened: int = 0
    findings_rectified: int = 0
    supply_stopped: int = 0
    work_orders_open: int = 0


@dataclass
class MonthlyReport:
    month: str
    scope: str  # 全市 or the township's name
    first: date
    last: date
    rows: list[Row]
    total: Row
    generated_at: datetime

    @property
    def title(self) -> str:
        y, m = self.month.split("-")
        return f"{self.scope}燃气安全装置安装工作月报（{y}年{int(m)}月）"


MONEY = ("total_fen", "city_fen", "gas_company_fen", "user_fen")


def monthly_report(session: Session, *, month: str, township: str | None = None,
                   plan: Plan = DEFAULT_PLAN) -> MonthlyReport:
    """Gather the figures of one month for the city or one township."""
    first, last = parse_month(month)
    areas = progress(session, as_of=last, township=township, plan=plan)
    if township and not areas:
        raise BadInput(f"township {township!r}: no sites in the ledger")
    if not township:
        areas = rank(areas)
    rows = {p.area: Row(p) for p in areas}
    area = func.coalesce(Site.community if township else Site.township, literal("")).label("area")
    scope = [Site.township == township] if township else []

    def per_area(q: Any) -> Any:
        return session.execute(q.where(*scope).group_by(area))

    money = [func.sum(getattr(Install, m)) for m in MONEY]
    for is_month, cond in ((True, Install.installed_on.between(first, last)), (False, Install.installed_on <= last)):
        for a, n, *fen in per_area(select(area, func.count(Install.id), *money).join(Site, Site.id == Install.site_id)
                                   .where(cond)):
            if a not in rows:
                continue
            r = rows[a]
            if is_month:
                r.installs_month = n
            else:
                r.installs_total = n
            for k, v in zip(MONEY, fen, strict=True):
                (r.fen_month if is_month else r.fen_total)[k] = int(v or 0)
    for a, n in per_area(select(area, func.count(Finding.id)).join(Site, Site.id == Finding.site_id)
                         .where(Finding.found_on.between(first, last))):
        if a in rows:
            rows[a].findings_opened = n
    for a, n in per_area(select(area, func.count(Finding.id)).join(Site, Site.id == Finding.site_id)
                         .where(Finding.rectified_on.between(first, last))):
        if a in rows:
            rows[a].findings_rectified = n
    end = datetime.combine(last, datetime.max.time()).replace(tzinfo=timezone.utc)
    for a, n in per_area(select(area, func.count(SupplyStop.id)).join(Site, Site.id == SupplyStop.site_id)
                         .where(SupplyStop.stopped_at <= end,
                                or_(SupplyStop.restored_at.is_(None), SupplyStop.restored_at > end))):
        if a in rows:
            rows[a].supply_stopped = n
    for a, n in per_area(select(area, func.count(WorkOrder.id)).join(Site, Site.id == WorkOrder.site_id)
                         .where(WorkOrder.raised_at <= end, WorkOrder.state != "cancelled",
                                or_(WorkOrder.done_at.is_(None), WorkOrder.done_at > end),
                                or_(WorkOrder.closed_at.is_(None), WorkOrder.closed_at > end))):
        if a in rows:
            rows[a].work_orders_open = n

    total = Row(totals(areas, name="合计", plan=plan, as_of=last))
    for r in rows.values():
        total.installs_month += r.installs_month
        total.installs_total += r.installs_total
        total.findings_opened += r.findings_opened
        total.findings_rectified += r.findings_rectified
        total.supply_stopped += r.supply_stopped
        total.work_orders_open += r.work_orders_open
        for k in MONEY:
            total.fen_month[k] += r.fen_month[k]
            total.fen_total[k] += r.fen_total[k]
    return MonthlyReport(month=f"{first:%Y-%m}", scope=township or CITY, first=first, last=last,
                         rows=list(rows.values()), total=total, generated_at=now())


def yuan(fen: int) -> float:
    return round(fen / 100, 2)


def display(v: Any) -> str:
    """A cell as text for the page and the PDF: money (floats) with two decimals."""
    return f"{v:,.2f}" if isinstance(v, float) else str(v)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}%"


def table(report: MonthlyReport) -> tuple[list[str], list[list[Any]]]:
    """The report's main table as header + rows (the total last): one source for Excel and PDF."""
    city = report.scope == CITY
    header = ["排名"] if city else []
    header += ["乡镇(街道)" if city else "社区(村)", "用户总数", "居民", "非居民", "居民达标", "非居民达标", "完成率",
               "本月安装(户次)", "累计安装(户次)", "本月金额(元)", "其中市财政", "其中燃气公司", "其中用户",
               "累计金额(元)", "累计市财政", "累计燃气公司", "累计用户",
               "自查户数", "抽查户数", "抽查合格率", "本月新增隐患", "本月整改", "未整改隐患", "停气户数", "未完成工单"]
    out = []
    for r in [*report.rows, report.total]:
        p = r.progress
        line: list[Any] = [p.rank if r is not report.total else ""] if city else []
        line += [p.area or "(未填)", p.sites, p.residential, p.non_residential, p.residential_ok, p.non_residential_ok,
                 _pct(p.completion_pct), r.installs_month, r.installs_total,
                 *[yuan(r.fen_month[k]) for k in MONEY], *[yuan(r.fen_total[k]) for k in MONEY],
                 p.self_checked, p.spot_checked, _pct(p.spot_pass_pct), r.findings_opened, r.findings_rectified,
                 p.open_findings, r.supply_stopped, r.work_orders_open]
        out.append(line)
    return header, out


def stage_table(report: MonthlyReport) -> tuple[list[str], list[list[Any]]]:
    """Plan stages: deadline, then done/target and status per area and in total."""
    header = ["阶段", "截止日期", *[r.progress.area or "(未填)" for r in report.rows], "合计"]
    out = []
    for i, st in enumerate(report.total.progress.stages):
        line: list[Any] = [st.stage.zh, st.stage.deadline.isoformat()]
        for r in [*report.rows, report.total]:
            s = r.progress.stages[i]
            line.append(f"{s.done}/{s.target} {STATUS_ZH[s.status]}")
        out.append(line)
    return header, out


# --- Excel ------------------------------------------------------------------------------------

def _sheet(ws: Any, title: str, subtitle: str, header: list[str], rows: list[list[Any]], total_last: bool) -> None:
    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    ws.append([title])
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    ws.append([subtitle])
    ws.append(header)
    for i, _h in enumerate(header, start=1):
        c = ws.cell(row=3, column=i)
        c.font = Font(bold=True)
        c.fill = PatternFill("solid", fgColor="DDEBF7")
        c.alignment = Alignment(wrap_text=True, horizontal="center", vertical="center")
        c.border = border
        ws.column_dimensions[c.column_letter].width = 12
    for line in rows:
        ws.append(line)
    for r in range(4, 4 + len(rows)):
        for col in range(1, len(header) + 1):
            ws.cell(row=r, column=col).border = border
    if total_last and rows:
        for col in range(1, len(header) + 1):
            ws.cell(row=3 + len(rows), column=col).font = Font(bold=True)
    ws.freeze_panes = "A4"


def to_workbook(report: MonthlyReport) -> Workbook:
    wb = Workbook()
    sub = f"统计截至 {report.last.isoformat()}；生成于 {report.generated_at:%Y-%m-%d %H:%M} UTC；金额单位：元"
    header, rows = table(report)
    _sheet(wb.active, report.title, sub, header, rows, True)
    wb.active.title = "月报"
    header, rows = stage_table(report)
    _sheet(wb.create_sheet("阶段进度"), f"{report.scope}各阶段进度（完成/目标）", sub, header, rows, False)
    return wb


def write_xlsx(report: MonthlyReport, out: str | Path | BinaryIO) -> None:
    to_workbook(report).save(out)


# --- PDF --------------------------------------------------------------------------------------

def _font() -> str:
    from reportlab.pdfbase import pdfmetrics

    path = os.environ.get(FONT_ENV)
    if path:
        from reportlab.pdfbase.ttfonts import TTFont

        if "GGReport" not in pdfmetrics.getRegisteredFontNames():
            try:
                pdfmetrics.registerFont(TTFont("GGReport", path, subfontIndex=0))
            except Exception as e:  # noqa: BLE001 - reportlab raises several types for a bad font file
                raise BadInput(f"{FONT_ENV}={path}: cannot use this font ({e})") from None
        return "GGReport"
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


def to_pdf(report: MonthlyReport) -> bytes:
    """A printable A4-landscape PDF: the main table (split in two to fit), then the stages."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _font()
    title = ParagraphStyle("title", fontName=font, fontSize=15, leading=20, spaceAfter=4)
    small = ParagraphStyle("small", fontName=font, fontSize=8, leading=10, textColor=colors.grey)
    cell = ParagraphStyle("cell", fontName=font, fontSize=7, leading=8.5)

    def grid(header: list[str], rows: list[list[Any]], bold_last: bool) -> Table:
        data = [[Paragraph(str(h), cell) for h in header]] + [[Paragraph(display(v), cell) for v in r] for r in rows]
        t = Table(data, repeatRows=1)
        style = [("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                 ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDEBF7")),
                 ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]
        if bold_last:
            style.append(("BACKGROUND", (0, len(data) - 1), (-1, len(data) - 1), colors.HexColor("#F2F2F2")))
        t.setStyle(TableStyle(style))
        return t

    header, rows = table(report)
    key = 2 if report.scope == CITY else 1  # rank + area, or area
    cut = header.index("累计金额(元)")
    part1 = (header[:cut], [r[:cut] for r in rows])
    part2 = (header[:key] + header[cut:], [r[:key] + r[cut:] for r in rows])
    buf = BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=10 * mm, rightMargin=10 * mm,
                            topMargin=10 * mm, bottomMargin=10 * mm, title=report.title, author="gasguard")
    sub = f"统计截至 {report.last.isoformat()}；生成于 {report.generated_at:%Y-%m-%d %H:%M} UTC；金额单位：元"
    story: list[Any] = [Paragraph(report.title, title), Paragraph(sub, small), Spacer(1, 4 * mm),
                        grid(*part1, True), Spacer(1, 4 * mm), grid(*part2, True), Spacer(1, 6 * mm),
                        Paragraph("各阶段进度（完成/目标）", title), grid(*stage_table(report), False)]
    doc.build(story)
    return buf.getvalue()


def write(report: MonthlyReport, out: str | Path) -> Path:
    """Write `.xlsx` or `.pdf` by the file's suffix."""
    p = Path(out)
    suffix = p.suffix.lower()
    if suffix == ".xlsx":
        write_xlsx(report, p)
    elif suffix == ".pdf":
        p.write_bytes(to_pdf(report))
    else:
        raise BadInput(f"{p}: choose a .xlsx or .pdf file name")
    return p

