"""The product catalogue and the sites register: create, update, read, list.

Both are keyed twice (a row id, and a natural key: the model code a device sends, the gas
company's account number), so the same four helpers serve both."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from fleet.core.errors import Conflict, NotFound
from fleet.services import queries
from fleet.store.base import Base
from fleet.store.models import ProductModel, Site

R = TypeVar("R", bound=Base)


def _create(session: Session, cls: type[R], key: InstrumentedAttribute[str], data: dict[str, Any],
            what: str, reason: str) -> R:
    value = data[key.key]
    if session.scalars(select(key).where(key == value)).first() is not None:
        raise Conflict(f"{what} {value!r} already exists", reason=reason)
    row = cls(**data)
    session.add(row)
    session.flush()
    return row


def _get(session: Session, cls: type[R], row_id: int, what: str, reason: str) -> R:
    row = session.get(cls, row_id)
    if row is None:
        raise NotFound(f"{what} {row_id} not found", reason=reason)
    return row


def _by_key(session: Session, key: InstrumentedAttribute[str], value: str, what: str, reason: str) -> Any:
    row = session.scalars(select(key.class_).where(key == value)).first()
    if row is None:
        raise NotFound(f"{what} {value!r} not found", reason=reason)
    return row


def _update(row: R, data: dict[str, Any]) -> R:
    for k, v in data.items():
        setattr(row, k, v)
    return row


def create_model(session: Session, *, data: dict[str, Any]) -> ProductModel:
    return _create(session, ProductModel, ProductModel.code, data, "product model", "model_exists")


def get_model(session: Session, model_id: int) -> ProductModel:
    return _get(session, ProductModel, model_id, "product model", "model_not_found")


def model_by_code(session: Session, code: str) -> ProductModel:
    return _by_key(session, ProductModel.code, code, "product model", "model_not_found")  # type: ignore[no-any-return]


def update_model(session: Session, *, model_id: int, data: dict[str, Any]) -> ProductModel:
    return _update(get_model(session, model_id), data)


def list_models(session: Session, *, kind: str | None, approved: bool | None, offset: int,
                limit: int) -> tuple[list[ProductModel], int]:
    stmt = select(ProductModel)
    if kind:
        stmt = stmt.where(ProductModel.kind == kind)
    if approved is not None:
        stmt = stmt.where(ProductModel.approved.is_(approved))
    return queries.page(session, stmt, offset=offset, limit=limit, order=ProductModel.code)


def create_site(session: Session, *, data: dict[str, Any]) -> Site:
    return _create(session, Site, Site.account_no, data, "site with account number", "site_exists")


def get_site(session: Session, site_id: int) -> Site:
    return _get(session, Site, site_id, "site", "site_not_found")


def site_by_account(session: Session, account_no: str) -> Site:
    return _by_key(session, Site.account_no, account_no, "site with account number", "site_not_found")  # type: ignore[no-any-return]


def update_site(session: Session, *, site_id: int, data: dict[str, Any]) -> Site:
    return _update(get_site(session, site_id), data)


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
