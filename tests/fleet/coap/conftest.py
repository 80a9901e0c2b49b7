"""Every test here runs against both ingest paths of the fleet's CoAP side (`coap_ingest`):
the fast path on the socket (fleet/coap/fastpath.py) and aiocoap's request pipeline."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, params=["fast", "aiocoap"])
def coap_ingest(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GASGUARD_COAP_INGEST", request.param)
    return str(request.param)
