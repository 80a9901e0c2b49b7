"""The fleet's side of enrolment, free of HTTP: tokens, key issue, acceptance results.

Functions take a Session and keyword arguments and leave the commit to the caller, like the
other fleet services; errors are the fleet's domain errors (fleet/core/errors.py), plus
`NotAuthorised` for a bad enrolment token.

Key rules (docs/oscore.md section 6, "Rule for provisioning"):
- A device's key is created by the fleet (random Master Secret, Salt, ID Context; a Sender ID
  unique in the fleet) and kept here. Asking again returns the same key while it has not been
  used, so a provisioning run that failed before the board held the key can be repeated.
- Once the device has registered with the key, its secret never leaves the fleet again: the
  answer carries only its fingerprint, so the installer's tool can check the board still holds
  it. A board that lost it needs `rekey`: a new secret and a new ID Context, so its sequence
  numbers start cleanly and no nonce is ever reused."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.campaign.models import Install, InstallItem
from fleet.coap import oscore_vault
from fleet.core.clock import now
from fleet.core.errors import BadInput, Conflict, NotFound
from fleet.provision.models import AcceptanceTest, DeviceCredential, EnrolmentToken
from fleet.services import alarms, audit
from fleet.store.models import Alarm, AlarmState, Asset, AssetStatus, Device, Event

TOKEN_TTL_S = 8 * 3600  # one working day on site
TOKEN_TTL_MAX_S = 24 * 3600
SECRET_BYTES = 16  # AES-CCM-16-64-128: 16 is the minimum docs/oscore.md accepts
SALT_BYTES = 8
ID_CONTEXT_BYTES = 8
SENDER_ID_BYTES = 4  # up to 7 allowed; 4 random bytes, unique-checked
FLEET_SENDER_ID = ""  # the fleet's own Sender ID: the device's recipient_id


class NotAuthorised(Exception):
    """The enrolment token is missing, unknown, expired or revoked. Not a FleetError: the
    fleet's error table has no 401 row yet, so the router answers it itself (HTTP 401)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- enrolment tokens ---------------------------------------------------------------------------

def issue_token(session: Session, *, installer: str, issued_by: str, ttl_s: int = TOKEN_TTL_S
                ) -> tuple[str, EnrolmentToken]:
    """A new token for `installer`, valid `ttl_s` seconds. The token itself is returned once
    and never stored."""
    installer = (installer or "").strip()
    issued_by = (issued_by or "").strip()
    if not installer:
        raise BadInput("installer: say who the token is for")
    if not issued_by:
        raise BadInput("issued_by: say who issues the token")
    if not 60 <= ttl_s <= TOKEN_TTL_MAX_S:
        raise BadInput(f"ttl_s: expected 60..{TOKEN_TTL_MAX_S} seconds, got {ttl_s}")
    token = "gge_" + secrets.token_urlsafe(24)
    t = now()
    row = EnrolmentToken(token_sha256=_sha(token), installer=installer, issued_by=issued_by, issued_at=t,
                         expires_at=t + timedelta(seconds=ttl_s), uses=0)
    session.add(row)
    session.flush()
    audit.record(session, actor=issued_by, action="enrolment_token.issued", entity="enrolment_token",
                 entity_id=row.id, detail={"installer": installer, "expires_at": row.expires_at.isoformat()}, at=t)
    return token, row


def check_token(session: Session, token: str | None) -> EnrolmentToken:
    """The token's row, or NotAuthorised saying why (missing, unknown, expired, revoked)."""
    if not token:
        raise NotAuthorised("enrolment token required: send 'Authorization: Bearer <token>' "
                            "(gasguard provision --token, or $GASGUARD_ENROL_TOKEN)", reason="token_missing")
    row = session.scalars(select(EnrolmentToken).where(EnrolmentToken.token_sha256 == _sha(token))).first()
    if row is None:
        raise NotAuthorised("enrolment token not recognised; ask the fleet operator for a new one",
                            reason="token_unknown")
    t = now()
    if row.revoked_at is not None:
        raise NotAuthorised(f"enrolment token of {row.installer} was revoked at {row.revoked_at.isoformat()}",
                            reason="token_revoked")
    if row.expires_at <= t:
        raise NotAuthorised(f"enrolment token of {row.installer} expired at {row.expires_at.isoformat()}; "
                            "ask the fleet operator for a new one", reason="token_expired")
    row.uses += 1
    return row


def revoke_token(session: Session, *, token_id: int, by: str) -> EnrolmentToken:
    row = session.get(EnrolmentToken, token_id)
    if row is None:
        raise NotFound(f"enrolment token {token_id} not found", reason="token_not_found")
    if row.revoked_at is None:
        row.revoked_at = now()
        audit.record(session, actor=by, action="enrolment_token.revoked", entity="enrolment_token",
                     entity_id=row.id, at=row.revoked_at)
    return row


# --- keys ---------------------------------------------------------------------------------------

def oscore_section(cred: DeviceCredential, session: Session) -> dict[str, Any]:
    """The `oscore` section of the device's /config.json (docs/oscore.md section 2), with the
    Master Secret opened from its sealed form (fleet/coap/oscore_vault.py)."""
    stored = cred.master_secret
    secret = oscore_vault.box_for(session).open(cred.device_id, stored) if oscore_vault.is_sealed(stored) else stored
    return {"master_secret": secret, "master_salt": cred.master_salt, "sender_id": cred.sender_id,
            "recipient_id": cred.recipient_id, "id_context": cred.id_context}


def fingerprint(section: dict[str, Any]) -> str:
    """A short digest of key material, to compare the board's and the fleet's without sending
    the secret. The same function runs on the installer's side (fleet/provision/steps.py)."""
    parts = [str(section.get(k, "")) for k in ("master_secret", "master_salt", "sender_id", "recipient_id",
                                               "id_context")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@dataclass
class KeyAnswer:
    device_id: str
    version: int
    fingerprint: str
    in_use: bool
    created: bool
    oscore: dict[str, Any] | None  # None once in use: the secret is not sent again


def _in_use(session: Session, cred: DeviceCredential) -> bool:
    dev = session.scalars(select(Device).where(Device.device_id == cred.device_id)).first()
    return bool(dev and dev.registered_at and dev.registered_at >= cred.issued_at)


def _new_sender_id(session: Session) -> str:
    while True:
        sid = secrets.token_bytes(SENDER_ID_BYTES).hex()
        if session.scalars(select(DeviceCredential.id).where(DeviceCredential.sender_id == sid)).first() is None:
            return sid


def _answer(session: Session, cred: DeviceCredential, created: bool) -> KeyAnswer:
    in_use = _in_use(session, cred)
    section = oscore_section(cred, session)
    return KeyAnswer(device_id=cred.device_id, version=cred.version, fingerprint=fingerprint(section),
                     in_use=in_use, created=created, oscore=None if in_use else section)


def device_key(session: Session, *, device_id: str, uid: str | None, token: EnrolmentToken, rekey: bool = False
               ) -> KeyAnswer:
    """The device's key: created on first call, the same one after (until used), a new secret
    and ID Context with `rekey`. A uid other than the one the key was issued for is refused."""
    cred = session.scalars(select(DeviceCredential).where(DeviceCredential.device_id == device_id)).first()
    t = now()
    if cred is not None and uid and cred.uid and cred.uid != uid:
        raise Conflict(f"device {device_id!r} was keyed for chip uid {cred.uid}, not {uid}; "
                       "a replaced board needs its own device id", reason="uid_mismatch")
    if cred is not None and not rekey:
        return _answer(session, cred, created=False)
    if cred is None:
        cred = DeviceCredential(device_id=device_id, uid=uid, sender_id=_new_sender_id(session),
                                recipient_id=FLEET_SENDER_ID, version=0)
        session.add(cred)
    secret = secrets.token_bytes(SECRET_BYTES).hex()
    cred.master_secret = oscore_vault.box_for(session).seal(device_id, secret)  # never stored in clear
    cred.master_salt = secrets.token_bytes(SALT_BYTES).hex()
    cred.id_context = secrets.token_bytes(ID_CONTEXT_BYTES).hex()
    cred.version = (cred.version or 0) + 1
    cred.issued_at = t
    cred.issued_to = token.installer
    cred.uid = uid or cred.uid
    # a new key starts a new context: sequence numbers from 0, an empty replay window (the running
    # fleet notices the new ID Context and reloads, fleet/coap/oscore_keys.py)
    cred.seq_limit = 0
    cred.replay_state = "new"
    session.flush()
    audit.record(session, actor=token.installer, action="device_key.rekeyed" if cred.version > 1 else
                 "device_key.issued", entity="device", entity_id=device_id,
                 detail={"version": cred.version, "token_id": token.id,
                         "fingerprint": fingerprint(oscore_section(cred, session))},
                 at=t)
    return _answer(session, cred, created=True)


def get_credential(session: Session, device_id: str) -> DeviceCredential | None:
    """The device's key row, or None. `master_secret` is sealed: `oscore_section(cred, session)`
    opens it; the fleet's OSCORE layer builds contexts in fleet/coap/oscore_keys.py."""
    return session.scalars(select(DeviceCredential).where(DeviceCredential.device_id == device_id)).first()


def device_status(session: Session, *, device_id: str, after_seq: int = 0) -> dict[str, Any]:
    """What the installer's tool waits for, through a route its enrolment token may use: the
    registration, which event kinds arrived after `after_seq` (the acceptance test's alarm and
    valve_closed), and the valve as the device last reported it (closed / open / None). Sequence
    numbers, not clocks: the laptop's clock may be off."""
    dev = session.scalars(select(Device).where(Device.device_id == device_id)).first()
    if dev is None:
        return {"device_id": device_id, "known": False, "registered_at": None, "last_seq": 0, "fw": None,
                "site_code": None, "address": None, "online": False, "events_after": [], "valve": None}
    kinds = session.scalars(select(Event.kind).where(Event.device_id == device_id, Event.origin == "device",
                                                     Event.seq > after_seq).distinct())
    last_valve = session.scalars(select(Event.kind).where(
        Event.device_id == device_id, Event.origin == "device", Event.kind.in_(("valve_closed", "valve_reopened")))
        .order_by(Event.seq.desc()).limit(1)).first()
    valve = {"valve_closed": "closed", "valve_reopened": "open"}.get(last_valve or "")
    return {"device_id": device_id, "known": True, "registered_at": dev.registered_at, "last_seq": dev.last_seq or 0,
            "fw": dev.fw, "site_code": dev.site_code, "address": dev.address, "online": dev.online,
            "events_after": sorted(kinds), "valve": valve}


# --- acceptance ---------------------------------------------------------------------------------

def _install_for(session: Session, device_id: str, uid: str | None) -> int | None:
    """The install whose in-service device asset carries this device's id (or chip uid) as serial."""
    serials = [s for s in (device_id, uid) if s]
    row = session.execute(
        select(InstallItem.install_id)
        .join(Asset, Asset.id == InstallItem.asset_id)
        .where(Asset.serial.in_(serials), Asset.status == AssetStatus.in_service.value)
        .order_by(InstallItem.install_id.desc())
    ).first()
    return int(row[0]) if row else None


def record_acceptance(session: Session, *, device_id: str, result: str, checks: dict[str, Any], method: str,
                      token: EnrolmentToken, site: str | None = None, note: str | None = None,
                      resolve_test_alarm: bool = True, since: datetime | None = None) -> AcceptanceTest:
    """Store the result, put it on the device's timeline, and close the alarm the test gas
    raised (acknowledged and resolved by the installer, noted as a test), so no operator is
    left with an incident that was an acceptance test."""
    if result not in ("pass", "fail"):
        raise BadInput(f"result: expected 'pass' or 'fail', got {result!r}")
    if method not in ("virtual", "installer", "selftest"):
        raise BadInput(f"method: expected 'virtual', 'installer' or 'selftest', got {method!r}")
    dev = session.scalars(select(Device).where(Device.device_id == device_id)).first()
    if dev is None:
        raise NotFound(f"device {device_id!r} not found: it must register before its acceptance test",
                       reason="device_not_found")
    t = now()
    install_id = _install_for(session, device_id, dev.uid)
    row = AcceptanceTest(device_id=device_id, site_code=site or dev.site_code, install_id=install_id, result=result,
                         checks=checks, method=method, installer=token.installer, tested_at=t, note=note)
    session.add(row)
    session.flush()
    session.add(Event(device_id=device_id, seq=None, kind="acceptance", origin="fleet", payload={
        "result": result, "checks": checks, "installer": token.installer, "acceptance_id": row.id,
        "install_id": install_id}, received_at=t))
    if resolve_test_alarm:
        q = select(Alarm).where(Alarm.device_id == device_id, Alarm.state != AlarmState.resolved.value)
        if since is not None:
            q = q.where(Alarm.opened_at >= since)
        for alarm in session.scalars(q):
            alarms.resolve(session, alarm_id=alarm.id, by=token.installer,
                           note=f"acceptance test gas (acceptance {row.id}), not a leak")
    audit.record(session, actor=token.installer, action="acceptance." + result, entity="device", entity_id=device_id,
                 detail={"acceptance_id": row.id, "install_id": install_id, "checks": checks}, at=t)
    session.flush()
    return row


def acceptances(session: Session, device_id: str) -> list[AcceptanceTest]:
    return list(session.scalars(select(AcceptanceTest).where(AcceptanceTest.device_id == device_id)
                                .order_by(AcceptanceTest.id)))


__all__ = ["AcceptanceTest", "Install", "KeyAnswer", "NotAuthorised", "acceptances", "check_token", "device_key",
           "device_status", "fingerprint", "get_credential", "issue_token", "oscore_section", "record_acceptance", "revoke_token"]
