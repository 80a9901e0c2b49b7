"""What `gasguard demo` puts in its fresh fleet before the boards come up, through the same
store functions the real fleet uses: the first city administrator (random password) and an
API token for them, one catalogue model that the virtual boards are, a township ledger (台账)
imported as township staff import theirs, an enrolment token for the installer, and, once a
board has registered, the install that ties it to its site.

Every function takes a SQLAlchemy session and commits nothing itself except the ledger import
(which commits or writes nothing, as it does for a real file); the caller runs them in the
fleet's database thread (`Fleet.writer.run`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from sqlalchemy.orm import Session

from fleet.campaign.ledger import import_ledger, save, template_workbook
from fleet.campaign.service import ItemSpec, record_install
from fleet.core.clock import now
from fleet.lifecycle.rules import ModelLife, model_problems
from fleet.provision.service import issue_token as issue_enrolment_token
from fleet.security import service as security
from fleet.security.enrolment import set_limit
from fleet.services.catalogue import create_model, site_by_account

ACTOR = "gasguard-demo"
ADMIN = "admin"
TOWNSHIP = "城关镇"
MODEL_CODE = "GG-SIM-M4"
INSTALLER = "王工 (demo installer)"

# (account number, name, category, community, address, contact); the first ones get a board each.
BUSINESSES = (
    ("CG-0001", "豫香饭店", "非居民", "东关社区", "中原路 18 号", "王经理"),
    ("CG-0002", "老街烩面馆", "非居民", "西街社区", "西大街 7 号", "李师傅"),
    ("CG-0003", "城关一小食堂", "非居民", "南关社区", "学府路 2 号", "赵主任"),
)
HOUSEHOLDS = (
    ("CG-1001", "张秀英", "居民", "东关社区", "幸福里 3 号楼 2 单元 401", "张秀英"),
    ("CG-1002", "刘建国", "居民", "西街社区", "槐树巷 11 号", "刘建国"),
)


@dataclass(frozen=True)
class Credentials:
    """Printed once on the console, never written to a file."""

    username: str
    password: str
    api_token: str


def business_sites(count: int) -> list[tuple[str, str, str, str, str, str]]:
    """One non-residential site per board: the named ones, then numbered shops."""
    rows = list(BUSINESSES[:count])
    for n in range(len(rows) + 1, count + 1):
        rows.append((f"CG-{n:04d}", f"商户 {n}", "非居民", "东关社区", f"中原路 {100 + n} 号", "店主"))
    return rows


def create_admin(session: Session) -> Credentials:
    """The city administrator, with a random password and a 1-day API token."""
    password = secrets.token_urlsafe(12)
    security.create_user(session, username=ADMIN, password=password, role="city_admin",
                         display_name="demo city administrator", by=ACTOR)
    token, _row = security.issue_token(session, username=ADMIN, name="gasguard demo", ttl_days=1, by=ACTOR)
    return Credentials(ADMIN, password, token)


def catalogue_model(heartbeat_s: int) -> dict[str, Any]:
    """The virtual board as a catalogue entry: an MQ-4 methane alarm with a linked shutoff."""
    return dict(code=MODEL_CODE, kind="alarm_shutoff", maker="gasguard (virtual board)", model="SIM-MQ4",
                gas="methane", sensor="MQ-4 semiconductor", calibration_interval_days=365,
                sensor_life_days=1825, service_life_days=3650, heartbeat_interval_s=heartbeat_s,
                offline_grace_s=3 * heartbeat_s, approved=True,
                notes="the `sim` board of boards/defs, running the real firmware on MicroPython")


def add_model(session: Session, heartbeat_s: int) -> str:
    data = catalogue_model(heartbeat_s)
    life = ModelLife(kind=data["kind"], calibration_interval_days=data["calibration_interval_days"],
                     sensor_life_days=data["sensor_life_days"], service_life_days=data["service_life_days"])
    problems = model_problems(life)
    if problems:  # the demo's own entry must pass the catalogue rules it shows off
        raise ValueError(f"catalogue model {MODEL_CODE}: " + "; ".join(problems))
    create_model(session, data=data)
    session.flush()
    return MODEL_CODE


def ledger_bytes(boards: int) -> bytes:
    """The township's ledger as an Excel file, in the template township staff fill in."""
    wb = template_workbook()
    ws = wb["台账"]
    for acct, name, category, community, address, contact in business_sites(boards) + list(HOUSEHOLDS):
        ws.append([acct, name, category, "管道气", TOWNSHIP, community, address, contact, "0371-6000000", None])
    buf = BytesIO()
    save(wb, buf)
    return buf.getvalue()


def import_sites(session: Session, data: bytes) -> int:
    result = import_ledger(session, data, township=TOWNSHIP, actor=ACTOR)
    if not result.written:
        raise ValueError("the demo ledger was refused: " + "; ".join(str(e) for e in result.rejected))
    return result.created


def enrolment_token(session: Session, boards: int) -> str:
    """One installer's token for the demo's batch of boards (bound to them on first use)."""
    token, row = issue_enrolment_token(session, installer=INSTALLER, issued_by=ACTOR, ttl_s=8 * 3600)
    set_limit(session, row.id, boards)
    return token


def record_board_install(session: Session, account_no: str, device_id: str) -> int:
    """The installer's record: the alarm with its shutoff (this device) and a metal hose."""
    site = site_by_account(session, account_no)
    inst = record_install(session, site_id=site.id, installed_on=now().date(), installer=INSTALLER,
                          items=[ItemSpec("alarm_shutoff", MODEL_CODE, serial=device_id, location="kitchen"),
                                 ItemSpec("hose", location="kitchen")],
                          note="gasguard demo: virtual board")
    return inst.id
