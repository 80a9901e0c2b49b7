"""The app with OSCORE keys in /config.json (MicroPython, simulated machine, real UDP) against an
aiocoap server whose site is wrapped in aiocoap's OSCORE, as the fleet's: every uplink arrives
protected and is accepted, and the fleet's protected GET /health and POST /valve/close are
answered; a plain request to the device is refused with 4.01."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiocoap
import pytest
from aiocoap import oscore as ao
from aiocoap.credentials import CredentialsMap
from aiocoap.oscore_sitewrapper import OscoreSiteWrapper

from fw_fleet import Fleet, free_udp_port, kill, start_board, wait_for, write_root
from protocol import messages

pytestmark = pytest.mark.slow
SECRET = "5ae2b7c1d2f0aa11930457cf0e6d8b21"
SALT = "c0ffee0011223344"


def fleet_context(d: Path) -> ao.FilesystemSecurityContext:
    d.mkdir(parents=True, exist_ok=True)
    (d / "settings.json").write_text(json.dumps({
        "sender-id_hex": "", "recipient-id_hex": "2a", "secret_hex": SECRET, "salt_hex": SALT}))
    return ao.FilesystemSecurityContext(str(d))


def test_oscore__uplinks_and_fleet_requests_are_protected_end_to_end(tmp_path: Path) -> None:
    async def scenario() -> None:
        fleet = Fleet()
        ctx = fleet_context(tmp_path / "fleet-ctx")
        port = free_udp_port()
        dev_port = free_udp_port()
        root = tmp_path / "root"
        root.mkdir()
        write_root(root, port, coap_port=dev_port, oscore={
            "master_secret": SECRET, "master_salt": SALT, "sender_id": "2a",
            "recipient_id": ""})
        creds = CredentialsMap()
        creds[":device"] = ctx
        server = await aiocoap.Context.create_server_context(
            OscoreSiteWrapper(fleet.site(), creds), bind=("127.0.0.1", port))
        proc = await start_board(root, [])
        client = await aiocoap.Context.create_client_context()
        client.client_credentials["coap://127.0.0.1:%d/*" % dev_port] = ctx
        try:
            await wait_for(lambda: fleet.regs and fleet.events, 30, "protected uplinks", proc)
            uri = "coap://127.0.0.1:%d" % dev_port
            r = await asyncio.wait_for(client.request(
                aiocoap.Message(code=aiocoap.GET, uri=uri + "/health")).response, 20)
            assert r.code == aiocoap.CONTENT
            assert messages.decode("heartbeat", r.payload)["dev"] == "gg-int01"
            r = await asyncio.wait_for(client.request(
                aiocoap.Message(code=aiocoap.POST, uri=uri + "/valve/close")).response, 20)
            assert r.code == aiocoap.CHANGED
            await wait_for(lambda: any(e["k"] == "valve_closed" for e in fleet.events.values()),
                           20, "valve_closed", proc)
            plain = await aiocoap.Context.create_client_context()
            try:
                r = await asyncio.wait_for(plain.request(
                    aiocoap.Message(code=aiocoap.GET, uri=uri + "/health")).response, 20)
                assert r.code == aiocoap.UNAUTHORIZED
            finally:
                await plain.shutdown()
        finally:
            await client.shutdown()
            out = await kill(proc)
            await server.shutdown()
        assert fleet.regs[0]["dev"] == "gg-int01"
        # every uplink reached the site through aiocoap's OSCORE, authenticated as the device
        assert fleet.claims and all(c == "OSCOREAddress" for c in fleet.claims), fleet.claims
        assert "oscore: oscore_seq_new" in out
        seqs = sorted(fleet.events)
        assert seqs == list(range(1, len(seqs) + 1)), out[-2000:]

    asyncio.run(scenario())
