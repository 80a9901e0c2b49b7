"""The fleet's OSCORE (fleet/coap/oscore_*.py) against devices on real aiocoap with real OSCORE:
protected uplinks stored; plain, replayed, forged, unknown-kid and wrong-device messages refused
with their codes, counted per device and storing nothing; the fleet's polls and commands
protected; a clean restart and a crash continue without replay false-positives or a reused
sequence number; secrets unreadable in the database file, clear rows sealed, a wrong or missing
credential key named."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from pathlib import Path
from typing import Any

import aiocoap
import aiocoap.resource
import httpx
import pytest
from aiocoap import oscore as ao
from aiocoap.credentials import CredentialsMap
from aiocoap.numbers.codes import Code
from aiocoap.oscore_sitewrapper import OscoreSiteWrapper
from pydantic import SecretStr
from sqlalchemy import func, select

from fleet.api.main import create_app
from fleet.coap import oscore_vault
from fleet.coap.oscore_keys import DeviceContexts
from fleet.coap.oscore_models import DeviceRefusal
from fleet.coap.oscore_vault import CredentialKeyError, box_from_settings
from fleet.provision import service
from fleet.provision.models import DeviceCredential
from fleet.runtime import Fleet
from fleet.services import commands
from fleet.store.db import Database
from fleet.store.migrate import upgrade
from fleet.store.models import Event
from protocol import messages
from utils import fleet_factories as ff
from utils.fake_device import FakeDevice, _Cmd, _Health
from utils.fleet_runtime import make_settings
from utils.security_auth import auth_headers

A = "gg-05c0a0000001"
B = "gg-05c0a0000002"


def issue_key(db: Database, device_id: str) -> dict[str, str]:
    with db.session() as s:
        _, tok = service.issue_token(s, installer="Wang Wei", issued_by="op1")
        answer = service.device_key(s, device_id=device_id, uid=device_id[3:], token=tok)
        s.commit()
    assert answer.oscore is not None
    return answer.oscore


def device_context(folder: Path, osc: dict[str, str], secret: str | None = None) -> ao.FilesystemSecurityContext:
    """The device's side of its key (roles swapped), as aiocoap keeps it."""
    folder.mkdir(parents=True)
    (folder / "settings.json").write_text(json.dumps({
        "sender-id_hex": osc["sender_id"], "recipient-id_hex": osc["recipient_id"],
        "secret_hex": secret or osc["master_secret"], "salt_hex": osc["master_salt"],
        "id-context_hex": osc["id_context"]}))
    return ao.FilesystemSecurityContext(str(folder))


class OscoreDevice(FakeDevice):
    """FakeDevice speaking OSCORE both ways: uplinks through aiocoap's OSCORE transport, its
    /health and /cmd behind aiocoap's OscoreSiteWrapper (a plain request gets 4.01)."""

    def __init__(self, device_id: str, fleet_port: int, sc: ao.FilesystemSecurityContext) -> None:
        super().__init__(device_id, fleet_port)
        self.sc = sc

    async def start(self) -> "OscoreDevice":
        site = aiocoap.resource.Site()
        site.add_resource(("health",), _Health(self))
        site.add_resource(("cmd",), _Cmd(self))
        creds = CredentialsMap()
        creds[":fleet"] = self.sc
        self.ctx = await aiocoap.Context.create_server_context(OscoreSiteWrapper(site, creds), bind=("127.0.0.1", 0),
                                                               transports=["oscore", "udp6"])
        self.point_at(self.fleet_uri)
        return self

    def point_at(self, uri: str) -> None:
        assert self.ctx is not None
        self.fleet_uri = uri
        self.ctx.client_credentials[uri + "/*"] = self.sc


async def raw(port: int, msg: aiocoap.Message) -> aiocoap.Message:
    """Send one datagram from a fresh socket and return the answer (skipping an empty ACK)."""
    loop = asyncio.get_running_loop()
    msg.mtype = aiocoap.CON
    msg.mid = secrets.randbelow(65536)
    msg.token = secrets.token_bytes(4)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        await loop.sock_sendto(sock, msg.encode(), ("127.0.0.1", port))
        while True:
            answer = aiocoap.Message.decode(await asyncio.wait_for(loop.sock_recv(sock, 2048), 10))
            if answer.code != Code.EMPTY:
                return answer


def protected_event(sc: Any, device_id: str, seq: int) -> tuple[aiocoap.Message, Any]:
    plain = aiocoap.Message(code=Code.POST, uri="coap://127.0.0.1/gg/ev", content_format=60,
                            payload=messages.encode("event", ff.event(device_id, seq, "alarm_clear")))
    return sc.protect(plain)


def stored_events(db: Database, device_id: str) -> list[int]:
    with db.session() as s:
        return sorted(s.scalars(select(Event.seq).where(Event.device_id == device_id, Event.origin == "device")))


def test_oscore__uplinks_refusals_fleet_requests_restarts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fleet.db"
    upgrade(url)
    db = Database(url)
    osc_a, osc_b = issue_key(db, A), issue_key(db, B)

    async def main() -> None:
        fleet = Fleet(make_settings(url, coap_dedup_lifetime_s=5.0))
        await fleet.start(background=False)
        port = fleet.coap_port
        assert port is not None
        settings = make_settings(url, coap_port=port)
        sc_a = device_context(tmp_path / "a", osc_a)
        dev = await OscoreDevice(A, port, sc_a).start()
        dev_b = await OscoreDevice(B, port, device_context(tmp_path / "b", osc_b)).start()
        plain = await FakeDevice(A, port).start()
        try:
            # protected uplinks stored; from now on A speaks OSCORE
            await dev.register()
            await dev.heartbeat()
            ack = await dev.event("alarm")
            assert ack["seq"] == 1
            assert stored_events(db, A) == [1]

            # a plain message naming A: 4.01, nothing stored
            code, body = await plain.post("gg/ev", "event", ff.event(A, 2, "alarm_clear"))
            assert (code, body) == (Code.UNAUTHORIZED, b"OSCORE required")

            # the same protected datagram twice (new message id, so not the CoAP duplicate cache)
            msg, _ = protected_event(sc_a, A, 2)
            first = await raw(port, msg)
            assert first.code == Code.CHANGED  # protected 2.04 outside
            dev.seq = 2
            again = await raw(port, msg)
            assert (again.code, again.payload) == (Code.UNAUTHORIZED, b"Replay detected")

            # forged: A's kid and kid context, a wrong Master Secret
            forger = device_context(tmp_path / "forger", osc_a, secret="00" * 16)
            forger.sender_sequence_number = sc_a.sender_sequence_number + 5
            msg, _ = protected_event(forger, A, 3)
            r = await raw(port, msg)
            assert (r.code, r.payload) == (Code.BAD_REQUEST, b"Decryption failed")

            # a kid nobody was given
            stranger = device_context(tmp_path / "stranger", {**osc_a, "sender_id": "0badc0de"})
            r = await raw(port, protected_event(stranger, A, 3)[0])
            assert (r.code, r.payload) == (Code.UNAUTHORIZED, b"Security context not found")

            # B's key, A's name: 4.03
            code, body = await dev_b.post("gg/ev", "event", ff.event(A, 3, "alarm_clear"))
            assert code == Code.FORBIDDEN and b"gg-05c0a0000002" in body

            assert stored_events(db, A) == [1, 2]  # the genuine seq 2 once; nothing refused was stored
            assert stored_events(db, B) == []

            # the fleet's own requests are protected (A's site refuses plain ones)
            await dev.heartbeat()  # the raw datagrams above moved A's address; back to A's socket
            health = await fleet.poll_device(A)
            assert health["dev"] == A
            with fleet.db.session() as s:
                cmd, _ = commands.create(s, device_id=A, op="close_valve", created_by="op1", ttl_s=600)
                s.commit()
            await fleet.deliver_command(cmd.id)
            assert dev.executed and dev.executed[0]["op"] == "close_valve"
            fleet_seq = fleet.coap.contexts.for_device(A).sender_sequence_number  # type: ignore[union-attr]
            assert fleet_seq >= 2

            # counted per device, shown on A's page
            counter = fleet.counter
            assert counter.device_totals[(A, "oscore_required")] == 1
            assert counter.device_totals[(A, "oscore_replay")] == 1
            assert counter.device_totals[(A, "oscore_decrypt_failed")] == 1
            assert counter.device_totals[(B, "oscore_wrong_device")] == 1
            assert counter.device_totals[("kid:0badc0de", "oscore_unknown_context")] == 1
            await fleet.writer.run(counter.flush, fleet.db.sessions)
            app = create_app(fleet)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                         headers=auth_headers(url)) as http:
                page = (await http.get(f"/devices/{A}?lang=en")).text
            assert 'data-reason="oscore_replay" data-count="1"' in page
            assert 'data-reason="oscore_decrypt_failed" data-count="1"' in page
            assert 'data-reason="oscore_required" data-count="1"' in page
            assert "forged or wrong key" in page

            # clean restart: the device goes on with no Echo round trip and no refusal
            await fleet.stop()
            fleet = Fleet(settings)
            await fleet.start(background=False)
            await dev.event("valve_closed")
            assert stored_events(db, A) == [1, 2, 3]
            assert fleet.counter.device_totals == {}
            await fleet.poll_device(A)  # the device's window would refuse a reused fleet number
            assert fleet.coap.contexts.for_device(A).sender_sequence_number > fleet_seq  # type: ignore[union-attr]

            # crash: the state is not written back; the first uplink gets the Echo challenge,
            # aiocoap on the device repeats it with the Echo, and it is stored once
            fleet_seq = fleet.coap.contexts.for_device(A).sender_sequence_number  # type: ignore[union-attr]
            fleet.coap.contexts = None  # type: ignore[union-attr]
            await fleet.stop()
            fleet = Fleet(settings)
            await fleet.start(background=False)
            await dev.event("valve_reopened")
            assert stored_events(db, A) == [1, 2, 3, 4]
            assert fleet.counter.device_totals == {(A, "oscore_echo"): 1}
            r = await raw(port, protected_event(sc_a, A, 4)[0])  # a fresh protection of an old event
            assert r.code == Code.CHANGED  # duplicate (device, seq): acked, not stored again
            assert stored_events(db, A) == [1, 2, 3, 4]
            await dev.heartbeat()  # back to A's own socket
            await fleet.poll_device(A)
            assert fleet.coap.contexts.for_device(A).sender_sequence_number > fleet_seq  # type: ignore[union-attr]
        finally:
            for d in (dev, dev_b, plain):
                await d.stop()
            await fleet.stop()

    asyncio.run(main())
    data = (tmp_path / "fleet.db").read_bytes()
    wal = tmp_path / "fleet.db-wal"
    data += wal.read_bytes() if wal.exists() else b""
    for osc in (osc_a, osc_b):
        assert osc["master_secret"].encode() not in data and bytes.fromhex(osc["master_secret"]) not in data
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DeviceRefusal)) >= 5
    db.dispose()


def test_oscore__clear_rows_sealed__wrong_or_missing_key_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fleet.db"
    upgrade(url)
    db = Database(url)
    clear = "5ae2b7c1d2f0aa11930457cf0e6d8b21"
    with db.session() as s:  # a row as revision 0003 wrote it
        s.add(DeviceCredential(device_id=A, uid="05c0", sender_id="2a2a2a2a", recipient_id="", master_secret=clear,
                               master_salt="c0ffee0011223344", id_context="37cbf3210017a2d3", version=1,
                               issued_to="Wang Wei"))
        s.commit()
    key = oscore_vault.new_key_text()
    box = box_from_settings(make_settings(url, credential_key=SecretStr(key)))
    assert DeviceContexts(db, box).load_all() == 1
    assert clear.encode() not in (tmp_path / "fleet.db").read_bytes()
    with db.session() as s:
        row = s.scalars(select(DeviceCredential)).one()
        assert row.master_secret.startswith(f"gg1:{box.key_id}:")
        assert box.open(A, row.master_secret) == clear

    other = box_from_settings(make_settings(url, credential_key=SecretStr(oscore_vault.new_key_text())))
    with pytest.raises(CredentialKeyError, match=r"set credential_key \(GASGUARD_CREDENTIAL_KEY\)"):
        DeviceContexts(db, other).load_all()
    with pytest.raises(CredentialKeyError, match=r"credential_key \(GASGUARD_CREDENTIAL_KEY\): expected 32 bytes"):
        box_from_settings(make_settings(url, credential_key=SecretStr("short")))
    with pytest.raises(CredentialKeyError, match=r"credential_key_file: .*nope.key does not exist"):
        box_from_settings(make_settings(url, credential_key_file=str(tmp_path / "nope.key")))
    # development default: generated once in the data folder, then reused
    dev_box = box_from_settings(make_settings(f"sqlite:///{tmp_path}/dev/fleet.db"))
    assert (tmp_path / "dev" / "credential.key").exists()
    assert box_from_settings(make_settings(f"sqlite:///{tmp_path}/dev/fleet.db")).key == dev_box.key
    db.dispose()


def test_oscore__key_issued_after_start__rekey_while_running(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fleet.db"
    upgrade(url)
    db = Database(url)

    async def main() -> None:
        fleet = Fleet(make_settings(url))
        await fleet.start(background=False)
        port = fleet.coap_port
        assert port is not None
        devs: list[OscoreDevice] = []
        try:
            old = await OscoreDevice(A, port, device_context(tmp_path / "v1", issue_key(db, A))).start()
            devs.append(old)
            await old.register()  # a key the running fleet had not loaded: found in the database
            with db.session() as s:  # the installer re-keys the board (new secret and ID Context)
                _, tok = service.issue_token(s, installer="Wang Wei", issued_by="op1")
                osc2 = service.device_key(s, device_id=A, uid=A[3:], token=tok, rekey=True).oscore
                s.commit()
            assert osc2 is not None
            new = await OscoreDevice(A, port, device_context(tmp_path / "v2", osc2)).start()
            devs.append(new)
            await new.register(boot=2)
            assert (await new.event("boot"))["seq"] == 1
            assert fleet.coap.contexts.for_device(A).version == 2  # type: ignore[union-attr]
            r = await raw(port, protected_event(old.sc, A, 9)[0])  # the old key is gone
            assert (r.code, r.payload) == (Code.UNAUTHORIZED, b"Security context not found")
            assert stored_events(db, A) == [1]
        finally:
            for d in devs:
                await d.stop()
            await fleet.stop()

    asyncio.run(main())
    with db.session() as s:
        row = s.scalars(select(DeviceCredential)).one()
        assert row.version == 2 and row.replay_state.startswith("w:") and row.oscore_since is not None
    db.dispose()
