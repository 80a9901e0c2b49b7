"""Township scope: while a township staff member's request runs, every ORM query sees only
their township's rows.

The one scoping helper is a SQLAlchemy `do_orm_execute` hook (the ORM's documented way to add
"global criteria"): for the duration of `scoped(township)` it adds `with_loader_criteria` to
every SELECT for
- `Site`: township = the user's;
- every mapped class with a `site_id` column (devices, alarms, assets, installs, findings, work
  orders...): site_id among those sites;
- every other mapped class with a `device_id` column (events, readings, gaps, commands...):
  device_id among those sites' devices.
Queries never have to remember the rule, and a table added later with a `site_id` or `device_id`
is covered the day it is mapped. `session.get()` is filtered too, so a record of another township
answers 404 (NotFound), exactly like one that does not exist."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from fleet.store.base import Base
from fleet.store.models import Device, Site

_township: ContextVar[str | None] = ContextVar("gasguard_township", default=None)
_installed = False


def current_township() -> str | None:
    return _township.get()


@contextmanager
def scoped(township: str | None) -> Iterator[None]:
    """Run the body with queries limited to `township` (None: no limit)."""
    token = _township.set(township)
    try:
        yield
    finally:
        _township.reset(token)


def set_township(township: str | None) -> None:
    """Set the scope for the rest of the current task (the ASGI request); no reset needed."""
    _township.set(township)


def _classes() -> tuple[list[type[Any]], list[type[Any]]]:
    by_site: list[type[Any]] = []
    by_device: list[type[Any]] = []
    for mapper in Base.registry.mappers:
        cls = mapper.class_
        cols = mapper.columns
        if cls is Site:
            continue
        if "site_id" in cols:
            by_site.append(cls)
        elif "device_id" in cols and cls is not Device:
            by_device.append(cls)
    return by_site, by_device


def _add_criteria(state: ORMExecuteState) -> None:
    township = _township.get()
    if township is None or not state.is_select:
        return
    sites = select(Site.id).where(Site.township == township)
    devices = select(Device.device_id).where(Device.site_id.in_(sites))
    by_site, by_device = _classes()
    options = [with_loader_criteria(Site, Site.township == township, include_aliases=True)]
    options += [with_loader_criteria(cls, cls.site_id.in_(sites), include_aliases=True) for cls in by_site]
    options += [with_loader_criteria(cls, cls.device_id.in_(devices), include_aliases=True) for cls in by_device]
    state.statement = state.statement.options(*options)


def install() -> None:
    """Register the hook on every Session (once per process)."""
    global _installed
    if not _installed:
        event.listen(Session, "do_orm_execute", _add_criteria)
        _installed = True
