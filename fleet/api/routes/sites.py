"""/api/v1/sites: gas users."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, status

from fleet.api.deps import PageDep, SessionDep, WriteDep
from fleet.api.schemas import SiteCreate, SitePublic, SitesPublic, SiteUpdate
from fleet.services import catalogue

router = APIRouter(prefix="/sites", tags=["sites"])


@router.get("", response_model=SitesPublic)
def list_sites(session: SessionDep, page: PageDep, township: str | None = None,
               category: Literal["residential", "non_residential"] | None = None,
               supply: Literal["pipeline", "lpg"] | None = None, q: str | None = None) -> SitesPublic:
    rows, count = catalogue.list_sites(session, township=township, category=category, supply=supply, q=q,
                                       offset=page.offset, limit=page.limit)
    return SitesPublic(data=[SitePublic.model_validate(r) for r in rows], count=count)


@router.post("", response_model=SitePublic, status_code=status.HTTP_201_CREATED)
async def create_site(write: WriteDep, body: SiteCreate) -> SitePublic:
    return await write(lambda s: SitePublic.model_validate(catalogue.create_site(s, data=body.model_dump())))


@router.get("/{site_id}", response_model=SitePublic)
def get_site(session: SessionDep, site_id: int) -> SitePublic:
    return SitePublic.model_validate(catalogue.get_site(session, site_id))


@router.patch("/{site_id}", response_model=SitePublic)
async def update_site(write: WriteDep, site_id: int, body: SiteUpdate) -> SitePublic:
    data = body.model_dump(exclude_unset=True)
    return await write(lambda s: SitePublic.model_validate(catalogue.update_site(s, site_id=site_id, data=data)))
