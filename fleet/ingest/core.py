"""The ingest step: a batch of decoded messages in, one transaction, an ack (or an error) per
message out.

Why a batch: one commit per message costs a disk sync (SQLite) or a round trip (PostgreSQL)
each; at thousands of messages a second that is the whole budget. A batch shares one commit,
one lookup of its devices, one duplicate check and one query for pending commands. Nothing is
acknowledged before its batch commits (`writer.py` holds the CoAP responses until then), so an
ack always means "stored".

Heartbeats are most of the traffic, and most come from devices that are online and have no
command waiting: for those (and only if the batch holds nothing else from the same device) the
ORM's unit of work is skipped. Per batch, one query finds which of the batch's devices qualify,
then one DBAPI executemany INSERT adds their readings and one executemany UPDATE records their
latest report (`DbapiMany`), in the batch's transaction: the same rows and the same ack ({st, pc: 0}) the ORM path
writes, at a fraction of the CPU (docs/performance.md). Everything else — registrations, events,
command results, heartbeats of devices that are unknown or offline (they come online: an event,
an audit row) or have commands waiting (the ack carries them) — goes through the ORM below.

Idempotency: an event is keyed by (device, seq). A duplicate (already stored, or twice in this
batch) is acknowledged with the same ack and stored once. A gap in the sequence is recorded as a
`SequenceGap`; an event that arrives late fills its gap."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from fleet.core.config import Settings
from fleet.core.errors import BadInput, Conflict, FleetError
from fleet.services import alarms, commands, health
from fleet.store.models import Command, Device, Event, ProductModel, Reading, SequenceGap, Site

log = logging.getLogger(__name__)

KINDS = ("registration", "heartbeat", "event", "command_result")

# heartbeat flat name -> Reading column
READING_FIELDS = {
    "lel": "lel",
    "alarm": "alarm",
    "valve": "valve",
    "faults": "faults",
    "rssi": "rssi",
    "heap_free": "heap_free",
    "battery_pct": "battery_pct",
    "uptime": "uptime_s",
}


@dataclass(slots=True)
class Item:
    """One decoded message as the ingest step sees it."""

    kind: str
    body: dict[str, Any]
    at: datetime
    remote: str | None = None


@dataclass(slots=True)
class Result:
    """The outcome for one message: an ack map for the wire, or the error to answer with."""

    ack: dict[str, Any] | None = None
    error: FleetError | None = None
    duplicate: bool = False
    device_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def json_safe(value: Any) -> Any:
    """Make a decoded CBOR value storable as JSON: bytes as hex, non-finite floats as None."""
    t = type(value)
    if t is int or t is str or t is bool or value is None:  # most values: answered first
        return value
    if t is float:
        return value if math.isfinite(value) else None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


_INT_COLUMNS = frozenset(("alarm", "valve", "faults", "heap_free", "uptime_s"))


def reading_values(body: dict[str, Any]) -> dict[str, Any]:
    """The `readings` columns of a heartbeat's flat dict."""
    safe = {name: json_safe(body.get(name)) for name in READING_FIELDS}
    return dict(zip(READING_FIELDS.values(), _reading_tuple(safe)))


def heartbeat_health(body: dict[str, Any], at: datetime, at_iso: str | None = None) -> dict[str, Any]:
    """What `devices.health` holds after a heartbeat: its fields and when it arrived."""
    hb = {k: json_safe(v) for k, v in body.items() if k != "dev"}
    hb["received_at"] = at_iso or at.isoformat()
    return hb


def _reading_tuple(safe: dict[str, Any]) -> list[Any]:
    """The READING_FIELDS columns of a heartbeat's health dict (values already JSON-safe)."""
    out = []
    for name, col in READING_FIELDS.items():
        v = safe.get(name)
        out.append(int(v) if v is not None and col in _INT_COLUMNS else v)
    return out


class DbapiMany:
    """One INSERT/UPDATE run with the DBAPI cursor's `executemany`, inside the session's
    transaction. Each value goes through its column type's own bind processing (what Core
    would send: UTC datetimes, JSON), but Core's per-row statement machinery (parameter
    construction, cache keys, result set-up) is skipped: profiled, that was a quarter of a
    heartbeat's cost. `{p}` in the SQL is the driver's placeholder."""

    def __init__(self, sql: str, columns: Sequence[Any]) -> None:
        self.sql = sql
        self.columns = list(columns)
        self._prepared: dict[str, tuple[str, list[Any]]] = {}

    def run(self, session: Session, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        conn = session.connection()
        dialect = conn.dialect
        prepared = self._prepared.get(dialect.name)
        if prepared is None:
            mark = "?" if dialect.paramstyle == "qmark" else "%s"
            procs = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in self.columns]
            prepared = self._prepared[dialect.name] = (self.sql.replace("{p}", mark), procs)
        sql, procs = prepared
        procs = [None if p is None else _repeat_last(p) for p in procs]  # per run: one thread's
        bound = [tuple(v if proc is None else proc(v) for proc, v in zip(procs, row)) for row in rows]
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(sql, bound)
        finally:
            cursor.close()


def _repeat_last(proc: Any) -> Any:
    """`proc`, answering a value that is the very object it was just given with the same result
    without running again: the messages of one millisecond share one received time (the fast
    path), which is two datetime columns of every heartbeat."""
    last: list[Any] = [_NOTHING, None]

    def run(v: Any) -> Any:
        if v is last[0]:
            return last[1]
        out = proc(v)
        last[0], last[1] = v, out
        return out

    return run


_NOTHING = object()
_READINGS = Reading.__table__
_READING_COLS = ("device_id", "at", *READING_FIELDS.values())
_INSERT_READINGS = DbapiMany(
    "INSERT INTO readings (%s) VALUES (%s)" % (", ".join(_READING_COLS), ", ".join(["{p}"] * len(_READING_COLS))),
    [_READINGS.c[name] for name in _READING_COLS])
_DEVICES = Device.__table__
# fw and address are kept when the heartbeat has none, as `_heartbeat` and `health.mark_report` do.
_UPDATE_REPORTS = DbapiMany(
    "UPDATE devices SET last_report_at = {p}, health = {p}, fw = COALESCE({p}, fw), address = COALESCE({p}, address) "
    "WHERE device_id = {p}",
    [_DEVICES.c.last_report_at, _DEVICES.c.health, _DEVICES.c.fw, _DEVICES.c.address, _DEVICES.c.device_id])


def _epoch(t: Any) -> datetime | None:
    if isinstance(t, int | float) and t > 0 and math.isfinite(t):
        try:
            return datetime.fromtimestamp(t, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    return None


class Ingestor:
    """Applies batches of messages to the store. Stateless between batches (several ingest
    processes may share one database); the unique (device, seq) constraint settles races."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._handlers = {
            "registration": self._registration,
            "heartbeat": self._heartbeat,
            "event": self._event,
            "command_result": self._command_result,
        }

    # -- the batch -------------------------------------------------------------------------

    def process(self, session: Session, items: Sequence[Item]) -> list[Result]:
        """Apply `items` in `session` (the caller commits) and return one Result per item."""
        plain = self._plain_heartbeats(session, items)
        if plain:
            rest = [it for i, it in enumerate(items) if i not in plain]
            done = iter(self._process_orm(session, rest))
            return [plain[i] if i in plain else next(done) for i in range(len(items))]
        return self._process_orm(session, items)

    def _plain_heartbeats(self, session: Session, items: Sequence[Item]) -> dict[int, Result]:
        """Store the heartbeats that need no ORM (see the module docstring) with two executemany
        statements; returns their results by position in `items`."""
        heartbeat_devs = {it.body["dev"] for it in items if it.kind == "heartbeat"}
        if not heartbeat_devs:
            return {}
        candidates = heartbeat_devs - {it.body["dev"] for it in items if it.kind != "heartbeat"}
        if not candidates:
            return {}
        waiting = select(Command.id).where(Command.device_id == Device.device_id,
                                           Command.state.in_(commands.OPEN_STATES)).exists()
        plain = set(session.scalars(select(Device.device_id).where(
            Device.device_id.in_(candidates), Device.online.is_(True), ~waiting)))  # index (device_id, state)
        if not plain:
            return {}
        out: dict[int, Result] = {}
        readings: list[dict[str, Any]] = []
        reports: dict[str, dict[str, Any]] = {}
        keep = self.settings.store_readings
        at: Any = None
        for i, it in enumerate(items):
            dev = it.body["dev"]
            if it.kind != "heartbeat" or dev not in plain:
                continue
            if it.at is not at:  # messages of one millisecond share their time (fleet/coap/fastpath.py)
                at = it.at
                at_iso = at.isoformat()
                ack = {"st": int(at.timestamp()), "pc": 0}  # shared, read only: the same bytes on the wire
            b = it.body
            health = heartbeat_health(b, at, at_iso)
            reports[dev] = (at, health, b.get("fw") or None, it.remote or None, dev)
            if keep:
                readings.append((dev, at, *_reading_tuple(health)))
            out[i] = Result(ack=ack, device_id=dev)
        _INSERT_READINGS.run(session, readings)
        _UPDATE_REPORTS.run(session, list(reports.values()))
        return out

    def _process_orm(self, session: Session, items: Sequence[Item]) -> list[Result]:
        if not items:
            return []
        ids = {it.body["dev"] for it in items}
        devices = {d.device_id: d for d in session.scalars(select(Device).where(Device.device_id.in_(ids)))}
        pairs = {(it.body["dev"], it.body["seq"]) for it in items if it.kind == "event"}
        stored: set[tuple[str, int]] = set()
        if pairs:
            stored = {
                (d, s)
                for d, s in session.execute(
                    select(Event.device_id, Event.seq).where(tuple_(Event.device_id, Event.seq).in_(list(pairs)))
                )
            }
        results: list[Result] = []
        for it in items:
            try:
                handler = self._handlers[it.kind]
            except KeyError:
                results.append(Result(error=BadInput(f"unknown message kind {it.kind!r}", reason="unknown_kind")))
                continue
            try:
                res = handler(session, it, devices, stored)
            except FleetError as e:
                res = Result(error=e, device_id=it.body.get("dev"))
            results.append(res)
        self._fill_acks(session, items, results)
        return results

    def _fill_acks(self, session: Session, items: Sequence[Item], results: list[Result]) -> None:
        ok = [(it, r) for it, r in zip(items, results) if r.ack is not None and r.device_id]
        if not ok:
            return
        session.flush()  # new devices must exist before their commands are looked up
        open_cmds = commands.open_for_devices(session, (r.device_id for _, r in ok))  # type: ignore[misc]
        for it, r in ok:
            cmds = open_cmds.get(r.device_id or "", [])
            pc, wire = commands.offer(
                session, cmds, at=it.at, limit=self.settings.max_cmds_per_ack, resend_s=self.settings.command_resend_s
            )
            assert r.ack is not None
            r.ack["pc"] = pc
            if wire:
                r.ack["cmds"] = wire

    # -- helpers ---------------------------------------------------------------------------

    def _ack(self, it: Item, device_id: str, **extra: Any) -> Result:
        ack: dict[str, Any] = {"st": int(it.at.timestamp())}
        ack.update(extra)
        return Result(ack=ack, device_id=device_id)

    def _device(self, session: Session, it: Item, devices: dict[str, Device]) -> Device:
        """The device a message is from; a device the fleet has never seen is created (its
        registration may have been lost, the fleet's database restored): its messages are kept."""
        dev_id = it.body["dev"]
        device = devices.get(dev_id)
        if device is None:
            device = Device(device_id=dev_id, last_seq=0, online=False, created_at=it.at)
            session.add(device)
            session.flush()  # rows that refer to it (events, readings) must come after it
            devices[dev_id] = device
            log.info("first message from unregistered device %s (%s); record created", dev_id, it.kind)
        health.mark_report(session, device, it.at, it.remote)
        return device

    # -- message kinds ---------------------------------------------------------------------

    def _registration(self, session: Session, it: Item, devices: dict[str, Device], _s: set[Any]) -> Result:
        b = it.body
        dev_id = b["dev"]
        uid_hex = json_safe(b["uid"])
        existing = devices.get(dev_id)
        if existing is not None and existing.uid and existing.uid != uid_hex:
            raise Conflict(
                f"device {dev_id!r} is already registered with chip uid {existing.uid}, not {uid_hex}; "
                "a replaced board needs its own device id",
                reason="uid_mismatch",
            )
        fresh = existing is None or (existing.last_seq == 0 and existing.registered_at is None)
        device = self._device(session, it, devices)
        device.uid = uid_hex
        device.board = b.get("board")
        device.fw = b.get("fw")
        device.gas = b.get("gas")
        device.boot = b.get("boot")
        model_code = b.get("model")
        if model_code != device.model_code or device.product_model_id is None:
            device.model_code = model_code
            pm = session.scalars(select(ProductModel).where(ProductModel.code == model_code)).first()
            device.product_model = pm
            if pm is None:
                log.info("device %s registered with model %r, not in the catalogue", dev_id, model_code)
        site_code = b.get("site")
        if site_code and site_code != device.site_code:
            device.site_code = site_code
            device.site = session.scalars(select(Site).where(Site.account_no == site_code)).first()
        reg_seq = int(b.get("seq") or 0)
        if fresh and device.last_seq == 0:
            # Start of this device's history here: older sequence numbers are not a gap.
            device.last_seq = reg_seq
        elif reg_seq < device.last_seq:
            log.warning("device %s registered with seq %d below the %d already stored: its counter went back",
                        dev_id, reg_seq, device.last_seq)
        device.registered_at = it.at
        log.debug("registration %s fw %s model %s seq %d", dev_id, device.fw, model_code, reg_seq)
        return self._ack(it, dev_id)

    def _heartbeat(self, session: Session, it: Item, devices: dict[str, Device], _s: set[Any]) -> Result:
        b = it.body
        device = self._device(session, it, devices)
        device.health = heartbeat_health(b, it.at)
        if b.get("fw"):
            device.fw = b["fw"]
        if self.settings.store_readings:
            session.add(Reading(device_id=device.device_id, at=it.at, **reading_values(b)))
        return self._ack(it, device.device_id)

    def _event(self, session: Session, it: Item, devices: dict[str, Device], stored: set[tuple[str, int]]) -> Result:
        b = it.body
        dev_id, seq, kind = b["dev"], int(b["seq"]), b["k"]
        device = self._device(session, it, devices)
        if (dev_id, seq) in stored:
            log.info("duplicate event %s #%d (%s) acknowledged again, not stored", dev_id, seq, kind)
            res = self._ack(it, dev_id, seq=seq)
            res.duplicate = True
            return res
        stored.add((dev_id, seq))
        payload = {k: json_safe(v) for k, v in b.items() if k != "dev"}
        session.add(Event(device_id=dev_id, seq=seq, kind=kind, origin="device", uptime_s=b.get("up"),
                          device_time=_epoch(b.get("t")), payload=payload, received_at=it.at))
        self._sequence(session, device, seq, it.at)
        self._effects(session, device, kind, b, it.at)
        log.debug("event %s #%d %s stored", dev_id, seq, kind)
        return self._ack(it, dev_id, seq=seq)

    def _sequence(self, session: Session, device: Device, seq: int, at: datetime) -> None:
        last = device.last_seq or 0
        if seq > last + 1:
            session.add(SequenceGap(device_id=device.device_id, first_missing=last + 1, last_missing=seq - 1,
                                    recovered=0, detected_at=at))
            log.warning("device %s skipped events %d..%d (got %d after %d)",
                        device.device_id, last + 1, seq - 1, seq, last)
        if seq > last:
            device.last_seq = seq
            return
        # A late arrival: it may fill a recorded gap.
        gap = session.scalars(
            select(SequenceGap).where(
                SequenceGap.device_id == device.device_id,
                SequenceGap.first_missing <= seq,
                SequenceGap.last_missing >= seq,
                SequenceGap.closed_at.is_(None),
            )
        ).first()
        if gap is not None:
            gap.recovered = (gap.recovered or 0) + 1
            if gap.recovered >= gap.size:
                gap.closed_at = at
            log.info("device %s event %d arrived late, filling gap %d..%d", device.device_id, seq,
                     gap.first_missing, gap.last_missing)

    def _effects(self, session: Session, device: Device, kind: str, b: dict[str, Any], at: datetime) -> None:
        h = dict(device.health or {})
        if kind == "alarm":
            alarms.on_alarm_event(session, device, b, at)
            h["alarm"] = int(b.get("lvl") or 1)
            if b.get("lel") is not None:
                h["lel"] = b["lel"]
        elif kind == "alarm_clear":
            alarms.on_alarm_clear(session, device, b, at)
            h["alarm"] = 0
        elif kind == "valve_closed":
            alarms.on_valve_closed(session, device, b, at)
            h["valve"] = 1
            h["valve_open"] = False
        elif kind == "valve_reopened":
            h["valve"] = 0
            h["valve_open"] = True
        elif kind == "fault":
            h["faults"] = int(h.get("faults") or 0) | int(b.get("f") or 0)
        elif kind == "fault_clear":
            h["faults"] = int(h.get("faults") or 0) & ~int(b.get("f") or 0)
        elif kind == "boot":
            device.boot = b.get("boot")
        else:
            return
        device.health = h

    def _command_result(self, session: Session, it: Item, devices: dict[str, Device], _s: set[Any]) -> Result:
        b = it.body
        device = self._device(session, it, devices)
        commands.record_result(session, device_id=device.device_id, result=json_safe(b), at=it.at)
        return self._ack(it, device.device_id)
