"""Campaign fixtures: ledgers built in memory, a small catalogue, a two-township town with
installs, and the fleet clock set to a chosen day."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timezone
from io import BytesIO
from typing import Any

import pytest
from openpyxl import Workbook

from fleet.campaign import service
from fleet.campaign.ledger import COLUMNS
from fleet.campaign.service import ItemSpec
from fleet.core import clock as clock_mod
from fleet.store.models import ProductModel, Site

HEADERS = [c.header for c in COLUMNS]


def ledger_bytes(rows: Sequence[Sequence[Any]], headers: Sequence[str] = HEADERS) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "台账"
    ws.append(list(headers))
    for r in rows:
        ws.append(list(r))
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.fixture
def set_day() -> Iterator[Callable[[date], clock_mod.FrozenClock]]:
    def _set(day: date, hour: int = 9) -> clock_mod.FrozenClock:
        fc = clock_mod.FrozenClock(datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc))
        clock_mod.set_clock(fc)
        return fc

    yield _set
    clock_mod.set_clock(None)


def add_catalogue(session) -> None:  # noqa: ANN001
    session.add_all([
        ProductModel(code="AS-OK", kind="alarm_shutoff", maker="M", model="AS1", approved=True,
                     calibration_interval_days=365, sensor_life_days=1825),
        ProductModel(code="ALM-OK", kind="alarm", maker="M", model="A1", approved=True, calibration_interval_days=365),
        ProductModel(code="ALM-NO", kind="alarm", maker="X", model="cheap", approved=False),
        ProductModel(code="SHUT-OK", kind="shutoff", maker="M", model="S1", approved=True),
        ProductModel(code="SCV", kind="self_closing_valve", maker="V", model="Z", service_life_days=3650),
        ProductModel(code="HOSE", kind="hose", maker="H", model="H", service_life_days=2920),
    ])
    session.flush()


# account -> (name, category, supply, township, community)
TOWN: dict[str, tuple[str, str, str, str, str]] = {
    "A-R1": ("户1", "residential", "pipeline", "城关镇", "东街"),
    "A-R2": ("户2", "residential", "pipeline", "城关镇", "东街"),
    "A-R3": ("户3", "residential", "pipeline", "城关镇", "西街"),
    "A-R4": ("户4", "residential", "pipeline", "城关镇", "西街"),
    "A-L1": ("户5", "residential", "lpg", "城关镇", "西街"),
    "A-N1": ("饭店1", "non_residential", "pipeline", "城关镇", "东街"),
    "A-N2": ("饭店2", "non_residential", "lpg", "城关镇", "西街"),
    "B-R1": ("户6", "residential", "pipeline", "广武镇", "南村"),
    "B-R2": ("户7", "residential", "pipeline", "广武镇", "南村"),
    "B-N1": ("厂1", "non_residential", "pipeline", "广武镇", "南村"),
}
VALVE, HOSE = ItemSpec("self_closing_valve", "SCV"), ItemSpec("hose", "HOSE")


@pytest.fixture
def town(db, set_day) -> dict[str, int]:  # noqa: ANN001
    """Ledgers in on 2022-04-01; installs in November 2023 (A-R4 and B-R2 nothing yet).
    Returns account -> site id."""
    set_day(date(2022, 4, 1))
    with db.session() as s:
        add_catalogue(s)
        sites = {}
        for acct, (name, cat, sup, tw, com) in TOWN.items():
            site = Site(account_no=acct, name=name, category=cat, supply=sup, township=tw, community=com,
                        address=f"{com}{acct}号")
            s.add(site)
            s.flush()
            sites[acct] = site.id
        s.commit()
    set_day(date(2023, 11, 30))
    plan = [
        ("A-R1", date(2023, 11, 3), [VALVE, HOSE], None),
        ("A-R2", date(2023, 11, 4), [VALVE], None),  # valve only: not yet compliant
        ("A-R3", date(2023, 11, 5), [VALVE, HOSE, ItemSpec("alarm", "ALM-NO", "AL-0003")], None),
        ("A-L1", date(2023, 11, 6), [HOSE], None),
        ("A-N1", date(2023, 11, 7), [ItemSpec("alarm_shutoff", "AS-OK", "AS-0001"), HOSE], 150000),
        ("A-N2", date(2023, 11, 8), [ItemSpec("alarm", "ALM-OK", "AL-0002")], 50000),
        ("B-R1", date(2023, 10, 20), [VALVE, HOSE], None),
        ("B-N1", date(2023, 11, 9), [ItemSpec("alarm", "ALM-OK", "AL-0004"), ItemSpec("shutoff", "SHUT-OK", "SH-0001"),
                                     HOSE], 200000),
    ]
    with db.session() as s:
        for acct, day, items, total in plan:
            service.record_install(s, site_id=sites[acct], installed_on=day, installer="安装队", items=items,
                                   total_fen=total)
        s.commit()
    return sites
