"""`gasguard serve`: the fleet's CoAP ingest and HTTP API/dashboard in one process.

From Python: `async with serving(settings) as fleet:` (in-process, ports in `fleet.coap_port`
and `ServeHandle.http_port`), or `run(settings)` (blocking). As a subprocess:
`gasguard serve --coap-port 0 --http-port 0 --ready-file F` writes the bound ports to F as JSON
when both sides listen, which is how the demo and tests find a server started on free ports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from fleet.api.main import create_app
from fleet.core.config import Settings, get_settings
from fleet.core.heap import freeze_after_warm_up, freeze_startup_heap, thaw_heap
from fleet.runtime import Fleet
from fleet.tasks import progress_snapshot, work_orders

log = logging.getLogger(__name__)


class ServeHandle:
    """A running fleet: its Fleet, its HTTP server, and the ports both sides bound."""

    def __init__(self, fleet: Fleet, server: uvicorn.Server, http_port: int) -> None:
        self.fleet = fleet
        self.server = server
        self.http_port = http_port

    @property
    def coap_port(self) -> int | None:
        return self.fleet.coap_port

    @property
    def http_url(self) -> str:
        host = self.fleet.settings.http_host
        return f"http://{host}:{self.http_port}"

    @property
    def coap_url(self) -> str:
        return f"coap://{self.fleet.settings.coap_host}:{self.coap_port}"


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[ServeHandle]:
    """Start CoAP and HTTP in the running event loop; stop both on exit."""
    fleet = Fleet(settings)
    await fleet.start()
    work_orders.start(fleet)  # the lifecycle work orders, daily (fleet/tasks/work_orders.py)
    progress_snapshot.start(fleet)  # township progress kept current (fleet/tasks/progress_snapshot.py)
    app = create_app(fleet, manage=False)
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on accepted sockets of that protocol
    # number; with 0 every keep-alive response after the first waited ~44 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.http_host, settings.http_port))
    except OSError as e:
        sock.close()
        await fleet.stop()
        raise OSError(f"cannot listen for HTTP on {settings.http_host}:{settings.http_port}: {e.strerror}; "
                      "choose another --http-port (0 picks a free one)") from None
    http_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign] - we own the signals
    task = asyncio.create_task(server.serve(sockets=[sock]), name="fleet-http")
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("HTTP server stopped during start-up")
        await asyncio.sleep(0.01)
    handle = ServeHandle(fleet, server, http_port)
    freeze_startup_heap()  # full collections skip start-up objects (fleet/core/heap.py: why, measured)
    warm = freeze_after_warm_up(asyncio.get_running_loop())
    log.info("fleet serving: HTTP %s, CoAP %s, database %s", handle.http_url, handle.coap_url, settings.db)
    try:
        yield handle
    finally:
        warm.cancel()
        thaw_heap()  # a process that serves again (tests) lets this fleet's objects be collected
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task
        sock.close()
        await fleet.stop()


async def run(settings: Settings, *, ready_file: Path | None = None, announce: bool = True) -> None:
    """Serve until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with serving(settings) as handle:
        info = {"http_port": handle.http_port, "coap_port": handle.coap_port, "http_url": handle.http_url,
                "coap_url": handle.coap_url, "db": settings.db}
        if ready_file is not None:
            tmp = ready_file.with_suffix(ready_file.suffix + ".tmp")
            tmp.write_text(json.dumps(info), encoding="utf-8")
            tmp.replace(ready_file)
        if announce:
            typer.echo(f"gasguard fleet: dashboard {handle.http_url}/  API {handle.http_url}/docs  "
                       f"CoAP {handle.coap_url}  db {settings.db}")
        await stop.wait()


def serve(
    db: Annotated[str | None, typer.Option("--db", help="database URL or SQLite file (default var/fleet.db)")] = None,
    coap_port: Annotated[int | None, typer.Option("--coap-port", help="CoAP UDP port (0 = any free)")] = None,
    http_port: Annotated[int | None, typer.Option("--http-port", help="HTTP port (0 = any free)")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML config file (also $GASGUARD_CONFIG)")] = None,
    ready_file: Annotated[Path | None, typer.Option("--ready-file", help="write bound ports as JSON here when up")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR")] = "INFO",
    coap_ingest: Annotated[str | None, typer.Option(
        "--coap-ingest", help="device uplinks: fast (off the socket) or aiocoap (its request pipeline)")] = None,
    ingest_workers: Annotated[int | None, typer.Option(
        "--ingest-workers", help="extra processes taking heartbeats off the CoAP port (about one per spare core)")] = None,
) -> None:
    """Run the fleet service: CoAP ingest and the HTTP API and dashboard, together."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("coap-server").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = get_settings(config, db=db, coap_port=coap_port, http_port=http_port, coap_ingest=coap_ingest,
                                ingest_workers=ingest_workers)
    except (ValueError, FileNotFoundError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    try:
        # asyncio's own loop, not uvloop: aiocoap's recvmsg transport never reads its socket on
        # uvloop when datagrams arrive while it starts (seen with the benchmark's start-up pings)
        asyncio.run(run(settings, ready_file=ready_file))
    except (OSError, ConnectionError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
