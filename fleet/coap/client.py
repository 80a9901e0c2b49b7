"""The fleet's requests to devices: GET /health and POST /cmd, over the server's own context.

Sending from the server context means the datagrams leave from the port the device already
talks to, so a NAT mapping its uplinks opened lets them through. Every call has an overall
timeout; a device that does not answer in time raises `Unavailable`, one that answers garbage is
logged as misbehaving and raises `BadInput`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiocoap
from aiocoap.numbers.codes import Code

from fleet.coap.tuning import PollTuning
from fleet.core.errors import BadInput, Unavailable
from protocol import messages, paths
from protocol.cbor import CBORError
from protocol.coap_numbers import CF_CBOR

log = logging.getLogger(__name__)


class DeviceClient:
    def __init__(self, context: aiocoap.Context, *, timeout_s: float = 10.0) -> None:
        self.context = context
        self.timeout_s = timeout_s
        self.tuning = PollTuning()

    async def _request(self, code: Code, address: str, path: tuple[str, ...], payload: bytes = b"",
                       content_format: int | None = None) -> aiocoap.Message:
        uri = f"coap://{address}{paths.uri_path(path)}"
        msg = aiocoap.Message(code=code, uri=uri, payload=payload, transport_tuning=self.tuning)
        if content_format is not None:
            msg.opt.content_format = content_format
        req = self.context.request(msg)
        try:
            return await asyncio.wait_for(req.response, self.timeout_s)
        except (TimeoutError, asyncio.TimeoutError):
            raise Unavailable(f"{uri}: no answer within {self.timeout_s:g} s", reason="device_timeout") from None
        except aiocoap.error.Error as e:
            raise Unavailable(f"{uri}: {e}", reason="device_unreachable") from None
        except OSError as e:
            raise Unavailable(f"{uri}: {e}", reason="device_unreachable") from None

    @staticmethod
    def _decode(kind: str, resp: aiocoap.Message, expected: Code, where: str) -> dict[str, Any]:
        if resp.code != expected:
            raise Unavailable(f"{where} answered {resp.code}: {resp.payload[:200]!r}", reason="device_error")
        try:
            return messages.decode(kind, resp.payload)  # type: ignore[no-any-return]
        except (CBORError, messages.MessageError) as e:
            log.warning("device at %s answered with a bad %s: %s", where, kind, e)
            raise BadInput(f"{where}: {e}", reason=f"bad_{kind}") from None

    async def get_health(self, address: str) -> dict[str, Any]:
        """The device's heartbeat (flat dict) from GET /health."""
        resp = await self._request(Code.GET, address, paths.HEALTH)
        return self._decode("heartbeat", resp, Code.CONTENT, f"{address}/health")

    async def send_command(self, address: str, command: dict[str, Any]) -> dict[str, Any]:
        """POST /cmd with a command map; returns the device's command result."""
        resp = await self._request(Code.POST, address, paths.COMMAND, messages.encode("command", command), CF_CBOR)
        return self._decode("command_result", resp, Code.CHANGED, f"{address}/cmd")
