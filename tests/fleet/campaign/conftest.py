"""Campaign fixtures: ledgers built in memory, a small catalogue, a two-township town with
installs, and the fleet clock set to a chosen day."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timezone

import pytest

from campaign_factories import HOSE, TOWN, VALVE, ItemSpec, add_catalogue  # noqa: F401 - re-exported
from fleet.campaign import service
from fleet.core import clock as clock_mod
from fleet.store.models import Site


@pytest.fixture
def set_day() -> Iterator[Callable[[date], clock_mod.FrozenClock]]:
    def _set(day: date, hour: int = 9) -> clock_mod.FrozenClock:
        fc = clock_mod.FrozenClock(datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc))
        clock_mod.set_clock(fc)
        return fc

    yield _set
    clock_mod.set_clock(None)


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
