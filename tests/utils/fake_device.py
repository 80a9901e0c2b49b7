"""A fake gasguard device on aiocoap for fleet tests: it posts registration, heartbeats, events
and command results to the fleet, and serves GET /health and POST /cmd like the firmware does.

Uplinks go out of the same socket the device serves on (one aiocoap server context), so the
fleet learns the address it can poll, as it would through a NAT."""

from __future__ import annotations

import asyncio
from typing import Any

import aiocoap
import aiocoap.resource
from aiocoap.numbers.codes import Code

from protocol import messages
from utils import fleet_factories as ff


class _Health(aiocoap.resource.Resource):
    def __init__(self, dev: "FakeDevice") -> None:
        super().__init__()
        self.dev = dev

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        self.dev.health_polls += 1
        if not self.dev.answer_polls:
            await asyncio.sleep(3600)  # never answers (the poller times out)
        return aiocoap.Message(code=Code.CONTENT, payload=messages.encode("heartbeat", self.dev.health()),
                               content_format=112)


class _Cmd(aiocoap.resource.Resource):
    def __init__(self, dev: "FakeDevice") -> None:
        super().__init__()
        self.dev = dev

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        cmd = messages.decode("command", request.payload)
        result = self.dev.execute(cmd)
        return aiocoap.Message(code=Code.CHANGED, payload=messages.encode("command_result", result),
                               content_format=60)


class FakeDevice:
    def __init__(self, device_id: str, fleet_port: int, *, model: str = "GG-A1") -> None:
        self.device_id = device_id
        self.fleet_uri = f"coap://127.0.0.1:{fleet_port}"
        self.model = model
        self.seq = 0
        self.lel = 0.5
        self.valve = 0
        self.answer_polls = True
        self.health_polls = 0
        self.executed: list[dict[str, Any]] = []
        self.ctx: aiocoap.Context | None = None

    async def start(self) -> "FakeDevice":
        site = aiocoap.resource.Site()
        site.add_resource(("health",), _Health(self))
        site.add_resource(("cmd",), _Cmd(self))
        self.ctx = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", 0), transports=["udp6"])
        return self

    async def stop(self) -> None:
        if self.ctx is not None:
            await self.ctx.shutdown()
            self.ctx = None

    def health(self) -> dict[str, Any]:
        return ff.heartbeat(self.device_id, lel=self.lel, valve=self.valve, last_seq=self.seq)

    def execute(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Run a command once per id (a re-delivered id is answered without running again)."""
        if not any(c["id"] == cmd["id"] for c in self.executed):
            self.executed.append(cmd)
            if cmd["op"] == "close_valve":
                self.valve = 1
        result: dict[str, Any] = {"dev": self.device_id, "id": cmd["id"], "st": "done"}
        if cmd["op"] == "selftest":
            result["ok"] = True
        return result

    async def post(self, path: str, kind: str, body: dict[str, Any]) -> tuple[Code, dict[str, Any] | bytes]:
        assert self.ctx is not None, "start() first"
        cf = 112 if kind == "heartbeat" else 60
        req = aiocoap.Message(code=Code.POST, uri=f"{self.fleet_uri}/{path}", payload=messages.encode(kind, body),
                              content_format=cf)
        resp = await self.ctx.request(req).response
        if resp.code == Code.CHANGED:
            return resp.code, messages.decode("ack", resp.payload)
        return resp.code, resp.payload

    async def register(self, **kw: Any) -> dict[str, Any]:
        code, ack = await self.post("gg/reg", "registration", ff.registration(self.device_id, model=self.model,
                                                                                seq=self.seq, **kw))
        assert code == Code.CHANGED, (code, ack)
        return ack  # type: ignore[return-value]

    async def heartbeat(self) -> dict[str, Any]:
        code, ack = await self.post("gg/hb", "heartbeat", self.health())
        assert code == Code.CHANGED, (code, ack)
        return ack  # type: ignore[return-value]

    async def event(self, k: str, **kw: Any) -> dict[str, Any]:
        self.seq += 1
        code, ack = await self.post("gg/ev", "event", ff.event(self.device_id, self.seq, k, **kw))
        assert code == Code.CHANGED, (code, ack)
        return ack  # type: ignore[return-value]

    async def run_acked_commands(self, ack: dict[str, Any]) -> list[dict[str, Any]]:
        """Do what the firmware does with `cmds` in an ack: execute, then POST each result."""
        results = []
        for cmd in ack.get("cmds", []):
            result = self.execute(cmd)
            code, _ = await self.post("gg/cr", "command_result", result)
            assert code == Code.CHANGED
            results.append(result)
        return results
