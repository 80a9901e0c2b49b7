"""The fleet's CoAP server: `/gg/reg`, `/gg/hb`, `/gg/ev`, `/gg/cr` and `/.well-known/core`.

Each ingest resource checks the content format, decodes with `protocol.messages` (the one
definition of every message), hands the dict to the batch writer and answers with the ack only
after the batch is committed. What goes wrong is answered with the code from the one error table
(fleet/core/errors.py) and a diagnostic payload naming the problem (RFC 7252 §5.5.2), counted in
`ingest_errors`, and never stops the server: a resource that raises something unexpected answers
5.00 and is logged as our fault.

With OSCORE on (`oscore_enabled`, the default) the site is wrapped in `OscoreSite`
(fleet/coap/oscore_site.py): protected requests are unprotected with the device's own context
before they get here, and the ingest resources check who sent them: a protected message must
name the device its key belongs to (else 4.03), and a plain one must not name a device that
speaks OSCORE (else 4.01 "OSCORE required"). Both are counted per device and store nothing."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import aiocoap
import aiocoap.error
import aiocoap.resource
from aiocoap.numbers.codes import Code

from fleet.coap import oscore_vault
from fleet.coap.oscore_client import DeviceCredentials
from fleet.coap.oscore_keys import DeviceContexts
from fleet.coap.oscore_site import OscoreSite, device_of
from fleet.core.clock import now
from fleet.core.config import Settings
from fleet.core.errors import BadInput, FleetError, UnsupportedFormat, coap_code
from fleet.ingest.core import Item
from fleet.ingest.counters import ErrorCounter
from fleet.ingest.writer import BatchWriter
from fleet.coap.tuning import FleetTuning, apply_dedup_lifetime, dedup_entries, message_managers
from protocol import messages, paths
from protocol.cbor import CBORError
from protocol.coap_numbers import CF_LINK_FORMAT

log = logging.getLogger(__name__)

INGEST_PATHS = {row[paths.NAME]: row for row in paths.for_side(paths.FLEET)}


def _error_response(err: FleetError) -> aiocoap.Message:
    return aiocoap.Message(code=coap_code(err), payload=str(err).encode("utf-8")[:1024], content_format=0)


class IngestResource(aiocoap.resource.Resource):
    """One of the fleet's POST resources, driven by its row in `protocol.paths.RESOURCES`."""

    def __init__(self, row: tuple[Any, ...], writer: BatchWriter, counter: ErrorCounter,
                 contexts: DeviceContexts | None = None) -> None:
        super().__init__()
        self.contexts = contexts
        self.name = row[paths.NAME]
        self.kind = row[paths.REQUEST_KIND]
        self.content_format = row[paths.REQUEST_CF]
        self.uri = paths.uri_path(row[paths.PATH])
        self.writer = writer
        self.counter = counter
        self.rt = f"gg.{self.name}"
        self.ct = self.content_format

    def _refuse(self, err: FleetError, remote: str | None) -> aiocoap.Message:
        self.counter.count(self.uri, err.reason, str(err), remote)
        return _error_response(err)

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        remote = _hostinfo(request)
        cf = request.opt.content_format
        if cf is not None and int(cf) != self.content_format:
            log.warning("%s from %s: content format %s, expected %d", self.uri, remote, int(cf), self.content_format)
            return self._refuse(UnsupportedFormat(
                f"{self.uri} takes content-format {self.content_format}, got {int(cf)}",
                reason="unsupported_format"), remote)
        try:
            body = messages.decode(self.kind, request.payload)
        except CBORError as e:
            log.warning("%s from %s: bad CBOR: %s", self.uri, remote, e)
            return self._refuse(BadInput(f"{self.kind}: not valid CBOR: {e}", reason="bad_cbor"), remote)
        except messages.MessageError as e:
            log.warning("%s from %s: %s", self.uri, remote, e)
            return self._refuse(BadInput(str(e), reason="bad_message"), remote)
        except (ValueError, TypeError, KeyError) as e:  # a decoder gap must not become a 5.00
            log.warning("%s from %s: undecodable: %r", self.uri, remote, e)
            return self._refuse(BadInput(f"{self.kind}: undecodable: {e}", reason="bad_message"), remote)
        refused = self._check_sender(request, body, remote)
        if refused is not None:
            return refused
        result = await self.writer.submit(Item(kind=self.kind, body=body, at=now(), remote=remote))
        if result.error is not None:
            if result.error.reason not in ("store_failed",):
                log.warning("%s from %s refused: %s", self.uri, remote, result.error)
            return self._refuse(result.error, remote)
        return aiocoap.Message(code=Code.CHANGED, payload=messages.encode("ack", result.ack),
                               content_format=paths.RESOURCES[0][paths.RESPONSE_CF])


    def _check_sender(self, request: aiocoap.Message, body: dict[str, Any], remote: str | None
                      ) -> aiocoap.Message | None:
        """A protected message must name its key's device; a plain one must not name a device
        that speaks OSCORE. Refusals are counted per device and answered unprotected-safe."""
        dev = str(body.get("dev", ""))
        ctx = device_of(request)
        if ctx is not None:
            if dev == ctx.device_id:
                return None
            detail = f"{self.uri}: message names {dev!r} but came with the key of {ctx.device_id!r}"
            log.warning("%s from %s", detail, remote)
            self.counter.count(self.uri, "oscore_wrong_device", detail, remote, device=ctx.device_id)
            return aiocoap.Message(code=Code.FORBIDDEN, payload=detail.encode()[:1024], content_format=0)
        if self.contexts is None:
            return None
        if self.contexts.requires_oscore(dev):
            detail = f"{self.uri}: {dev!r} speaks OSCORE; a plain message naming it is refused"
            log.warning("%s (from %s)", detail, remote)
            self.counter.count(self.uri, "oscore_required", detail, remote, device=dev)
            return aiocoap.Message(code=Code.UNAUTHORIZED, max_age=0, payload=b"OSCORE required")
        self.contexts.plain_from(remote)
        return None


class WellKnownCore(aiocoap.resource.Resource):
    """GET /.well-known/core (RFC 6690): the fleet's resources in link format."""

    def __init__(self) -> None:
        super().__init__()
        self.body = paths.link_format(paths.FLEET).encode("ascii")

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(code=Code.CONTENT, payload=self.body, content_format=CF_LINK_FORMAT)


class CountingSite(aiocoap.resource.Site):
    """aiocoap's router, counting requests for paths or methods we do not serve, and turning
    anything unexpected into a logged 5.00 instead of a dead request handler."""

    def __init__(self, counter: ErrorCounter) -> None:
        super().__init__()
        self.counter = counter

    async def render_to_pipe(self, pipe: Any) -> None:
        request = pipe.request
        where = "/" + "/".join(request.opt.uri_path)
        try:
            await super().render_to_pipe(pipe)
        except aiocoap.error.NotFound:
            self.counter.count(where, "unknown_resource", None, _hostinfo(request))
            raise
        except aiocoap.error.UnallowedMethod:
            self.counter.count(where, "method_not_allowed", str(request.code), _hostinfo(request))
            raise
        except aiocoap.error.Error:
            raise
        except Exception as e:  # noqa: BLE001 - never let one request take the server down
            log.error("CoAP %s %s failed: %r", request.code, where, e, exc_info=True)
            self.counter.count(where, "internal", repr(e), _hostinfo(request))
            pipe.add_response(aiocoap.Message(code=Code.INTERNAL_SERVER_ERROR,
                                              payload=b"internal error; the fleet logged it"), is_last=True)


def _hostinfo(request: aiocoap.Message) -> str | None:
    try:
        return request.remote.hostinfo
    except Exception:  # noqa: BLE001 - a transport without hostinfo
        return None


def build_site(writer: BatchWriter, counter: ErrorCounter, contexts: DeviceContexts | None = None) -> CountingSite:
    site = CountingSite(counter)
    site.add_resource(paths.WELL_KNOWN_CORE, WellKnownCore())
    for row in INGEST_PATHS.values():
        site.add_resource(row[paths.PATH], IngestResource(row, writer, counter, contexts))
    return site


class CoapServer:
    """The CoAP endpoint: an aiocoap server context bound to one UDP port.

    `start()` binds (port 0 picks a free one; `port` tells which), `stop()` shuts it down. The
    same context sends the fleet's requests to devices, from the port devices already talk to,
    so a NAT mapping their uplinks opened also lets polls and commands in.

    With `settings.oscore_enabled` it loads every device's OSCORE context at start (sealing any
    clear secret first), serves through `OscoreSite`, protects its own requests to devices that
    speak OSCORE (aiocoap's OSCORE transport, `DeviceCredentials`) and writes the contexts'
    state back at stop. Settings and database default to the writer's."""

    def __init__(self, writer: BatchWriter, counter: ErrorCounter, *, host: str = "127.0.0.1", port: int = 5683,
                 dedup_lifetime_s: float = 15.0, settings: Settings | None = None) -> None:
        self.writer = writer
        self.counter = counter
        self.host = host
        self.port = port
        self.tuning = FleetTuning(dedup_lifetime_s)
        self.context: aiocoap.Context | None = None
        self.settings = settings or writer.ingestor.settings
        self.oscore_enabled = bool(self.settings.oscore_enabled)
        self.contexts: DeviceContexts | None = None

    async def _load_contexts(self) -> DeviceContexts:
        db = self.writer.db
        box = oscore_vault.box_from_settings(self.settings)
        oscore_vault.register(db.url, box)
        contexts = DeviceContexts(db, box, seq_block=self.settings.oscore_seq_block,
                                  require_all=self.settings.oscore_required)
        await asyncio.to_thread(contexts.load_all)
        return contexts

    async def start(self) -> None:
        transports = ["udp6"]
        if self.oscore_enabled:
            self.contexts = await self._load_contexts()
            site: Any = OscoreSite(build_site(self.writer, self.counter, self.contexts), self.contexts, self.counter)
            transports = ["oscore", "udp6"]
        else:
            site = build_site(self.writer, self.counter)
        try:
            self.context = await aiocoap.Context.create_server_context(
                site, bind=(self.host, self.port), transports=transports
            )
        except OSError as e:
            if self.contexts is not None:
                await asyncio.to_thread(self.contexts.close)
                self.contexts = None
            raise OSError(e.errno, f"cannot listen for CoAP on {self.host}:{self.port}: {e.strerror or e}; "
                          "choose another --coap-port (0 picks a free one)") from None
        if self.contexts is not None:
            self.context.client_credentials = DeviceCredentials(self.contexts)
        self.tuning = apply_dedup_lifetime(self.context, self.tuning.EXCHANGE_LIFETIME)
        self.port = self._bound_port()
        log.info("CoAP listening on %s:%d (OSCORE %s)", self.host, self.port, "on" if self.oscore_enabled else "off")

    def _bound_port(self) -> int:
        assert self.context is not None
        for mm in message_managers(self.context):
            transport = getattr(mm.message_interface, "transport", None)
            if transport is not None:
                sock: socket.socket = transport.get_extra_info("socket")
                return int(sock.getsockname()[1])
        return self.port

    def dedup_entries(self) -> int:
        """How many message ids aiocoap currently remembers (bounded by rate x lifetime)."""
        return dedup_entries(self.context) if self.context is not None else 0

    async def stop(self) -> None:
        if self.context is not None:
            await self.context.shutdown()
            self.context = None
        if self.contexts is not None:
            contexts, self.contexts = self.contexts, None
            try:
                await asyncio.to_thread(contexts.close)
            except Exception as e:  # noqa: BLE001 - the next start then recovers with Echo (B.1.2)
                log.error("could not write OSCORE context state at shutdown: %r", e)
