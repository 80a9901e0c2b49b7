"""A UDP relay between devices and the fleet that loses the first copy of every acknowledgement
(a piggy-backed response or an empty ACK), so each confirmable request is retransmitted at least
once: the way to show in a test
that retransmissions are stored once.

    relay = await LossyRelay.start(fleet_port)    # devices send to relay.port
    ... relay.retransmissions                      # CON requests seen again with the same id

One upstream socket per device address keeps addresses apart, and datagrams the fleet sends on it
first (polls, commands) go to that device too. Loopback only."""

from __future__ import annotations

import asyncio
from typing import Any

_ACK = 2
_CON = 0


def _header(data: bytes) -> tuple[int, int, int] | None:
    if len(data) < 4 or data[0] >> 6 != 1:
        return None
    return (data[0] >> 4) & 3, data[1], (data[2] << 8) | data[3]


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, relay: "LossyRelay", device: tuple[str, int]) -> None:
        self.relay = relay
        self.device = device
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.relay._from_fleet(self.device, data)


class LossyRelay(asyncio.DatagramProtocol):
    def __init__(self, fleet_port: int) -> None:
        self.fleet = ("127.0.0.1", fleet_port)
        self.port = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.upstream: dict[tuple[str, int], _Upstream] = {}
        self.seen_requests: set[tuple[tuple[str, int], int]] = set()
        self.dropped_responses: set[tuple[tuple[str, int], int]] = set()
        self.retransmissions = 0
        self.dropped = 0

    @classmethod
    async def start(cls, fleet_port: int) -> "LossyRelay":
        relay = cls(fleet_port)
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: relay, local_addr=("127.0.0.1", 0))
        assert relay.transport is not None
        relay.port = relay.transport.get_extra_info("sockname")[1]
        return relay

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        asyncio.ensure_future(self._from_device(addr, data))

    async def _from_device(self, device: tuple[str, int], data: bytes) -> None:
        up = self.upstream.get(device)
        if up is None:
            loop = asyncio.get_running_loop()
            up = _Upstream(self, device)
            self.upstream[device] = up
            await loop.create_datagram_endpoint(lambda: up, local_addr=("127.0.0.1", 0))
        h = _header(data)
        if h is not None and h[0] == _CON and 1 <= h[1] < 32:  # a confirmable request
            key = (device, h[2])
            if key in self.seen_requests:
                self.retransmissions += 1
            self.seen_requests.add(key)
        assert up.transport is not None
        up.transport.sendto(data, self.fleet)

    def _from_fleet(self, device: tuple[str, int], data: bytes) -> None:
        h = _header(data)
        if h is not None and h[0] == _ACK:  # a piggy-backed response or an empty ACK
            key = (device, h[2])
            if key not in self.dropped_responses:
                self.dropped_responses.add(key)
                self.dropped += 1
                return
        assert self.transport is not None
        self.transport.sendto(data, device)

    def close(self) -> None:
        for up in self.upstream.values():
            if up.transport is not None:
                up.transport.close()
        if self.transport is not None:
            self.transport.close()
