"""fleet/coap/client.py against small aiocoap devices that misbehave."""

from __future__ import annotations

import asyncio
from typing import Any

import aiocoap
import aiocoap.resource
import pytest
from aiocoap.numbers.codes import Code

from fleet.coap.client import DeviceClient
from fleet.core.errors import BadInput, Unavailable


class Garbage(aiocoap.resource.Resource):
    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(code=Code.CONTENT, payload=b"\x81\x01")  # a CBOR array, not a SenML pack

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(code=Code.BAD_REQUEST, payload=b"command.op: no")


def _with_device(body: Any) -> Any:
    async def main() -> Any:
        site = aiocoap.resource.Site()
        site.add_resource(("health",), Garbage())
        site.add_resource(("cmd",), Garbage())
        dev = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", 0), transports=["udp6"])
        port = dev.request_interfaces[0].token_interface.message_interface.transport.get_extra_info(
            "socket").getsockname()[1]
        ctx = await aiocoap.Context.create_client_context()
        try:
            return await body(DeviceClient(ctx, timeout_s=2.0), f"127.0.0.1:{port}")
        finally:
            await ctx.shutdown()
            await dev.shutdown()

    return asyncio.run(main())


def test_get_health__bad_heartbeat__bad_input() -> None:
    async def body(client: DeviceClient, addr: str) -> None:
        with pytest.raises(BadInput, match=rf"^{addr}/health: heartbeat\[0\]: expected map \(SenML record\), got uint$"):
            await client.get_health(addr)

    _with_device(body)


def test_send_command__error_code__unavailable() -> None:
    async def body(client: DeviceClient, addr: str) -> None:
        with pytest.raises(Unavailable, match=rf"^{addr}/cmd answered 4.00 Bad Request: b'command.op: no'$"):
            await client.send_command(addr, {"id": 1, "op": "reboot"})

    _with_device(body)


def test_get_health__nobody_listening__unavailable() -> None:
    async def main() -> None:
        import socket

        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))  # bound but never answers: the request times out
        port = s.getsockname()[1]
        ctx = await aiocoap.Context.create_client_context()
        try:
            with pytest.raises(Unavailable, match=rf"^coap://127.0.0.1:{port}/health: no answer within 0.3 s$"):
                await DeviceClient(ctx, timeout_s=0.3).get_health(f"127.0.0.1:{port}")
        finally:
            await ctx.shutdown()
            s.close()

    asyncio.run(main())
