"""Provisioning tables (Alembic revision `0003_provision`): enrolment tokens, each device's own
OSCORE key material, and acceptance test results.

Why tables of their own: fleet/store/models.py has no place for key material, and a key has a
life of its own (issued, re-issued with `--rekey`) that the device row should not carry.
Device rows are referred to by their protocol id (`device_id`), as the core tables do, but
without a foreign key: a key is issued before the device has ever talked to the fleet."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fleet.core.clock import now
from fleet.store.base import Base
from fleet.store.types import JSONType, UTCDateTime


class EnrolmentToken(Base):
    """A short-lived bearer token for one installer. Only its SHA-256 is stored, so a copy of
    the database does not hand out working tokens."""

    __tablename__ = "enrolment_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    installer: Mapped[str] = mapped_column(String(128))
    issued_by: Mapped[str] = mapped_column(String(128))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uses: Mapped[int] = mapped_column(Integer, default=0)


class DeviceCredential(Base):
    """The device's OSCORE key material as the fleet sees it (docs/oscore.md section 2; the
    device's Sender ID is the fleet's Recipient ID). Hex strings, like /config.json.

    `master_secret` is sealed (AES-GCM under the fleet's credential key, fleet/coap/oscore_vault.py);
    the salt, IDs and ID Context are not secret (RFC 8613 §3.3). The last three columns are the
    fleet's side of the running security context (fleet/coap/oscore_keys.py, revision
    `0005_oscore`): how far the fleet's sender sequence number is reserved, its replay window
    for the device, and since when the device speaks OSCORE (from then on plain uplinks naming
    it are refused)."""

    __tablename__ = "device_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(32), unique=True)
    uid: Mapped[str | None] = mapped_column(String(64))
    sender_id: Mapped[str] = mapped_column(String(14), unique=True)
    recipient_id: Mapped[str] = mapped_column(String(14))
    master_secret: Mapped[str] = mapped_column(String(128))
    master_salt: Mapped[str] = mapped_column(String(64))
    id_context: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    issued_to: Mapped[str] = mapped_column(String(128))
    seq_limit: Mapped[int] = mapped_column(BigInteger, default=0)
    replay_state: Mapped[str] = mapped_column(String(64), default="new")
    oscore_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AcceptanceTest(Base):
    """The result of one acceptance test on site (test gas: alarm, buzzer, valve, fleet event),
    tied to the install that put the device in when the ledger has one."""

    __tablename__ = "acceptance_tests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(32), index=True)
    site_code: Mapped[str | None] = mapped_column(String(64))
    install_id: Mapped[int | None] = mapped_column(ForeignKey("installs.id"), index=True)
    result: Mapped[str] = mapped_column(String(8))
    checks: Mapped[dict[str, Any]] = mapped_column(JSONType)
    method: Mapped[str] = mapped_column(String(16))
    installer: Mapped[str] = mapped_column(String(128))
    tested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    note: Mapped[str | None] = mapped_column(Text)
