"""fleet/tasks/notifier.py against a real local HTTP server: retries until delivered, gives up
after the configured attempts."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fleet.core.clock import FrozenClock
from fleet.ingest.core import Ingestor, Item
from fleet.runtime import Fleet
from fleet.store.db import Database
from fleet.store.models import Notification
from fleet.tasks.notifier import deliver_once
from utils import fleet_factories as ff
from utils.fleet_runtime import make_settings

DEV = "gg-a4cf12b3c4d5"


class Dispatch:
    """A webhook receiver that fails the first `fail_first` requests with 503."""

    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.received.append(body)
                status = 503 if len(outer.received) <= outer.fail_first else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dispatch_factory() -> Iterator[Any]:
    made: list[Dispatch] = []

    def make(fail_first: int) -> Dispatch:
        d = Dispatch(fail_first)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def _open_alarm(db: Database) -> None:
    with db.session() as s:
        site = ff.site(s, account_no="XY000042", name="豫香饭店")
        ff.device(s, DEV, site_id=site.id)
        s.commit()
        Ingestor(make_settings(db.url)).process(s, [Item("event", ff.event(DEV, 1, "alarm", lvl=2, lel=40.0),
                                                           at=ff.at())])
        s.commit()


def _run(db: Database, url: str, rounds: int, clock: FrozenClock, **kw: Any) -> None:
    async def main() -> None:
        fleet = Fleet(make_settings(db.url, webhook_url=url, **kw), database=Database(db.url))
        await fleet.start(coap=False, background=False)
        try:
            async with httpx.AsyncClient() as client:
                for _ in range(rounds):
                    await deliver_once(fleet, client)
                    clock.advance(3600)  # past any backoff
        finally:
            await fleet.stop()

    asyncio.run(main())


def test_deliver__retries_until_2xx(db: Database, frozen_clock: FrozenClock, dispatch_factory: Any) -> None:
    _open_alarm(db)
    hook = dispatch_factory(fail_first=2)
    _run(db, hook.url, rounds=4, clock=frozen_clock)
    assert len(hook.received) == 3
    body = hook.received[-1]
    assert (body["topic"], body["device_id"], body["level"], body["peak_lel"]) == ("alarm.opened", DEV, 2, 40.0)
    assert body["site"]["account_no"] == "XY000042" and body["site"]["name"] == "豫香饭店"
    with db.session() as s:
        n = s.scalars(select(Notification)).one()
        assert (n.state, n.attempts, n.last_error) == ("delivered", 3, None)


def test_deliver__gives_up_after_max_attempts(db: Database, frozen_clock: FrozenClock, dispatch_factory: Any) -> None:
    _open_alarm(db)
    hook = dispatch_factory(fail_first=100)
    _run(db, hook.url, rounds=5, clock=frozen_clock, webhook_max_attempts=3)
    assert len(hook.received) == 3
    with db.session() as s:
        n = s.scalars(select(Notification)).one()
        assert (n.state, n.attempts, n.last_error) == ("failed", 3, "HTTP 503")


def test_deliver__backoff_doubles(db: Database, frozen_clock: FrozenClock, dispatch_factory: Any) -> None:
    _open_alarm(db)
    hook = dispatch_factory(fail_first=100)

    async def main() -> list[float]:
        fleet = Fleet(make_settings(db.url, webhook_url=hook.url, webhook_backoff_s=10), database=Database(db.url))
        await fleet.start(coap=False, background=False)
        delays = []
        try:
            async with httpx.AsyncClient() as client:
                for _ in range(3):
                    await deliver_once(fleet, client)

                    def nxt() -> float:
                        with fleet.db.session() as s:
                            n = s.scalars(select(Notification)).one()
                            return (n.next_attempt_at - frozen_clock()).total_seconds()

                    d = await fleet.writer.run(nxt)
                    delays.append(d)
                    await deliver_once(fleet, client)  # not due yet: nothing sent
                    frozen_clock.advance(d)
        finally:
            await fleet.stop()
        return delays

    assert asyncio.run(main()) == [10.0, 20.0, 40.0]
    assert len(hook.received) == 3
