"""The fleet stand-in the bench runs beside the rig: an aiocoap server that speaks the wire
contract (docs/protocol.md) and stores what the board sends, plus a lossy UDP relay in front of
it. The board is provisioned with the relay's address, so packet loss and a fleet restart are
the same procedure on a real rig and on the virtual board (nothing on the board side changes).

Events are kept once per (device, seq) in a JSON-lines file: a restart really reloads them from
disk, as a real fleet reloads its database. Runs in its own thread and event loop so pytest code
stays synchronous.
"""

from __future__ import annotations

import asyncio
import json
import random
import select
import socket
import threading
import time
from pathlib import Path
from typing import Any

import aiocoap
import aiocoap.resource as resource

from protocol import messages


def free_udp_port(host: str = "127.0.0.1") -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Store:
    """What the stand-in remembers; events persist in `path` (JSON lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.events: dict[tuple[str, int], dict[str, Any]] = {}
        self.regs: list[dict[str, Any]] = []
        self.hbs: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self.cmds: dict[str, list[dict[str, Any]]] = {}
        self.duplicates = 0
        self._next_cmd = 1
        self.load()

    def load(self) -> None:
        with self.lock:
            self.events = {}
            if self.path.exists():
                for line in self.path.read_text().splitlines():
                    if line.strip():
                        e = json.loads(line)
                        self.events[(e["dev"], e["seq"])] = e

    def add_event(self, ev: dict[str, Any]) -> None:
        with self.lock:
            key = (ev["dev"], ev["seq"])
            if key in self.events:
                self.duplicates += 1
                return
            rec = {k: v for k, v in ev.items() if not isinstance(v, bytes)}
            rec["rx"] = time.time()
            self.events[key] = rec
            with self.path.open("a") as f:
                f.write(json.dumps(rec) + "\n")

    def queue(self, dev: str, op: str) -> int:
        with self.lock:
            cid = self._next_cmd
            self._next_cmd += 1
            self.cmds.setdefault(dev, []).append({"id": cid, "op": op})
            return cid

    def ack(self, dev: str, seq: int | None = None) -> bytes:
        with self.lock:
            pending = self.cmds.get(dev, [])
            a: dict[str, Any] = {"st": int(time.time()), "pc": len(pending)}
            if seq is not None:
                a["seq"] = seq
            if pending:
                # offered until the result comes back (re-delivery of an id is harmless)
                a["cmds"] = pending[:4]
            return messages.encode("ack", a)

    def result(self, r: dict[str, Any]) -> None:
        with self.lock:
            self.results.append(dict(r, rx=time.time()))
            self.cmds[r["dev"]] = [c for c in self.cmds.get(r["dev"], []) if c["id"] != r["id"]]

    def seqs(self, dev: str | None = None) -> list[int]:
        with self.lock:
            return sorted(s for (d, s) in self.events if dev is None or d == dev)

    def kinds(self, dev: str | None = None, since: float = 0.0) -> list[dict[str, Any]]:
        with self.lock:
            return sorted((e for (d, _), e in self.events.items()
                           if (dev is None or d == dev) and e["rx"] >= since), key=lambda e: e["seq"])


class _Post(resource.Resource):
    def __init__(self, store: Store, kind: str) -> None:
        super().__init__()
        self.store = store
        self.kind = kind

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            obj = messages.decode(self.kind, request.payload)
        except ValueError as e:
            return aiocoap.Message(code=aiocoap.BAD_REQUEST, payload=str(e).encode())
        seq = None
        st = self.store
        if self.kind == "event":
            st.add_event(obj)
            seq = obj["seq"]
        elif self.kind == "registration":
            obj = dict(obj, rx=time.time(), uid=obj["uid"].hex())
            with st.lock:
                st.regs.append(obj)
        elif self.kind == "heartbeat":
            with st.lock:
                st.hbs.append(dict(obj, rx=time.time()))
        else:
            st.result(obj)
        return aiocoap.Message(code=aiocoap.CHANGED, payload=st.ack(obj["dev"], seq), content_format=60)


class LossyRelay:
    """UDP relay board <-> fleet that drops each datagram with probability `loss`, both ways.
    `public` is the address the board is provisioned with."""

    def __init__(self, upstream: tuple[str, int], bind: str = "127.0.0.1", seed: int = 8) -> None:
        self.upstream = upstream
        self.loss = 0.0
        self.counts = {"up": 0, "down": 0, "dropped": 0}
        self._rng = random.Random(seed)
        self._pub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._pub.bind((bind, 0))
        self._up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._up.bind(("127.0.0.1", 0))
        self._peer: tuple[str, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hil-relay", daemon=True)
        self._thread.start()

    @property
    def public(self) -> tuple[str, int]:
        return self._pub.getsockname()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self._pub, self._up], [], [], 0.1)
            except (OSError, ValueError):
                return
            for s in r:
                try:
                    data, addr = s.recvfrom(65536)
                except OSError:
                    continue
                if self.loss and self._rng.random() < self.loss:
                    self.counts["dropped"] += 1
                    continue
                try:
                    if s is self._pub:
                        self._peer = addr
                        self.counts["up"] += 1
                        self._up.sendto(data, self.upstream)
                    elif self._peer is not None:
                        self.counts["down"] += 1
                        self._pub.sendto(data, self._peer)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._pub.close()
        self._up.close()


class FleetStandIn:
    """start() / stop() / restart(); `store` keeps what arrived; `relay.loss` sets packet loss."""

    def __init__(self, workdir: Path, bind: str = "127.0.0.1", port: int = 0) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.store = Store(workdir / "fleet-events.jsonl")
        self.host = "127.0.0.1"
        self.port = port or free_udp_port()
        self.relay = LossyRelay((self.host, self.port), bind=bind)
        self.restarts = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hil-fleet", daemon=True)
        self._thread.start()
        self._ctx: aiocoap.Context | None = None

    def _call(self, coro: Any, timeout: float = 20.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _start(self) -> None:
        site = resource.Site()
        for path, kind in ((("gg", "reg"), "registration"), (("gg", "ev"), "event"),
                           (("gg", "hb"), "heartbeat"), (("gg", "cr"), "command_result")):
            site.add_resource(list(path), _Post(self.store, kind))
        last: Exception | None = None
        for _ in range(50):  # the port may linger a moment after a shutdown
            try:
                self._ctx = await aiocoap.Context.create_server_context(site, bind=(self.host, self.port))
                return
            except OSError as e:
                last = e
                await asyncio.sleep(0.1)
        raise RuntimeError("fleet stand-in cannot bind %s:%d: %s" % (self.host, self.port, last))

    async def _stop(self) -> None:
        if self._ctx is not None:
            await self._ctx.shutdown()
            self._ctx = None

    @property
    def running(self) -> bool:
        return self._ctx is not None

    def start(self) -> FleetStandIn:
        self._call(self._start())
        return self

    def stop(self) -> None:
        self._call(self._stop())

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the server, forget everything but what is on disk, start again."""
        self.stop()
        time.sleep(down_s)
        self.store.load()
        self.restarts += 1
        self.start()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()
            self.relay.close()
