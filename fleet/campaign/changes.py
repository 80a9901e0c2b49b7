"""The campaign's change counter: how the progress snapshot knows it is out of date.

Every transaction that writes a table `service.progress()` reads (sites, assets, installs,
install items, inspections, findings) adds one to `campaign_progress_state.changes`, in that
same transaction, just before it commits. A reader that sees the new count therefore also sees
the rows that caused it, so a refresh that reads the count *before* it computes can record that
count as "what these figures include" without ever missing a write (a write committed during the
computation leaves the count ahead of the recorded one, and the next refresh picks it up).

Counted automatically, by SQLAlchemy session events installed once per process (`install()`,
called when fleet.campaign.models is imported, i.e. wherever the campaign tables are mapped):
- ORM flushes that insert or delete a row of those tables, or change a column of one;
- ORM-enabled `session.execute(insert/update/delete(...))` on those tables.
Writes that bypass the ORM session (a DBAPI bulk load such as bench/perf/million.py, a hand-run
SQL script) must call `bump(connection)` themselves; the background refresh also recomputes at
least once a day (the date change) whatever the counter says.

Why not bump at flush: the row lock on PostgreSQL would then be held from the first flush to the
commit; bumping in `before_commit` holds it only for the commit itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, column, event, insert, select, table, update
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

# The tables service.progress() reads (Site, Asset, Install, Inspection, Finding) and InstallItem,
# written with every install (cheap to count, and a later progress figure may read it).
WATCHED_TABLES = frozenset({"sites", "assets", "installs", "install_items", "inspections", "findings"})

_STATE = table("campaign_progress_state", column("id"), column("changes"))
_FLAG = "gasguard_campaign_changed"
_installed = False


def _watched(obj: Any) -> bool:
    t = getattr(obj, "__table__", None)
    return t is not None and t.name in WATCHED_TABLES


def _after_flush(session: Session, _ctx: UOWTransaction) -> None:
    # Still the pre-flush view here: new / dirty / deleted are what this flush wrote.
    if session.info.get(_FLAG):
        return
    if any(_watched(o) for o in session.new) or any(_watched(o) for o in session.deleted):
        session.info[_FLAG] = True
        return
    # A dirty object may only have had a collection appended to (a device linked to a site):
    # that writes no column of the watched row.
    if any(_watched(o) and session.is_modified(o, include_collections=False) for o in session.dirty):
        session.info[_FLAG] = True


def _on_execute(state: ORMExecuteState) -> None:
    if state.is_select or session_flagged(state.session):
        return
    target = getattr(state.statement, "table", None)
    if getattr(target, "name", None) in WATCHED_TABLES:
        state.session.info[_FLAG] = True


def session_flagged(session: Session) -> bool:
    """Whether this session's transaction has written a watched table (not yet counted)."""
    return bool(session.info.get(_FLAG))


def _before_commit(session: Session) -> None:
    session.flush()  # the commit's own flush comes after this hook; do it now so it is counted
    if session.info.pop(_FLAG, False):
        bump(session.connection())


def _after_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction ended (commit or rollback)
        session.info.pop(_FLAG, None)


def bump(connection: Connection) -> None:
    """Count one change, in `connection`'s transaction (the caller commits)."""
    done = connection.execute(update(_STATE).where(_STATE.c.id == 1).values(changes=_STATE.c.changes + 1))
    if done.rowcount == 0:  # the row is created by migration 0008; a table emptied by hand lost it
        connection.execute(insert(_STATE).values(id=1, changes=1))


def current(connection: Connection) -> int:
    """The change count now (0 when the state row is missing)."""
    return int(connection.execute(select(_STATE.c.changes).where(_STATE.c.id == 1)).scalar() or 0)


def install() -> None:
    """Register the session hooks on every Session (once per process)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _on_execute)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_transaction_end", _after_end)
    _installed = True
