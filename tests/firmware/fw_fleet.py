"""A small aiocoap server standing in for the fleet in firmware tests (CPython only)."""

from __future__ import annotations

import socket
import time

import aiocoap
import aiocoap.resource as resource

from protocol import messages


def free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Fleet:
    """What the fleet does for these tests: store events once per (dev, seq), ack, offer
    queued commands in acks."""

    def __init__(self) -> None:
        self.events: dict[int, dict] = {}
        self.posts: list[tuple[str, dict]] = []
        self.regs: list[dict] = []
        self.hbs: list[dict] = []
        self.results: list[dict] = []
        self.cmds: list[dict] = []
        self.claims: list[str] = []  # per request: the remote's kind (OSCOREAddress: protected)

    def ack(self, seq: int | None = None) -> bytes:
        a: dict = {"st": int(time.time()), "pc": len(self.cmds)}
        if seq is not None:
            a["seq"] = seq
        if self.cmds:
            a["cmds"] = self.cmds[:4]
            self.cmds = self.cmds[4:]
        return messages.encode("ack", a)

    def site(self) -> resource.Site:
        fleet = self

        class Post(resource.Resource):
            def __init__(self, kind: str) -> None:
                super().__init__()
                self.kind = kind

            async def render_post(self, request):
                obj = messages.decode(self.kind, request.payload)
                fleet.claims.append(type(request.remote).__name__)
                fleet.posts.append((self.kind, obj))
                seq = None
                if self.kind == "event":
                    fleet.events.setdefault(obj["seq"], obj)
                    seq = obj["seq"]
                elif self.kind == "registration":
                    fleet.regs.append(obj)
                elif self.kind == "heartbeat":
                    fleet.hbs.append(obj)
                else:
                    fleet.results.append(obj)
                return aiocoap.Message(code=aiocoap.CHANGED, payload=fleet.ack(seq),
                                       content_format=60)

        site = resource.Site()
        site.add_resource(["gg", "reg"], Post("registration"))
        site.add_resource(["gg", "ev"], Post("event"))
        site.add_resource(["gg", "hb"], Post("heartbeat"))
        site.add_resource(["gg", "cr"], Post("command_result"))
        return site


async def start_server(fleet: Fleet, port: int):
    return await aiocoap.Context.create_server_context(fleet.site(), bind=("127.0.0.1", port))
