"""The dashboard overview lists the first OVERVIEW_ALARMS active alarms (open before acknowledged,
newest first) with the total count, a link to show more and one to the alarms API; `?alarms=N`
changes how many (fleet/web/routes.py). SQLite and PostgreSQL, through the app (no browser)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from fleet.store.models import Alarm, Device
from fleet.web.routes import ALARMS_API, OVERVIEW_ALARMS

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)


def _seed(db: Any, open_n: int, acked_n: int) -> None:
    with db.session() as s:
        for i in range(open_n + acked_n):
            dev = "gg-cap%08d" % i
            s.add(Device(device_id=dev, online=True))
            s.flush()
            acked = i >= open_n  # the acknowledged ones are the newest: still listed after every open one
            s.add(Alarm(device_id=dev, state="acknowledged" if acked else "open", level=1, opened_at=T0 + timedelta(minutes=i)))
        s.commit()


def _rows(html: str) -> list[tuple[str, str]]:
    """(state, device id) of each listed alarm, in page order."""
    return re.findall(r'<tr class="alarm alarm-(\w+)" data-alarm-id="\d+">\s*<td>.*?</td>\s*<td><a href="/devices/([\w-]+)">',
                      html, re.S)


def test_overview__first_alarms_with_total_and_links(db: Any, api_client: Any) -> None:
    _seed(db, OVERVIEW_ALARMS + 5, 2)
    total = OVERVIEW_ALARMS + 7
    html = api_client.get("/", params={"lang": "en"}).text
    rows = _rows(html)
    assert len(rows) == OVERVIEW_ALARMS == 50
    newest_open = "gg-cap%08d" % (OVERVIEW_ALARMS + 4)
    assert rows[0] == ("open", newest_open) and rows[-1] == ("open", "gg-cap%08d" % 5)  # open first, newest first
    assert f'<strong id="alarms-shown">{OVERVIEW_ALARMS}</strong>' in html
    assert f'<strong id="active-count">{total}</strong>' in html
    assert f'id="more-alarms" href="/?alarms={total}"' in html and f'href="{ALARMS_API}"' in html

    html = api_client.get("/", params={"lang": "en", "alarms": total}).text
    rows = _rows(html)
    assert len(rows) == total and rows[-2:] == [("acknowledged", "gg-cap%08d" % (total - 1)),
                                                ("acknowledged", "gg-cap%08d" % (total - 2))]
    assert 'id="more-alarms"' not in html  # everything is shown

    html = api_client.get("/", params={"alarms": 3, "lang": "zh"}).text
    assert len(_rows(html)) == 3 and "显示 <strong" in html
    assert api_client.get("/", params={"alarms": 0}).status_code == 422


def test_overview__no_alarms(api_client: Any) -> None:
    html = api_client.get("/", params={"lang": "en"}).text
    assert 'id="no-alarms"' in html and 'id="alarm-counts"' not in html
