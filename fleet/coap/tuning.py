"""CoAP transmission parameters the fleet chooses, and why.

Duplicate detection (RFC 7252 §4.5). aiocoap remembers every confirmable request (and its
response) for EXCHANGE_LIFETIME = 247 s so it can answer a retransmission with the same
response. Each entry costs about 2.4 KB (the stored response Message with its remote and options,
plus a loop timer); at 1,000 requests a second that is ~250,000 entries and hundreds of MB, and
the garbage collector's pauses grow with it (issue 5/9 measured 44 MB -> 403 MB, p99 427 ms).

The fleet does not need 247 s: every message it takes is idempotent at the application level
(events by (device, seq), registration and command results by their content, a repeated
heartbeat only adds one reading), so the message layer only has to catch the quick
retransmissions of one exchange. With the RFC defaults a device retransmits at about 2-3 s,
6-9 s, 14-21 s and 30-45 s after the first try, and aiocoap sends an empty ACK after 0.1 s when a
response is not ready, which stops the retransmissions of a request that did arrive. So
`coap_dedup_lifetime_s` (default 15 s) catches the retransmissions that happen in practice, and
anything later is absorbed by the store's idempotency. Memory is then bounded by
rate x lifetime instead of rate x 247 s. Measured with `python -m fleet.coap.measure_dedup`
(docs/fleet.md): about 2.7 KB per remembered request; at 1,000 requests a second the RFC
lifetime grew the server from 24 to 181 MB in 60 s and still climbing, 30 s levelled off at
~29,000 entries and ~103 MB. A more compact cache is left to the performance work (issue 9)."""

from __future__ import annotations

from typing import Any

import aiocoap
from aiocoap.numbers.constants import TransportTuning


class FleetTuning(TransportTuning):
    """RFC defaults except how long a received CON's message id is remembered, and how long the
    fleet may take before it sends an empty ACK and answers separately.

    EMPTY_ACK_DELAY: aiocoap sends an empty ACK after 0.1 s when the response is not ready, and
    the response then goes as its own CON message that the device must acknowledge: twice the
    datagrams just when the fleet is busiest (a batch commit under load can take longer than
    0.1 s). A device retransmits only after ACK_TIMEOUT (2-3 s), so answering within 1 s still
    stops every retransmission; the fleet waits up to 1 s and piggy-backs the ack."""

    EMPTY_ACK_DELAY = 1.0

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


def message_managers(context: aiocoap.Context) -> list[Any]:
    """The message layers (one per transport) of an aiocoap context."""
    out = []
    for ri in context.request_interfaces:
        mm = getattr(ri, "token_interface", None)
        if mm is not None and hasattr(mm, "dispatch_message"):
            out.append(mm)
    return out


def apply_dedup_lifetime(context: aiocoap.Context, lifetime_s: float) -> FleetTuning:
    """Make aiocoap remember incoming message ids for `lifetime_s` instead of 247 s.

    aiocoap reads the lifetime from each incoming message's `transport_tuning` when it files the
    message id for duplicate detection (MessageManager._deduplicate_message). There is no
    context-wide setting in 0.4.17, so the message layer's `dispatch_message` is wrapped to give
    every incoming message our tuning first. Checked by tests/fleet/coap/test_server.py."""
    tuning = FleetTuning(lifetime_s)
    for mm in message_managers(context):
        original = mm.dispatch_message

        def dispatch(message: aiocoap.Message, _orig: Any = original) -> Any:
            message.transport_tuning = tuning
            return _orig(message)

        mm.dispatch_message = dispatch
    return tuning


def dedup_entries(context: aiocoap.Context) -> int:
    """How many message ids aiocoap remembers right now (rate x lifetime in steady state)."""
    return sum(len(getattr(mm, "_recent_messages", {})) for mm in message_managers(context))
