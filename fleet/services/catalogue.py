"""The product catalogue and the sites register: create, update, read, list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fleet.core.errors import Conflict, NotFound
from fleet.services import queries
from fleet.store.models import ProductModel, Site


def create_model(session: Session, *, data: dict[str, Any]) -> ProductModel:
    if session.scalars(select(ProductModel.id).where(ProductModel.code == data["code"])).first() is not None:
        raise Conflict(f"product model {data['code']!r} already exists", reason="model_exists")
    pm = ProductModel(**data)
    session.add(pm)
    session.flush()
    return pm


def get_model(session: Session, model_id: int) -> ProductModel:
    pm = session.get(ProductModel, model_id)
    if pm is None:
        raise NotFound(f"product model {model_id} not found", reason="model_not_found")
    return pm


def model_by_code(session: Session, code: str) -> ProductModel:
    pm = session.scalars(select(ProductModel).where(ProductModel.code == code)).first()
    if pm is None:
        raise NotFound(f"product model {code!r} not found", reason="model_not_found")
    return pm


def update_model(session: Session, *, model_id: int, data: dict[str, Any]) -> ProductModel:
    pm = get_model(session, model_id)
    for k, v in data.items():
        setattr(pm, k, v)
    return pm


def list_models(session: Session, *, kind: str | None, approved: bool | None, offset: int,
                limit: int) -> tuple[list[ProductModel], int]:
    stmt = select(ProductModel)
    if kind:
        stmt = stmt.where(ProductModel.kind == kind)
    if approved is not None:
        stmt = stmt.where(ProductModel.approved.is_(approved))
    return queries.page(session, stmt, offset=offset, limit=limit, order=ProductModel.code)


def create_site(session: Session, *, data: dict[str, Any]) -> Site:
    if session.scalars(select(Site.id).where(Site.account_no == data["account_no"])).first() is not None:
        raise Conflict(f"site with account number {data['account_no']!r} already exists", reason="site_exists")
    site = Site(**data)
    session.add(site)
    session.flush()
    return site


def get_site(session: Session, site_id: int) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(f"site {site_id} not found", reason="site_not_found")
    return site


def site_by_account(session: Session, account_no: str) -> Site:
    site = session.scalars(select(Site).where(Site.account_no == account_no)).first()
    if site is None:
        raise NotFound(f"site with account number {account_no!r} not found", reason="site_not_found")
    return site


def update_site(session: Session, *, site_id: int, data: dict[str, Any]) -> Site:
    site = get_site(session, site_id)
    for k, v in data.items():
        setattr(site, k, v)
    return site


def list_sites(session: Session, *, township: str | None, category: str | None, supply: str | None,
               q: str | None, offset: int, limit: int) -> tuple[list[Site], int]:
    stmt = select(Site)
    if township:
        stmt = stmt.where(Site.township == township)
    if category:
        stmt = stmt.where(Site.category == category)
    if supply:
        stmt = stmt.where(Site.supply == supply)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Site.name.like(like), Site.account_no.like(like), Site.address.like(like)))
    return queries.page(session, stmt, offset=offset, limit=limit, order=Site.account_no)
