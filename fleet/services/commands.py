"""Commands for devices: create (idempotent), offer in acks, deliver directly, record results.

States: pending (created) -> sent (offered in an ack or sent by request) -> confirmed (the
device says done) | failed (failed or refused) | expired (past `expires_at` before a result).
The command id is the wire id; the device treats a re-delivered id as already done, so
offering a sent command again after `command_resend_s` is safe and covers a lost ack."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet.core.clock import now
from fleet.core.errors import BadInput, Conflict, NotFound
from fleet.services import audit
from fleet.store.models import Command, CommandOp, CommandState, Device

log = logging.getLogger(__name__)

OPEN_STATES = (CommandState.pending.value, CommandState.sent.value)
FINAL_STATES = (CommandState.confirmed.value, CommandState.failed.value, CommandState.expired.value)

# command result `st` on the wire -> command state
RESULT_STATES = {
    "done": CommandState.confirmed.value,
    "failed": CommandState.failed.value,
    "refused": CommandState.failed.value,
    "expired": CommandState.expired.value,
}


def create(
    session: Session,
    *,
    device_id: str,
    op: str,
    created_by: str,
    ttl_s: int,
    request_key: str | None = None,
) -> tuple[Command, bool]:
    """Queue a command; returns (command, created). The same `request_key` returns the first
    command instead of queueing another (an operator double-clicking "close valve")."""
    if op not in CommandOp.__members__:
        raise BadInput(
            f"op {op!r} is not a command; expected one of {', '.join(CommandOp.__members__)}",
            reason="unknown_op",
        )
    if request_key is not None:
        existing = session.scalars(select(Command).where(Command.request_key == request_key)).first()
        if existing is not None:
            if existing.device_id != device_id or existing.op != op:
                raise Conflict(
                    f"request_key {request_key!r} was already used for {existing.op} on {existing.device_id}",
                    reason="request_key_reused",
                )
            return existing, False
    if session.scalars(select(Device.id).where(Device.device_id == device_id)).first() is None:
        raise NotFound(f"device {device_id!r} not found", reason="device_not_found")
    t = now()
    cmd = Command(
        device_id=device_id,
        op=op,
        state=CommandState.pending.value,
        request_key=request_key,
        created_by=created_by,
        created_at=t,
        expires_at=t + timedelta(seconds=ttl_s),
        attempts=0,
    )
    session.add(cmd)
    session.flush()
    audit.record(session, actor=created_by, action="command.created", entity="command", entity_id=cmd.id,
                 detail={"device_id": device_id, "op": op}, at=t)
    log.debug("command %s %s queued for %s by %s", cmd.id, op, device_id, created_by)
    return cmd, True


def wire(cmd: Command) -> dict[str, Any]:
    """The command as the protocol's `command` map."""
    out: dict[str, Any] = {"id": cmd.id, "op": cmd.op}
    if cmd.expires_at is not None:
        out["exp"] = int(cmd.expires_at.timestamp())
    return out


def open_for_devices(session: Session, device_ids: Iterable[str]) -> dict[str, list[Command]]:
    """Unfinished commands per device, oldest first (one query for a whole ingest batch)."""
    ids = list(set(device_ids))
    out: dict[str, list[Command]] = {}
    if not ids:
        return out
    rows = session.scalars(
        select(Command)
        .where(Command.device_id.in_(ids), Command.state.in_(OPEN_STATES))
        .order_by(Command.id)
    )
    for cmd in rows:
        out.setdefault(cmd.device_id, []).append(cmd)
    return out


def offer(
    session: Session, cmds: list[Command], *, at: datetime, limit: int, resend_s: int
) -> tuple[int, list[dict[str, Any]]]:
    """Pick what an ack carries: returns (pending count, wire commands).

    Expired ones are closed on the way; pending ones become `sent`; a `sent` one is offered
    again only when it has waited `resend_s` without a result."""
    live: list[Command] = []
    for cmd in cmds:
        if cmd.state not in OPEN_STATES:
            continue
        if cmd.expires_at is not None and cmd.expires_at <= at:
            _expire(session, cmd, at)
            continue
        live.append(cmd)
    offered: list[dict[str, Any]] = []
    for cmd in live:
        if len(offered) >= limit:
            break
        due = cmd.state == CommandState.pending.value or (
            cmd.sent_at is not None and (at - cmd.sent_at).total_seconds() >= resend_s
        )
        if not due:
            continue
        if cmd.state == CommandState.pending.value:
            cmd.state = CommandState.sent.value
            audit.record(session, actor="fleet", action="command.sent", entity="command", entity_id=cmd.id,
                         detail={"via": "ack"}, at=at)
        cmd.sent_at = at
        cmd.sent_via = "ack"
        cmd.attempts = (cmd.attempts or 0) + 1
        offered.append(wire(cmd))
    return len(live), offered


def _expire(session: Session, cmd: Command, at: datetime) -> None:
    cmd.state = CommandState.expired.value
    cmd.finished_at = at
    audit.record(session, actor="fleet", action="command.expired", entity="command", entity_id=cmd.id, at=at)
    log.info("command %s (%s for %s) expired before a result", cmd.id, cmd.op, cmd.device_id)


def expire_due(session: Session) -> int:
    """Close every open command past its expiry; returns how many."""
    t = now()
    cmds = list(session.scalars(
        select(Command).where(Command.state.in_(OPEN_STATES), Command.expires_at <= t)
    ))
    for cmd in cmds:
        _expire(session, cmd, t)
    return len(cmds)


def mark_sent_direct(session: Session, cmd: Command) -> None:
    """Record that the fleet sent this command to the device by request (POST /cmd)."""
    t = now()
    if cmd.state == CommandState.pending.value:
        cmd.state = CommandState.sent.value
    cmd.sent_at = t
    cmd.sent_via = "direct"
    cmd.attempts = (cmd.attempts or 0) + 1
    audit.record(session, actor="fleet", action="command.sent", entity="command", entity_id=cmd.id,
                 detail={"via": "direct"}, at=t)


def record_result(session: Session, *, device_id: str, result: dict[str, Any], at: datetime | None = None) -> Command:
    """Store a command result from the device. A repeated result for a finished command is
    accepted and changes nothing (the device may retransmit it)."""
    at = at or now()
    cmd_id = result["id"]
    cmd = session.get(Command, cmd_id)
    if cmd is None or cmd.device_id != device_id:
        raise NotFound(f"command {cmd_id} not found for device {device_id!r}", reason="command_not_found")
    st = result["st"]
    if st not in RESULT_STATES:
        raise BadInput(f"command_result.st: expected one of {', '.join(RESULT_STATES)}, got {st!r}")
    if cmd.state in FINAL_STATES:
        if cmd.result is None or cmd.result.get("st") != st:
            log.info("command %s already %s; result %r from %s ignored", cmd.id, cmd.state, st, device_id)
        return cmd
    cmd.state = RESULT_STATES[st]
    cmd.finished_at = at
    cmd.result = {k: v for k, v in result.items() if k != "dev"}
    audit.record(session, actor=device_id, action=f"command.{cmd.state}", entity="command", entity_id=cmd.id,
                 detail=cmd.result, at=at)
    log.debug("command %s %s: %s", cmd.id, cmd.op, st)
    return cmd


def get(session: Session, command_id: int) -> Command:
    cmd = session.get(Command, command_id)
    if cmd is None:
        raise NotFound(f"command {command_id} not found", reason="command_not_found")
    return cmd


def cancel(session: Session, *, command_id: int, by: str) -> Command:
    """An operator withdraws a command not yet confirmed (recorded as expired, by whom)."""
    cmd = get(session, command_id)
    if cmd.state in FINAL_STATES:
        raise Conflict(f"command {command_id} is already {cmd.state}", reason="command_final")
    t = now()
    cmd.state = CommandState.expired.value
    cmd.finished_at = t
    cmd.result = {"st": "expired", "why": f"cancelled by {by}"}
    audit.record(session, actor=by, action="command.cancelled", entity="command", entity_id=cmd.id, at=t)
    return cmd


def pending_count(session: Session, device_id: str) -> int:
    return session.scalar(
        select(func.count()).select_from(Command).where(Command.device_id == device_id, Command.state.in_(OPEN_STATES))
    ) or 0

