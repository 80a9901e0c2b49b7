"""The fleet's OSCORE security contexts, one per device, built from `device_credentials`.

Interface (what fleet/coap/oscore_site.py, fleet/coap/oscore_client.py and the fast-path ingest
server code against):

    contexts = DeviceContexts(db, box, seq_block=256)
    contexts.load_all()                 # at start-up, in a thread: seals clear secrets, loads every key
    ctx = contexts.get(kid)             # -> DeviceContext | None, by the device's Sender ID (the OSCORE kid)
    ctx = contexts.find(kid, kid_context)   # the same, and the kid context (ID Context) must match if given
    ctx.unprotect(msg)                  # aiocoap.oscore: -> (plain aiocoap.Message, request_id); raises
                                        #   ReplayErrorWithEcho (answer with its .to_message()), ReplayError,
                                        #   DecodeError, ProtectionInvalid
    ctx.protect(answer, request_id)     # -> (protected aiocoap.Message, _); the response reuses the request nonce
    contexts.accepted(ctx, "host:port") # after a request unprotected: remembers where the device is, and that
                                        #   it speaks OSCORE (from then on plain uplinks naming it are refused;
                                        #   written to the database in batches, off the event loop)
    ctx.device_id                       # the device the key belongs to: the body's `dev` must be this one
    contexts.requires_oscore(device_id) # a plain uplink naming this device must be refused (4.01)
    contexts.plain_from("host:port")    # a plain uplink was accepted from there: the address is no
                                        #   longer an OSCORE device's (the fleet's requests go out plain)
    contexts.for_address("host:port")   # the context for the fleet's own requests to a device
    contexts.close()                    # at shutdown: writes every replay window and sequence number back

`DeviceContext` is an aiocoap security context (`CanProtect`, `CanUnprotect`), so anything that
takes one (aiocoap's OSCORE transport for requests, `OscoreSiteWrapper`-style servers) takes it.
All calls are synchronous and meant for the event loop's thread; `get`/`find` may read the
database once for a kid not seen yet (a key issued after start-up), with a negative cache so a
flood of unknown kids does not become a flood of queries.

Durability (RFC 8613 Appendix B.1), kept in the database next to the key rather than in
aiocoap's `FilesystemSecurityContext` folders (which hold the secret in clear, and would be one
folder and one fsync'd file per device): docs/oscore.md "The fleet's side".

- Sender sequence numbers: the row's `seq_limit` is always above every number used. At start-up
  every context starts at its stored limit and one UPDATE reserves the next `seq_block` for all;
  when a context reaches its limit it writes a new one before protecting. A clean shutdown
  writes the exact next number back.
- Replay windows: written at clean shutdown; at start-up every row is marked `unknown` (one
  UPDATE), so after a crash the windows are unknown and each device's first request is answered
  with a protected 4.01 + Echo (Appendix B.1.2) that the firmware repeats with the Echo: no old
  message can be replayed into a fresh window, and no genuine message is refused for good.

One process serves a device's context at a time (two processes sharing a database would need
disjoint sequence blocks and one replay window)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from datetime import datetime
from typing import Any

from aiocoap import oscore as ao
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fleet.coap.oscore_vault import SecretBox, is_sealed
from fleet.core.clock import now
from fleet.provision.models import DeviceCredential
from fleet.store.db import Database

log = logging.getLogger(__name__)

WINDOW = ao.DEFAULT_WINDOWSIZE  # 32, as the firmware's (docs/oscore.md section 2)
MISS_TTL_S = 5.0  # an unknown kid is looked up in the database at most this often
MISS_LOOKUPS_PER_S = 50  # and unknown kids in total at most this often (a flood of random kids)
MAX_KID = 7  # AES-CCM-16-64-128: 13-byte nonce - 6
SINCE_FLUSH_S = 0.5  # first-OSCORE marks are gathered this long, then written in one transaction
COAP_PORT = 5683


def normal_hostinfo(hostinfo: str) -> str:
    """`host:port` with the port always spelled (aiocoap leaves out 5683)."""
    if hostinfo.startswith("["):
        return hostinfo if "]:" in hostinfo else f"{hostinfo}:{COAP_PORT}"
    return hostinfo if ":" in hostinfo else f"{hostinfo}:{COAP_PORT}"


class DeviceContext(ao.CanProtect, ao.CanUnprotect, ao.SecurityContextUtils):
    """The fleet's side of one device's OSCORE context: the fleet's Sender ID is the device's
    Recipient ID and the other way round."""

    alg_aead = ao.algorithms[ao.DEFAULT_ALGORITHM]
    hashfun = ao.hashfunctions[ao.DEFAULT_HASHFUNCTION]

    def __init__(self, *, owner: "DeviceContexts", device_id: str, version: int, secret: bytes, salt: bytes,
                 sender_id: bytes, recipient_id: bytes, id_context: bytes | None, seq_next: int, seq_limit: int,
                 replay_state: str, oscore_since: datetime | None) -> None:
        self.owner = owner
        self.device_id = device_id
        self.version = version
        self.sender_id = sender_id
        self.recipient_id = recipient_id
        self.id_context = id_context or None
        self.derive_keys(salt, secret)
        self.sender_sequence_number = seq_next
        self.seq_limit = seq_limit
        self.echo_recovery = secrets.token_bytes(8)
        self.recipient_replay_window = ao.ReplayWindow(WINDOW, lambda: None)
        _load_window(self.recipient_replay_window, replay_state)
        self.oscore_since = oscore_since
        self.address: str | None = None
        self.last_remote: Any = None  # the transport's address object of the last accepted request
        self.closed = False

    def __repr__(self) -> str:
        return f"<DeviceContext {self.device_id} v{self.version} kid {self.recipient_id.hex()}>"

    def post_seqnoincrease(self) -> None:
        if self.closed:
            raise ao.ContextUnavailable(f"OSCORE context of {self.device_id} was closed at shutdown")
        if self.sender_sequence_number > self.seq_limit:
            self.owner._reserve(self, self.sender_sequence_number + self.owner.seq_block)

    def replay_state(self) -> str:
        w = self.recipient_replay_window
        if not w.is_initialized():
            return "unknown"
        p = w.persist()
        return f"w:{p['index']}:{p['bitfield']:x}"


def _load_window(window: ao.ReplayWindow, state: str) -> None:
    if state == "new":
        window.initialize_empty()
    elif state.startswith("w:"):
        _, index, bits = state.split(":")
        window.initialize_from_persisted({"index": int(index), "bitfield": int(bits, 16)})
    # "unknown": left uninitialised, so the first request is answered with an Echo challenge


class DeviceContexts:
    """Every device's context, by kid, device id and address (see the module docstring)."""

    def __init__(self, db: Database, box: SecretBox, *, seq_block: int = 256, require_all: bool = False) -> None:
        self.db = db
        self.box = box
        self.seq_block = seq_block
        self.require_all = require_all
        self._by_kid: dict[bytes, DeviceContext] = {}
        self._by_device: dict[str, DeviceContext] = {}
        self._by_address: dict[str, DeviceContext] = {}
        self._missed: dict[bytes, float] = {}
        self._miss_window = (0.0, 0)
        self.db_lookups = 0
        self._since_lock = threading.Lock()
        self._since_pending: list[DeviceContext] = []
        self._since_scheduled = False

    # -- loading -------------------------------------------------------------------------------

    def load_all(self) -> int:
        """Seal clear secrets, build every device's context, reserve a block of sequence numbers
        for each and mark every replay window unknown until a clean shutdown: one transaction."""
        sealed = seal_clear_rows(self.db, self.box)
        if sealed:
            log.warning("sealed %d clear device secret(s) under credential key %s", sealed, self.box.key_id)
        with self.db.session() as session:
            rows = list(session.scalars(select(DeviceCredential)))
            for row in rows:
                self._add(self._build(row))
            session.execute(update(DeviceCredential).values(
                seq_limit=DeviceCredential.seq_limit + self.seq_block, replay_state="unknown"))
            session.commit()
        log.info("OSCORE: %d device context(s) loaded", len(rows))
        return len(rows)

    def _build(self, row: DeviceCredential) -> DeviceContext:
        return DeviceContext(
            owner=self, device_id=row.device_id, version=row.version,
            secret=bytes.fromhex(self.box.open(row.device_id, row.master_secret)),
            salt=bytes.fromhex(row.master_salt), sender_id=bytes.fromhex(row.recipient_id),
            recipient_id=bytes.fromhex(row.sender_id), id_context=bytes.fromhex(row.id_context or ""),
            seq_next=row.seq_limit, seq_limit=row.seq_limit + self.seq_block,
            replay_state=row.replay_state or "new", oscore_since=row.oscore_since)

    def _add(self, ctx: DeviceContext) -> None:
        old = self._by_device.get(ctx.device_id)
        if old is not None:
            old.closed = True
            self._by_kid.pop(old.recipient_id, None)
            if old.address:
                self._by_address.pop(old.address, None)
            ctx.address = old.address
            if ctx.address:
                self._by_address[ctx.address] = ctx
            if ctx.oscore_since is None and old.oscore_since is not None:
                self._mark_since(ctx, old.oscore_since)  # a re-keyed device still speaks OSCORE
        self._by_kid[ctx.recipient_id] = ctx
        self._by_device[ctx.device_id] = ctx

    def _lookup(self, kid: bytes, reason: str) -> DeviceContext | None:
        """Load the key for `kid` from the database (issued or re-keyed since start-up)."""
        t = time.monotonic()
        if len(kid) > MAX_KID or t < self._missed.get(kid, 0.0):
            return None
        start, n = self._miss_window
        if t - start >= 1.0:
            start, n = t, 0
        if n >= MISS_LOOKUPS_PER_S:
            return None
        self._miss_window = (start, n + 1)
        self.db_lookups += 1
        with self.db.session() as session:
            row = session.scalars(select(DeviceCredential).where(DeviceCredential.sender_id == kid.hex())).first()
            if row is None:
                self._missed[kid] = t + MISS_TTL_S
                if len(self._missed) > 10_000:
                    self._missed = {k: v for k, v in self._missed.items() if v > t}
                return None
            current = self._by_kid.get(kid)
            if current is not None and current.version == row.version:
                self._missed[kid] = t + MISS_TTL_S  # same key: the kid context was simply wrong
                return current
            ctx = self._build(row)
            # as load_all: the window is in memory only from now on, so a crash leaves it unknown
            session.execute(update(DeviceCredential).where(
                DeviceCredential.id == row.id, DeviceCredential.version == row.version).values(
                seq_limit=ctx.seq_limit, replay_state="unknown"))
            session.commit()
        log.info("OSCORE: context of %s (key version %d) loaded (%s)", ctx.device_id, ctx.version, reason)
        self._add(ctx)
        return ctx

    # -- lookups -------------------------------------------------------------------------------

    def get(self, kid: bytes) -> DeviceContext | None:
        """The context whose device sends with Sender ID `kid`, or None."""
        ctx = self._by_kid.get(kid)
        return ctx if ctx is not None else self._lookup(kid, "new kid")

    def find(self, kid: bytes, kid_context: bytes | None = None) -> DeviceContext | None:
        """As `get`, and a kid context given in the request must be the context's ID Context
        (a re-keyed device sends its new one: the key is reloaded)."""
        ctx = self.get(kid)
        if ctx is None or kid_context is None or kid_context == (ctx.id_context or b""):
            return ctx
        ctx = self._lookup(kid, "new kid context")
        if ctx is None or kid_context != (ctx.id_context or b""):
            return None
        return ctx

    def for_device(self, device_id: str) -> DeviceContext | None:
        return self._by_device.get(device_id)

    def for_address(self, hostinfo: str) -> DeviceContext | None:
        """The context of the device last heard from `hostinfo`, if it speaks OSCORE; else the
        device whose stored address it is (after a restart, before it spoke again)."""
        key = normal_hostinfo(hostinfo)
        ctx = self._by_address.get(key)
        if ctx is not None:
            return ctx
        from fleet.store.models import Device

        spellings = {hostinfo, key, key.removesuffix(f":{COAP_PORT}")}
        with self.db.session() as session:
            device_id = session.scalars(select(Device.device_id).where(Device.address.in_(spellings))).first()
        ctx = self._by_device.get(device_id) if device_id else None
        return ctx if ctx is not None and ctx.oscore_since is not None else None

    def plain_from(self, remote: str | None) -> None:
        """A plain uplink came from `remote`: whatever device spoke OSCORE there before has moved
        (NAT, DHCP), so the fleet's requests to that address go out plain again."""
        if remote and self._by_address:
            ctx = self._by_address.pop(normal_hostinfo(remote), None)
            if ctx is not None and ctx.address == normal_hostinfo(remote):
                ctx.address = None
                ctx.last_remote = None

    def requires_oscore(self, device_id: str) -> bool:
        if self.require_all:
            return True
        ctx = self._by_device.get(device_id)
        return ctx is not None and ctx.oscore_since is not None

    # -- state -----------------------------------------------------------------------------------

    def accepted(self, ctx: DeviceContext, remote: str | None) -> None:
        """A request from the device unprotected: remember its address; the first time, record
        that it speaks OSCORE (so plain messages naming it are refused from now on)."""
        remote = normal_hostinfo(remote) if remote else None
        if remote and ctx.address != remote:
            if ctx.address:
                self._by_address.pop(ctx.address, None)
            ctx.address = remote
            before = self._by_address.get(remote)
            if before is not None and before is not ctx:  # another device was last heard there
                before.address = None
                before.last_remote = None
            self._by_address[remote] = ctx
        if ctx.oscore_since is None:
            self._mark_since(ctx, now())

    def _mark_since(self, ctx: DeviceContext, when: datetime) -> None:
        """In force at once (in memory); written within SINCE_FLUSH_S (or at close)."""
        ctx.oscore_since = when
        with self._since_lock:
            self._since_pending.append(ctx)
            if self._since_scheduled:
                return
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on the event loop (loading): written at the next flush
                return
            self._since_scheduled = True
        loop.call_later(SINCE_FLUSH_S, lambda: loop.run_in_executor(None, self.flush_since))

    def flush_since(self) -> int:
        """Write the pending `oscore_since` marks in one transaction (off the event loop: a roll-out
        of a thousand devices is one commit, not a thousand). Returns how many."""
        with self._since_lock:
            pending, self._since_pending = self._since_pending, []
            self._since_scheduled = False
        if not pending:
            return 0
        try:
            with self.db.session() as session:
                for ctx in pending:
                    session.execute(update(DeviceCredential).where(
                        DeviceCredential.device_id == ctx.device_id, DeviceCredential.version == ctx.version
                    ).values(oscore_since=ctx.oscore_since))
                session.commit()
        except Exception as e:  # noqa: BLE001 - kept for the next flush (at the latest at close)
            log.error("OSCORE: could not record %d device(s) as speaking OSCORE: %r", len(pending), e)
            with self._since_lock:
                self._since_pending[:0] = pending
            return 0
        for ctx in pending:
            log.info("OSCORE: %s speaks OSCORE from now on; plain uplinks naming it are refused", ctx.device_id)
        return len(pending)

    def _reserve(self, ctx: DeviceContext, limit: int) -> None:
        try:
            self._write(lambda s: s.execute(update(DeviceCredential).where(
                DeviceCredential.device_id == ctx.device_id, DeviceCredential.version == ctx.version
            ).values(seq_limit=limit)))
        except Exception as e:  # noqa: BLE001 - never protect with a number not on disk
            log.error("OSCORE: cannot reserve sequence numbers for %s: %r", ctx.device_id, e)
            raise ao.ContextUnavailable(f"sequence numbers of {ctx.device_id} cannot be stored") from None
        ctx.seq_limit = limit

    def _write(self, fn: Any) -> None:
        with self.db.session() as session:
            fn(session)
            session.commit()

    def close(self) -> None:
        """Write every context's exact next sequence number and replay window back (clean
        shutdown: no Echo round trip and no skipped block at the next start)."""
        self.flush_since()
        ctxs = list(self._by_device.values())
        for ctx in ctxs:
            ctx.closed = True
        if not ctxs:
            return
        with self.db.session() as session:
            for ctx in ctxs:
                session.execute(update(DeviceCredential).where(
                    DeviceCredential.device_id == ctx.device_id, DeviceCredential.version == ctx.version
                ).values(seq_limit=ctx.sender_sequence_number, replay_state=ctx.replay_state()))
            session.commit()
        log.info("OSCORE: %d context(s) written back", len(ctxs))

    def __len__(self) -> int:
        return len(self._by_device)


def seal_clear_rows(db: Database, box: SecretBox) -> int:
    """Seal every clear Master Secret (rows written before revision 0005). On SQLite the file
    is then vacuumed, so the clear values do not linger in free pages or the WAL."""
    with db.session() as session:
        n = _seal(session, box)
        session.commit()
    if n and db.dialect == "sqlite":
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return n


def _seal(session: Session, box: SecretBox) -> int:
    n = 0
    for row in session.scalars(select(DeviceCredential)):
        if not is_sealed(row.master_secret):
            row.master_secret = box.seal(row.device_id, row.master_secret)
            n += 1
    return n
