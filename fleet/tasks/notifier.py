"""Deliver queued notifications (alarm opened, alarm escalated) to the dispatch webhook.

Notifications are rows (`notifications`), written in the same transaction as the alarm change,
so a crash cannot lose one. Each is POSTed as JSON; a 2xx answer marks it delivered, anything
else is retried with doubling delays (`webhook_backoff_s`, x2 each time) until
`webhook_max_attempts`, then it is marked failed (visible in the API and logged as an error)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import select

from fleet.core.clock import now
from fleet.store.models import Notification

if TYPE_CHECKING:
    from fleet.runtime import Fleet

log = logging.getLogger(__name__)


def _due(fleet: "Fleet", limit: int = 50) -> list[tuple[int, dict]]:
    with fleet.db.session() as session:
        rows = session.scalars(
            select(Notification)
            .where(Notification.state == "pending", Notification.next_attempt_at <= now())
            .order_by(Notification.id)
            .limit(limit)
        ).all()
        return [(n.id, dict(n.payload)) for n in rows]


def _record(fleet: "Fleet", nid: int, ok: bool, error: str | None) -> None:
    s = fleet.settings
    with fleet.db.session() as session:
        n = session.get(Notification, nid)
        if n is None:
            return
        t = now()
        n.attempts += 1
        if ok:
            n.state = "delivered"
            n.delivered_at = t
            n.last_error = None
        else:
            n.last_error = error
            if n.attempts >= s.webhook_max_attempts:
                n.state = "failed"
                log.error("notification %s (%s) not delivered after %d attempts: %s", n.id, n.topic, n.attempts, error)
            else:
                n.next_attempt_at = t + timedelta(seconds=s.webhook_backoff_s * 2 ** (n.attempts - 1))
                log.info("notification %s attempt %d failed (%s); retry at %s", n.id, n.attempts, error,
                         n.next_attempt_at.isoformat())
        session.commit()


async def deliver_once(fleet: "Fleet", client: httpx.AsyncClient) -> int:
    """Try every due notification once; returns how many were delivered."""
    url = fleet.settings.webhook_url
    if not url:
        return 0
    delivered = 0
    for nid, payload in await fleet.writer.run(_due, fleet):
        try:
            resp = await client.post(url, json=payload, timeout=fleet.settings.webhook_timeout_s,
                                     headers={"X-Gasguard-Notification": str(nid)})
            ok = 200 <= resp.status_code < 300
            err = None if ok else f"HTTP {resp.status_code}"
        except httpx.HTTPError as e:
            ok, err = False, f"{type(e).__name__}: {e}"
        await fleet.writer.run(_record, fleet, nid, ok, err)
        delivered += ok
    return delivered


async def run_notifier(fleet: "Fleet") -> None:
    async with httpx.AsyncClient() as client:
        while True:
            try:
                await asyncio.wait_for(fleet.notify_kick.wait(), timeout=1.0)
            except (TimeoutError, asyncio.TimeoutError):
                pass
            fleet.notify_kick.clear()
            try:
                await deliver_once(fleet, client)
            except Exception as e:  # noqa: BLE001
                log.error("notifier pass failed: %r", e, exc_info=True)
