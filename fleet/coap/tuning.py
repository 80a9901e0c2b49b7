"""CoAP transmission parameters the fleet chooses, and why.

Duplicate detection (RFC 7252 §4.5). aiocoap remembers every confirmable request (and its
response) for EXCHANGE_LIFETIME = 247 s so it can answer a retransmission with the same
response. Each entry costs about 2.4 KB (the stored response Message with its remote and options,
plus a loop timer); at 1,000 requests a second that is ~250,000 entries and hundreds of MB, and
the garbage collector's pauses grow with it (issue 5/9 measured 44 MB -> 403 MB, p99 427 ms).

The fleet does not need 247 s: every message it takes is idempotent at the application level
(events by (device, seq), registration and command results by their content, a repeated
heartbeat only adds one reading), so the message layer only has to catch the quick
retransmissions of one exchange. A device's last retransmission comes at most MAX_TRANSMIT_SPAN
(45 s with the RFC defaults) after the first try, but in practice the retransmissions that matter
come within the first ACK_TIMEOUT·2^n steps (2-3 s, 6-9 s, 14-21 s); `coap_dedup_lifetime_s`
(default 30 s) covers those, and anything later is absorbed by the store's idempotency. Memory is
then bounded by rate x lifetime instead of rate x 247 s (measured in docs/fleet.md)."""

from __future__ import annotations

from aiocoap.numbers.constants import TransportTuning


class FleetTuning(TransportTuning):
    """RFC defaults except how long a received CON's message id is remembered."""

    def __init__(self, dedup_lifetime_s: float) -> None:
        self._dedup_lifetime_s = float(dedup_lifetime_s)

    @property
    def EXCHANGE_LIFETIME(self) -> float:  # noqa: N802 - aiocoap's name
        return self._dedup_lifetime_s


class PollTuning(TransportTuning):
    """For the fleet's own requests to devices (health polls, direct commands): fewer, faster
    retransmissions, because the poller has its own overall timeout and will try again later."""

    ACK_TIMEOUT = 1.0
    MAX_RETRANSMIT = 2
