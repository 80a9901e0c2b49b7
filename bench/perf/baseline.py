"""The baseline: a bare aiocoap server with the fleet's four resources that only decodes the payload.

It answers what the fleet answers (2.04 with a small CBOR ack) and does nothing else: no
validation, no store. The runner measures it with the same generator in the same run, so the
fleet's throughput is reported as a ratio to "aiocoap alone" on the same machine and minute.
Stock aiocoap settings on purpose (duplicate detection on, default event loop): this is what a
straightforward aiocoap service costs.

    python -m bench.perf.baseline --port 5683 [--cpu 0] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time

import aiocoap
import aiocoap.resource as resource
import cbor2


class Ingest(resource.Resource):
    """POST: decode the CBOR body, answer 2.04 with {st, pc}."""

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            cbor2.loads(request.payload)
        except Exception:  # noqa: BLE001 - any undecodable body is a 4.00, as in the fleet
            return aiocoap.Message(code=aiocoap.BAD_REQUEST, payload=b"bad cbor")
        ack = cbor2.dumps({"st": int(time.time()), "pc": 0})
        return aiocoap.Message(code=aiocoap.CHANGED, payload=ack, content_format=60)


def site() -> resource.Site:
    root = resource.Site()
    root.add_resource([".well-known", "core"], resource.WKCResource(root.get_resources_as_linkheader))
    for name in ("reg", "hb", "ev", "cr"):
        root.add_resource(["gg", name], Ingest())
    return root


async def serve(host: str, port: int) -> None:
    ctx = await aiocoap.Context.create_server_context(site(), bind=(host, port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await ctx.shutdown()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5683)
    p.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    p.add_argument("--uvloop", action="store_true", help="run on uvloop instead of asyncio's loop")
    a = p.parse_args(argv)
    if a.cpu is not None:
        os.sched_setaffinity(0, {a.cpu})
    if a.uvloop:
        import uvloop

        uvloop.run(serve(a.host, a.port))
    else:
        asyncio.run(serve(a.host, a.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
