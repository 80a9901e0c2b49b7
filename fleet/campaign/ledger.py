"""Township ledgers (台账) as Excel: the template, import and export, with the Chinese column
names township staff use.

Import is all or nothing: every row is checked, every rejected row is reported with its row
number, column, value and reason, and the sites are written in one transaction only when no row
was rejected (or, with `skip_bad=True`, the good rows alone, still in one transaction). Sites are
matched by account number (户号), so importing the same file again changes nothing.

Columns (see docs/campaign.md "Ledger columns"); a header may also be written as its alias:

| column | field | rule |
|---|---|---|
| 户号 (用户编号) | account_no | required, unique in the file, at most 64 characters |
| 用户名称 | name | required |
| 用户类别 | category | 居民 / 非居民 |
| 气源 | supply | 管道气 / 瓶装液化气 |
| 乡镇(街道) | township | required; with `township=` it must be that township, and an account already held by another township's site is a row error |
| 社区(村) | community | required |
| 地址 | address | required |
| 联系人 | contact | optional |
| 联系电话 | phone | optional; digits, spaces, + and - only, 7 to 20 characters |
| 备注 | note | optional, kept in the site's `extra` |

Export adds the read-only columns 应装 (must have), 已装 (has), 缺项 (missing), which import skips."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.campaign.rules import site_needs
from fleet.core.clock import now
from fleet.core.errors import BadInput
from fleet.store.models import AuditLog, Site

SHEET = "台账"


@dataclass(frozen=True)
class Column:
    header: str
    field: str
    required: bool
    max_len: int
    aliases: tuple[str, ...] = ()
    width: int = 14


COLUMNS: tuple[Column, ...] = (
    Column("户号", "account_no", True, 64, ("用户编号", "户号/用户编号", "用户号"), 16),
    Column("用户名称", "name", True, 256, ("户名", "用户名"), 20),
    Column("用户类别", "category", True, 16, ("类别",), 10),
    Column("气源", "supply", True, 16, ("气源类型", "用气类型"), 12),
    Column("乡镇(街道)", "township", True, 128, ("乡镇（街道）", "乡镇", "街道", "乡镇/街道"), 14),
    Column("社区(村)", "community", True, 128, ("社区（村）", "社区", "村", "社区/村"), 14),
    Column("地址", "address", True, 512, ("详细地址", "用户地址"), 30),
    Column("联系人", "contact", False, 128, (), 10),
    Column("联系电话", "phone", False, 64, ("电话", "手机", "手机号"), 16),
    Column("备注", "note", False, 512, (), 20),
)
STATUS_COLUMNS = ("应装", "已装", "缺项")

CATEGORY_ZH = {"居民": "residential", "非居民": "non_residential"}
CATEGORY_ALIASES = {"居民用户": "居民", "非居民用户": "非居民", "工商户": "非居民", "商业": "非居民"}
SUPPLY_ZH = {"管道气": "pipeline", "瓶装液化气": "lpg"}
SUPPLY_ALIASES = {"管道燃气": "管道气", "管道天然气": "管道气", "天然气": "管道气", "液化气": "瓶装液化气",
                  "瓶装气": "瓶装液化气", "液化石油气": "瓶装液化气"}
CATEGORY_OUT = {v: k for k, v in CATEGORY_ZH.items()}
SUPPLY_OUT = {v: k for k, v in SUPPLY_ZH.items()}
NEED_ZH = {"alarm": "报警器", "shutoff": "切断阀", "self_closing_valve": "自闭阀", "hose": "金属软管"}
PHONE = re.compile(r"^[0-9+\- ]{7,20}$")
SITE_FIELDS = ("name", "category", "supply", "township", "community", "address", "contact", "phone")


@dataclass(frozen=True)
class RowError:
    """One rejected cell (or row): Excel row number, column header, the value, why."""

    row: int
    column: str
    value: Any
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.column} = {self.value!r}: {self.reason}"


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RowError] = field(default_factory=list)
    written: bool = False
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rejected_rows(self) -> list[int]:
        return sorted({e.row for e in self.rejected})


class LedgerError(BadInput):
    """The file as a whole cannot be read as a ledger (not Excel, no header, missing columns)."""

    reason = "bad_ledger"


# --- template ---------------------------------------------------------------------------------

def _header_style(ws: Any, headers: Sequence[str], widths: Sequence[int]) -> None:
    fill = PatternFill("solid", fgColor="DDEBF7")
    for i, (h, w) in enumerate(zip(headers, widths, strict=True), start=1):
        cell = ws.cell(row=1, column=i, value=h)
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(horizontal="center")
        ws.column_dimensions[cell.column_letter].width = w
    ws.freeze_panes = "A2"


def template_workbook() -> Workbook:
    """An empty ledger with the headers, drop-down lists for category and supply, and a sheet
    that explains each column."""
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    _header_style(ws, [c.header for c in COLUMNS], [c.width for c in COLUMNS])
    for col, values in ((3, CATEGORY_ZH), (4, SUPPLY_ZH)):
        dv = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=False,
                            showErrorMessage=True, error="请从下拉列表中选择")
        letter = ws.cell(row=1, column=col).column_letter
        dv.add(f"{letter}2:{letter}100000")
        ws.add_data_validation(dv)
    notes = wb.create_sheet("填写说明")
    notes.append(["列名", "必填", "说明"])
    explain = {
        "account_no": "燃气公司户号，全表唯一", "name": "户主姓名或单位名称", "category": "居民 / 非居民",
        "supply": "管道气 / 瓶装液化气", "township": "所属乡镇或街道", "community": "所属社区或村",
        "address": "详细地址", "contact": "联系人", "phone": "联系电话（数字，7-20位）", "note": "其他说明",
    }
    for c in COLUMNS:
        notes.append([c.header, "是" if c.required else "否", explain[c.field]])
    notes.column_dimensions["A"].width = 14
    notes.column_dimensions["C"].width = 40
    return wb


def save(wb: Workbook, out: str | Path | BinaryIO) -> None:
    wb.save(out)


# --- import -----------------------------------------------------------------------------------

def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number typed into an account or phone cell
    return str(value).strip()


def _map_headers(header_row: Sequence[Any]) -> tuple[dict[str, int], list[str]]:
    """field -> column index, and the headers that are not ours (ignored)."""
    lookup: dict[str, Column] = {}
    for c in COLUMNS:
        for name in (c.header, *c.aliases):
            lookup[name] = c
    found: dict[str, int] = {}
    ignored: list[str] = []
    for i, raw in enumerate(header_row):
        h = _text(raw).replace(" ", "")
        if not h:
            continue
        col = lookup.get(h)
        if col is None:
            if h not in STATUS_COLUMNS:
                ignored.append(h)
            continue
        if col.field in found:
            raise LedgerError(f"header row: column {h!r} repeats {col.header!r}; keep one of them")
        found[col.field] = i
    missing = [c.header for c in COLUMNS if c.required and c.field not in found]
    if missing:
        raise LedgerError(f"header row: missing column(s) {', '.join(missing)}; expected headers: "
                          + ", ".join(c.header for c in COLUMNS) + " (download the template with `gasguard ledger template`)")
    return found, ignored


def _check_row(rownum: int, cells: dict[str, str], township: str | None) -> tuple[dict[str, Any], list[RowError]]:
    errors: list[RowError] = []
    out: dict[str, Any] = {}
    for c in COLUMNS:
        value = cells.get(c.field, "")
        if not value:
            if c.required:
                errors.append(RowError(rownum, c.header, value, "required, but empty"))
            out[c.field] = None
            continue
        if len(value) > c.max_len:
            errors.append(RowError(rownum, c.header, value, f"too long: {len(value)} characters, at most {c.max_len}"))
        out[c.field] = value
    cat = cells.get("category", "")
    if cat:
        cat = CATEGORY_ALIASES.get(cat, cat)
        if cat in CATEGORY_ZH:
            out["category"] = CATEGORY_ZH[cat]
        else:
            errors.append(RowError(rownum, "用户类别", cells["category"], "expected 居民 or 非居民"))
    sup = cells.get("supply", "")
    if sup:
        sup = SUPPLY_ALIASES.get(sup, sup)
        if sup in SUPPLY_ZH:
            out["supply"] = SUPPLY_ZH[sup]
        else:
            errors.append(RowError(rownum, "气源", cells["supply"], "expected 管道气 or 瓶装液化气"))
    phone = cells.get("phone", "")
    if phone and not PHONE.match(phone):
        errors.append(RowError(rownum, "联系电话", phone, "expected 7 to 20 digits (spaces, + and - allowed)"))
    tw = cells.get("township", "")
    if township and tw and tw != township:
        errors.append(RowError(rownum, "乡镇(街道)", tw, f"this import is for {township}"))
    return out, errors


def read_rows(source: str | Path | BinaryIO | bytes, *, township: str | None = None
              ) -> tuple[list[tuple[int, dict[str, Any]]], ImportResult]:
    """Parse and check a ledger file: (good rows with their row numbers, a result holding the
    rejected rows). Nothing touches the database here."""
    if isinstance(source, bytes):
        source = BytesIO(source)
    try:
        wb = load_workbook(source, read_only=True, data_only=True)
    except FileNotFoundError:
        raise LedgerError(f"{source}: file not found") from None
    except Exception as e:  # noqa: BLE001 - openpyxl raises several types for a file that is not xlsx
        raise LedgerError(f"{getattr(source, 'name', source)}: not an Excel .xlsx workbook ({type(e).__name__}: {e})") from None
    try:
        ws = wb[SHEET] if SHEET in wb.sheetnames else wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise LedgerError(f"sheet {ws.title!r} is empty: expected a header row")
        fields, ignored = _map_headers(header)
        result = ImportResult(ignored_columns=ignored)
        good: list[tuple[int, dict[str, Any]]] = []
        first_seen: dict[str, int] = {}
        for rownum, values in enumerate(rows, start=2):
            cells = {f: _text(values[i]) if i < len(values) else "" for f, i in fields.items()}
            if not any(cells.values()):
                continue  # blank line
            result.rows += 1
            data, errors = _check_row(rownum, cells, township)
            acct = data.get("account_no")
            if acct:
                if acct in first_seen:
                    errors.append(RowError(rownum, "户号", acct, f"duplicate: already on row {first_seen[acct]}"))
                else:
                    first_seen[acct] = rownum
            if errors:
                result.rejected.extend(errors)
            else:
                good.append((rownum, data))
        return good, result
    finally:
        wb.close()


def import_ledger(session: Session, source: str | Path | BinaryIO | bytes, *, township: str | None = None,
                  skip_bad: bool = False, actor: str = "ledger-import", dry_run: bool = False) -> ImportResult:
    """Import a ledger into `session`'s transaction and commit it, or write nothing.

    With rejected rows and `skip_bad=False` nothing is written. The caller's session is committed
    on success and rolled back on any failure, so a crash half-way leaves the store untouched."""
    good, result = read_rows(source, township=township)
    if township:
        good = _refuse_other_townships(session, good, township, result)
    if (result.rejected and not skip_bad) or dry_run:
        return result
    try:
        existing: dict[str, Site] = {}
        accounts = [d["account_no"] for _, d in good]
        for i in range(0, len(accounts), 900):  # SQLite's bound-parameter limit
            for site in session.scalars(select(Site).where(Site.account_no.in_(accounts[i : i + 900]))):
                existing[site.account_no] = site
        for _, data in good:
            note = data.pop("note", None)
            site = existing.get(data["account_no"])
            if site is None:
                session.add(Site(**data, extra={"note": note} if note else None, created_at=now(), updated_at=now()))
                result.created += 1
                continue
            changes = {f: data[f] for f in SITE_FIELDS if getattr(site, f) != data[f]}
            old_note = (site.extra or {}).get("note")
            if note != old_note:
                changes["extra"] = {**(site.extra or {}), "note": note}
            if not changes:
                result.unchanged += 1
                continue
            for f, v in changes.items():
                setattr(site, f, v)
            result.updated += 1
        if result.created or result.updated:
            session.add(AuditLog(at=now(), actor=actor, action="ledger_import", entity="ledger",
                                 entity_id=township or "*",
                                 detail={"rows": result.rows, "created": result.created, "updated": result.updated,
                                         "rejected_rows": result.rejected_rows}))
        session.commit()
        result.written = True
    except Exception:
        session.rollback()
        raise
    return result


def _refuse_other_townships(session: Session, good: list[tuple[int, dict[str, Any]]], township: str,
                            result: ImportResult) -> list[tuple[int, dict[str, Any]]]:
    """The good rows minus those whose account is already a site of another township, each
    reported as a row error. The lookup looks past the township scope (fleet/security/scope.py):
    scoped, a township staff member would not see the other township's site, the row would look
    new, and its insert would break the unique account number. Only the owner's township is read,
    and it is what the error names."""
    from fleet.security.scope import scoped

    accounts = [d["account_no"] for _, d in good]
    owner: dict[str, str] = {}
    with scoped(None):
        for i in range(0, len(accounts), 900):  # SQLite's bound-parameter limit
            q = select(Site.account_no, Site.township).where(Site.account_no.in_(accounts[i : i + 900]),
                                                             Site.township != township)
            owner.update({a: t for a, t in session.execute(q)})
    if not owner:
        return good
    for rownum, d in good:
        acct = d["account_no"]
        if acct in owner:
            result.rejected.append(RowError(rownum, "户号", acct, f"account {acct} belongs to township {owner[acct]}; "
                                                                  f"you may import only township {township}"))
    result.rejected.sort(key=lambda e: e.row)
    return [(n, d) for n, d in good if d["account_no"] not in owner]


# --- export -----------------------------------------------------------------------------------

def _needs_text(items: Iterable[str]) -> str:
    return "、".join(NEED_ZH[i] for i in items)


def export_workbook(session: Session, *, township: str | None = None, category: str | None = None) -> Workbook:
    """The ledger of one township (or all), with each site's must-have / has / missing items."""
    from fleet.campaign.service import site_kinds

    q = select(Site).order_by(Site.township, Site.community, Site.account_no)
    if township:
        q = q.where(Site.township == township)
    if category:
        q = q.where(Site.category == category)
    sites = list(session.scalars(q))
    kinds = site_kinds(session, [s.id for s in sites] if township else None)
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    headers = [c.header for c in COLUMNS] + list(STATUS_COLUMNS)
    _header_style(ws, headers, [c.width for c in COLUMNS] + [22, 22, 22])
    for s in sites:
        needs = site_needs(s.category, s.supply, kinds.get(s.id, ()))
        ws.append([s.account_no, s.name, CATEGORY_OUT.get(s.category, s.category), SUPPLY_OUT.get(s.supply, s.supply),
                   s.township, s.community, s.address, s.contact, s.phone, (s.extra or {}).get("note"),
                   _needs_text(needs.must), _needs_text(needs.has), _needs_text(needs.missing)])
    return wb
