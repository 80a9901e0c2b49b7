"""Dependencies the routes declare, as `Annotated` aliases: the running fleet, a database
session per request, the settings, and the shared pagination parameters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

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
