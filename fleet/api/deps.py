"""Dependencies the routes declare, as `Annotated` aliases: the running fleet, a database
session per request, the settings, and the shared pagination parameters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from fleet.core.config import Settings
from fleet.runtime import Fleet


def get_fleet(request: Request) -> Fleet:
    return request.app.state.fleet  # type: ignore[no-any-return]


def get_session(request: Request) -> Iterator[Session]:
    fleet: Fleet = request.app.state.fleet
    with fleet.db.session() as session:
        yield session


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.fleet.settings  # type: ignore[no-any-return]


T = TypeVar("T")


class StoreWriter:
    """Runs a change in the fleet's one database thread and commits it.

    Routes that write go through here instead of writing from the request thread pool: on SQLite
    every write then comes from one thread (no "database is locked" when a request's transaction
    meets an ingest commit), and on PostgreSQL nothing changes but the thread."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    async def __call__(self, fn: Callable[[Session], T]) -> T:
        def run() -> T:
            with self.fleet.db.session() as session:
                out = fn(session)
                session.commit()
                return out

        return await self.fleet.writer.run(run)  # type: ignore[no-any-return]


def get_store_writer(request: Request) -> StoreWriter:
    return StoreWriter(request.app.state.fleet)


class Page:
    """offset/limit pagination; every list answers {data, count} with count = all matches."""

    def __init__(
        self,
        offset: Annotated[int, Query(ge=0, description="rows to skip")] = 0,
        limit: Annotated[int, Query(ge=1, le=500, description="rows to return (at most 500)")] = 50,
    ) -> None:
        self.offset = offset
        self.limit = limit


FleetDep = Annotated[Fleet, Depends(get_fleet)]
SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
PageDep = Annotated[Page, Depends(Page)]
WriteDep = Annotated[StoreWriter, Depends(get_store_writer)]
