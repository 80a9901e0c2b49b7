"""Security tables (Alembic revision `0004_security`) on the fleet's `Base`.

Secrets are never stored: API tokens, session ids and passwords are kept as hashes (SHA-256 for
random tokens, which have full entropy; argon2id for passwords, which do not)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fleet.core.clock import now
from fleet.store.base import Base
from fleet.store.types import UTCDateTime


class User(Base):
    """A person who signs in. `township` is set for township staff only (their scope)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    township: Mapped[str | None] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class ApiToken(Base):
    """A bearer token for the API, for one user, until `expires_at` (or revoked)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")


class WebSession(Base):
    """A dashboard sign-in: the cookie holds the session id (hashed here) and every
    state-changing form carries `csrf` (stored as is: it is only compared, never a credential)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    session_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    address: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User] = relationship(lazy="joined")


class EnrolmentBinding(Base):
    """Which devices an installer's enrolment token has been used for (first use binds), so a
    token covers one device or a small batch, never the fleet. `max_devices` is copied on
    every row of the token (the first row's value rules)."""

    __tablename__ = "enrolment_bindings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("enrolment_tokens.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(String(32))
    max_devices: Mapped[int] = mapped_column(Integer)
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
