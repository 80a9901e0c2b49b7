"""Users, passwords, API tokens and dashboard sessions, free of HTTP.

Functions take a Session and leave the commit to the caller, like the other fleet services.
Every change to a user or a credential writes an audit row in the same transaction."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.core.clock import now
from fleet.core.errors import BadInput, Conflict, NotFound
from fleet.security.models import ApiToken, User, WebSession
from fleet.security.roles import Role, parse_role
from fleet.services import audit

MIN_PASSWORD = 10
TOKEN_TTL_DAYS = 90  # API tokens: default life
TOKEN_TTL_MAX_DAYS = 366
SESSION_TTL_S = 12 * 3600  # a dashboard sign-in lasts one working day
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")
LOCKOUT_FAILURES = 10  # failed sign-ins of one username within LOCKOUT_S ...
LOCKOUT_S = 15 * 60  # ... lock it for the rest of that window (counted from the audit log)

_hasher = PasswordHasher()  # argon2id with the library's current RFC 9106 defaults


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hash_password(password: str) -> str:
    check_password_rule(password)
    return _hasher.hash(password)


def check_password_rule(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise BadInput(f"password: at least {MIN_PASSWORD} characters, got {len(password)}")
    if password.strip() != password or not password.strip():
        raise BadInput("password: no leading or trailing spaces")


@dataclass(frozen=True)
class Principal:
    """Who is asking: the user, their role and scope, and how they signed in."""

    user_id: int
    username: str
    role: str
    township: str | None
    via: str  # "token" | "session" | "enrolment"
    csrf: str | None = None
    credential_id: int | None = None


class AuthError(Exception):
    """Credentials missing, wrong, expired or disabled: HTTP 401 with this message."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


# --- users --------------------------------------------------------------------------------------

def _valid_username(username: str) -> str:
    name = (username or "").strip().lower()
    if not 2 <= len(name) <= 64 or not set(name) <= USERNAME_CHARS:
        raise BadInput(f"username {username!r}: 2-64 characters of a-z, 0-9, '.', '_' or '-'")
    return name


def _role_and_township(role: str, township: str | None) -> tuple[str, str | None]:
    try:
        r = parse_role(role)
    except ValueError as e:
        raise BadInput(str(e)) from None
    township = (township or "").strip() or None
    if r is Role.township and not township:
        raise BadInput("township: township staff need their township (--township)")
    if r is not Role.township and township:
        raise BadInput(f"township: only township staff are scoped to one; {r.value} sees the whole city")
    return r.value, township


def get_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == (username or "").strip().lower())).first()
    if user is None:
        raise NotFound(f"user {username!r} not found", reason="user_not_found")
    return user


def create_user(session: Session, *, username: str, password: str, role: str, township: str | None = None,
                display_name: str | None = None, by: str) -> User:
    name = _valid_username(username)
    role_v, township = _role_and_township(role, township)
    if session.scalars(select(User.id).where(User.username == name)).first() is not None:
        raise Conflict(f"user {name!r} already exists", reason="user_exists")
    t = now()
    user = User(username=name, display_name=display_name, role=role_v, township=township,
                password_hash=hash_password(password), disabled=False, created_at=t, password_changed_at=t)
    session.add(user)
    session.flush()
    audit.record(session, actor=by, action="user.created", entity="user", entity_id=name,
                 detail={"role": role_v, "township": township}, at=t)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def set_role(session: Session, *, username: str, role: str, township: str | None = None, by: str) -> User:
    user = get_user(session, username)
    role_v, township = _role_and_township(role, township)
    before = {"role": user.role, "township": user.township}
    user.role, user.township = role_v, township
    _end_credentials(session, user)  # a new role starts from a fresh sign-in
    audit.record(session, actor=by, action="user.role_changed", entity="user", entity_id=user.username,
                 detail={"before": before, "after": {"role": role_v, "township": township}})
    return user


def set_disabled(session: Session, *, username: str, disabled: bool, by: str) -> User:
    user = get_user(session, username)
    user.disabled = disabled
    if disabled:
        _end_credentials(session, user)
    audit.record(session, actor=by, action="user.disabled" if disabled else "user.enabled", entity="user",
                 entity_id=user.username)
    return user


def reset_password(session: Session, *, username: str, password: str, by: str) -> User:
    user = get_user(session, username)
    user.password_hash = hash_password(password)
    user.password_changed_at = now()
    _end_credentials(session, user, tokens=False)
    audit.record(session, actor=by, action="user.password_reset", entity="user", entity_id=user.username)
    return user


def _end_credentials(session: Session, user: User, *, tokens: bool = True) -> None:
    t = now()
    for s in session.scalars(select(WebSession).where(WebSession.user_id == user.id, WebSession.ended_at.is_(None))):
        s.ended_at = t
    if tokens:
        for tok in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))):
            tok.revoked_at = t


def verify_password(session: Session, username: str, password: str) -> User:
    """The user if the password is right and the account enabled; AuthError otherwise (the
    same message for an unknown user and a wrong password, so names cannot be probed)."""
    user = session.scalars(select(User).where(User.username == (username or "").strip().lower())).first()
    if user is None:
        _hasher.hash("x" * MIN_PASSWORD)  # about the same time as a real check
        raise AuthError("wrong username or password", "bad_credentials")
    try:
        _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        raise AuthError("wrong username or password", "bad_credentials") from None
    if user.disabled:
        raise AuthError(f"user {user.username!r} is disabled", "user_disabled")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


# --- API tokens ---------------------------------------------------------------------------------

def issue_token(session: Session, *, username: str, name: str, ttl_days: int = TOKEN_TTL_DAYS, by: str
                ) -> tuple[str, ApiToken]:
    """A new bearer token; the token text is returned once and only its hash is kept."""
    user = get_user(session, username)
    if user.disabled:
        raise Conflict(f"user {user.username!r} is disabled", reason="user_disabled")
    if not 1 <= ttl_days <= TOKEN_TTL_MAX_DAYS:
        raise BadInput(f"ttl_days: expected 1..{TOKEN_TTL_MAX_DAYS}, got {ttl_days}")
    token = "ggt_" + secrets.token_urlsafe(32)
    t = now()
    row = ApiToken(user_id=user.id, token_sha256=sha256(token), name=(name or "api").strip()[:128], created_at=t,
                   expires_at=t + timedelta(days=ttl_days))
    session.add(row)
    session.flush()
    audit.record(session, actor=by, action="token.issued", entity="user", entity_id=user.username,
                 detail={"token_id": row.id, "name": row.name, "expires_at": row.expires_at.isoformat()}, at=t)
    return token, row


def revoke_token(session: Session, *, token_id: int, by: str) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"API token {token_id} not found", reason="token_not_found")
    if row.revoked_at is None:
        row.revoked_at = now()
        audit.record(session, actor=by, action="token.revoked", entity="user", entity_id=row.user.username,
                     detail={"token_id": row.id})
    return row


def list_tokens(session: Session, username: str | None = None) -> list[ApiToken]:
    stmt = select(ApiToken).order_by(ApiToken.id)
    if username:
        stmt = stmt.where(ApiToken.user_id == get_user(session, username).id)
    return list(session.scalars(stmt))


def principal_from_token(session: Session, token: str, *, at: datetime | None = None) -> Principal:
    t = at or now()
    row = session.scalars(select(ApiToken).where(ApiToken.token_sha256 == sha256(token))).first()
    if row is None:
        raise AuthError("API token not recognised", "token_unknown")
    if row.revoked_at is not None:
        raise AuthError("API token was revoked", "token_revoked")
    if row.expires_at <= t:
        raise AuthError(f"API token expired at {row.expires_at.isoformat()}", "token_expired")
    if row.user.disabled:
        raise AuthError(f"user {row.user.username!r} is disabled", "user_disabled")
    if row.last_used_at is None or (t - row.last_used_at).total_seconds() > 60:
        row.last_used_at = t  # at most once a minute: reads stay reads
    u = row.user
    return Principal(u.id, u.username, u.role, u.township, "token", credential_id=row.id)


# --- dashboard sessions -------------------------------------------------------------------------

def open_session(session: Session, user: User, *, address: str | None) -> tuple[str, WebSession]:
    sid = secrets.token_urlsafe(32)
    t = now()
    row = WebSession(user_id=user.id, session_sha256=sha256(sid), csrf=secrets.token_urlsafe(24), created_at=t,
                     expires_at=t + timedelta(seconds=SESSION_TTL_S), address=(address or "")[:64] or None)
    session.add(row)
    session.flush()
    audit.record(session, actor=user.username, action="login", entity="user", entity_id=user.username,
                 detail={"address": address, "session_id": row.id}, at=t)
    return sid, row


def principal_from_session(session: Session, sid: str, *, at: datetime | None = None) -> Principal:
    t = at or now()
    row = session.scalars(select(WebSession).where(WebSession.session_sha256 == sha256(sid))).first()
    if row is None or row.ended_at is not None:
        raise AuthError("not signed in", "no_session")
    if row.expires_at <= t:
        raise AuthError("session expired; sign in again", "session_expired")
    if row.user.disabled:
        raise AuthError(f"user {row.user.username!r} is disabled", "user_disabled")
    u = row.user
    return Principal(u.id, u.username, u.role, u.township, "session", csrf=row.csrf, credential_id=row.id)


def close_session(session: Session, session_id: int, *, by: str, address: str | None) -> None:
    row = session.get(WebSession, session_id)
    if row is not None and row.ended_at is None:
        row.ended_at = now()
        audit.record(session, actor=by, action="logout", entity="user", entity_id=by, detail={"address": address})


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def count_admins(session: Session) -> int:
    return len(list(session.scalars(select(User.id).where(User.role == Role.admin.value,
                                                          User.disabled.is_(False)))))


def recent_failures(session: Session, username: str) -> int:
    """Failed sign-ins of `username` since its last success, within the lockout window: read
    from the audit log, so the count needs no table of its own and survives a restart."""
    from sqlalchemy import func

    from fleet.store.models import AuditLog

    name = (username or "?").strip().lower()[:64]
    since = now() - timedelta(seconds=LOCKOUT_S)
    last_ok = session.scalar(select(func.max(AuditLog.id)).where(
        AuditLog.entity == "user", AuditLog.entity_id == name, AuditLog.action == "login", AuditLog.at >= since))
    stmt = select(func.count()).select_from(AuditLog).where(
        AuditLog.entity == "user", AuditLog.entity_id == name, AuditLog.action == "login.failed", AuditLog.at >= since)
    if last_ok is not None:
        stmt = stmt.where(AuditLog.id > last_ok)
    return session.scalar(stmt) or 0
