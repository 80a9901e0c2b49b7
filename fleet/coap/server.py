"""The fleet's CoAP server: `/gg/reg`, `/gg/hb`, `/gg/ev`, `/gg/cr` and `/.well-known/core`.

Each ingest resource checks the content format, decodes with `protocol.messages` (the one
definition of every message), hands the dict to the batch writer and answers with the ack only
after the batch is committed. What goes wrong is answered with the code from the one error table
(fleet/core/errors.py) and a diagnostic payload naming the problem (RFC 7252 §5.5.2), counted in
`ingest_errors`, and never stops the server: a resource that raises something unexpected answers
5.00 and is logged as our fault."""

from __future__ import annotations

import logging
import socket
from typing import Any

import aiocoap
import aiocoap.error
import aiocoap.resource
from aiocoap.numbers.codes import Code

from fleet.core.clock import now
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

    def __init__(self, row: tuple[Any, ...], writer: BatchWriter, counter: ErrorCounter) -> None:
        super().__init__()
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
        result = await self.writer.submit(Item(kind=self.kind, body=body, at=now(), remote=remote))
        if result.error is not None:
            if result.error.reason not in ("store_failed",):
                log.warning("%s from %s refused: %s", self.uri, remote, result.error)
            return self._refuse(result.error, remote)
        return aiocoap.Message(code=Code.CHANGED, payload=messages.encode("ack", result.ack),
                               content_format=paths.RESOURCES[0][paths.RESPONSE_CF])


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


def build_site(writer: BatchWriter, counter: ErrorCounter) -> CountingSite:
    site = CountingSite(counter)
    site.add_resource(paths.WELL_KNOWN_CORE, WellKnownCore())
    for row in INGEST_PATHS.values():
        site.add_resource(row[paths.PATH], IngestResource(row, writer, counter))
    return site


class CoapServer:
    """The CoAP endpoint: an aiocoap server context bound to one UDP port.

    `start()` binds (port 0 picks a free one; `port` tells which), `stop()` shuts it down. The
    same context sends the fleet's requests to devices, from the port devices already talk to,
    so a NAT mapping their uplinks opened also lets polls and commands in."""

    def __init__(self, writer: BatchWriter, counter: ErrorCounter, *, host: str = "127.0.0.1", port: int = 5683,
                 dedup_lifetime_s: float = 15.0) -> None:
        self.writer = writer
        self.counter = counter
        self.host = host
        self.port = port
        self.tuning = FleetTuning(dedup_lifetime_s)
        self.context: aiocoap.Context | None = None

    async def start(self) -> None:
        site = build_site(self.writer, self.counter)
        try:
            self.context = await aiocoap.Context.create_server_context(
                site, bind=(self.host, self.port), transports=["udp6"]
            )
        except OSError as e:
            raise OSError(e.errno, f"cannot listen for CoAP on {self.host}:{self.port}: {e.strerror or e}; "
                          "choose another --coap-port (0 picks a free one)") from None
        self.tuning = apply_dedup_lifetime(self.context, self.tuning.EXCHANGE_LIFETIME)
        self.port = self._bound_port()
        log.info("CoAP listening on %s:%d", self.host, self.port)

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
