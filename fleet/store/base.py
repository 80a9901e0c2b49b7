"""The declarative base every fleet table derives from.

A fixed naming convention gives constraints and indexes stable names, so Alembic migrations
written by hand (and the ones autogenerate proposes) agree on SQLite and PostgreSQL alike.
Other fleet packages (lifecycle, campaign) add their tables to this same `Base.metadata`."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Root of the fleet's ORM classes; its metadata is Alembic's target."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
