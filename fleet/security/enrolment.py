"""Installer enrolment tokens, hardened: short-lived (fleet/provision issues them, at most a
day; ours at most 8 hours) and bound to the devices they enrol, one device or a small batch.

The first use of a token for a device binds that device to it; once `max_devices` devices are
bound, the token is refused for any other device (403), so a lost laptop's token cannot touch
the rest of the fleet. The guard (fleet/security/guard.py) calls `check_device` before every
`/api/v1/provision/devices/{device_id}/...` route; fleet/provision keeps its own expiry and
revocation check behind it."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet.core.clock import now
from fleet.core.errors import BadInput
from fleet.provision.models import EnrolmentToken
from fleet.security.models import EnrolmentBinding
from fleet.security.service import AuthError, sha256

DEFAULT_MAX_DEVICES = 5  # a small batch: one visit's worth of alarms
MAX_DEVICES_CAP = 20
TTL_MAX_S = 8 * 3600  # one working day on site


class TokenOverused(Exception):
    """The token is valid but already bound to its full batch of other devices (HTTP 403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def set_limit(session: Session, token_id: int, max_devices: int) -> None:
    if not 1 <= max_devices <= MAX_DEVICES_CAP:
        raise BadInput(f"max_devices: expected 1..{MAX_DEVICES_CAP}, got {max_devices}")
    session.add(EnrolmentBinding(token_id=token_id, device_id=None, max_devices=max_devices, bound_at=now()))


def limit_of(session: Session, token_id: int) -> int:
    first = session.scalars(select(EnrolmentBinding.max_devices).where(EnrolmentBinding.token_id == token_id)
                            .order_by(EnrolmentBinding.id)).first()
    return first if first is not None else DEFAULT_MAX_DEVICES


def bound_devices(session: Session, token_id: int) -> list[str]:
    return list(session.scalars(select(EnrolmentBinding.device_id).where(
        EnrolmentBinding.token_id == token_id, EnrolmentBinding.device_id.is_not(None)).order_by(EnrolmentBinding.id)))


def check_device(session: Session, token: str, device_id: str | None) -> EnrolmentToken:
    """The token's row if it may act on `device_id` (binding the device on first use; None:
    a route about no device); AuthError (401) for an unknown, revoked or expired token, in
    fleet/provision's own words, TokenOverused (403) past its batch."""
    from fleet.provision.service import NotAuthorised, check_token

    try:
        with session.begin_nested():  # its validity rules, without counting this look as a use
            row = check_token(session, token)
            raise _Valid(row.id)
    except NotAuthorised as e:
        raise AuthError(e.message, e.reason) from None
    except _Valid as v:
        row = session.get(EnrolmentToken, v.token_id)
    assert row is not None
    bound = bound_devices(session, row.id)
    if device_id is None or device_id in bound:
        return row
    limit = limit_of(session, row.id)
    if len(bound) >= limit:
        raise TokenOverused(f"enrolment token of {row.installer} is for {limit} device(s), already used for "
                            f"{', '.join(bound)}; ask the fleet operator for a new token for {device_id}")
    session.add(EnrolmentBinding(token_id=row.id, device_id=device_id, max_devices=limit, bound_at=now()))
    return row


class _Valid(Exception):
    def __init__(self, token_id: int) -> None:
        self.token_id = token_id


def count_bindings(session: Session, token_id: int) -> int:
    return session.scalar(select(func.count()).select_from(EnrolmentBinding).where(
        EnrolmentBinding.token_id == token_id, EnrolmentBinding.device_id.is_not(None))) or 0
