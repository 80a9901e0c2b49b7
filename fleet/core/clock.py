"""The fleet's clock, replaceable in tests.

Everything that compares times (offline grace, escalation, command expiry, due dates) asks
`now()` here rather than `datetime.now`, so a test can move time forward without sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone


def _system_now() -> datetime:
    return datetime.now(timezone.utc)


_now: Callable[[], datetime] = _system_now


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return _now()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (None restores the system clock). Tests only."""
    global _now
    _now = fn or _system_now


class FrozenClock:
    """A clock that moves only when told: `clock.advance(seconds)`."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock start must be timezone-aware")
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> datetime:
        from datetime import timedelta

        self.t = self.t + timedelta(seconds=seconds)
        return self.t
