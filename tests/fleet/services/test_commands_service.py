"""fleet/services/commands.py (named _service: the routes test holds the basename): idempotent
creation, offering, expiry, results."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fleet.core.clock import FrozenClock, now
from fleet.core.errors import BadInput, Conflict, NotFound
from fleet.services import commands
from fleet.store.db import Database
from fleet.store.models import Command
from utils import fleet_factories as ff

DEV = "gg-a4cf12b3c4d5"


def test_create__same_request_key__same_command(db: Database) -> None:
    with db.session() as s:
        ff.device(s, DEV)
        c1, new1 = commands.create(s, device_id=DEV, op="close_valve", created_by="op", ttl_s=60, request_key="k1")
        c2, new2 = commands.create(s, device_id=DEV, op="close_valve", created_by="op", ttl_s=60, request_key="k1")
        assert (new1, new2, c1.id) == (True, False, c2.id)
        with pytest.raises(Conflict, match="^request_key 'k1' was already used for close_valve on gg-a4cf12b3c4d5$"):
            commands.create(s, device_id=DEV, op="reboot", created_by="op", ttl_s=60, request_key="k1")


def test_create__invalid(db: Database) -> None:
    with db.session() as s:
        ff.device(s, DEV)
        with pytest.raises(BadInput, match="^op 'open_valve' is not a command; expected one of close_valve, "
                                           "selftest, reboot$"):
            commands.create(s, device_id=DEV, op="open_valve", created_by="op", ttl_s=60)
        with pytest.raises(NotFound, match="^device 'gg-nope' not found$"):
            commands.create(s, device_id="gg-nope", op="reboot", created_by="op", ttl_s=60)


def test_offer__limit_resend_and_expiry(db: Database, frozen_clock: FrozenClock) -> None:
    with db.session() as s:
        ff.device(s, DEV)
        for _ in range(5):
            commands.create(s, device_id=DEV, op="selftest", created_by="op", ttl_s=600)
        cmds = commands.open_for_devices(s, [DEV])[DEV]
        pc, wire = commands.offer(s, cmds, at=now(), limit=4, resend_s=60)
        assert pc == 5 and [w["id"] for w in wire] == [1, 2, 3, 4]
        assert wire[0]["exp"] == int(now().timestamp()) + 600
        frozen_clock.advance(10)
        pc, wire = commands.offer(s, cmds, at=now(), limit=4, resend_s=60)
        assert pc == 5 and [w["id"] for w in wire] == [5]
        frozen_clock.advance(60)
        pc, wire = commands.offer(s, cmds, at=now(), limit=4, resend_s=60)
        assert [w["id"] for w in wire] == [1, 2, 3, 4]  # re-offered: the ack may have been lost
        frozen_clock.advance(600)
        assert commands.expire_due(s) == 5
        s.commit()
        assert {c.state for c in s.scalars(select(Command))} == {"expired"}


def test_record_result__repeat_is_harmless(db: Database) -> None:
    with db.session() as s:
        ff.device(s, DEV)
        cmd, _ = commands.create(s, device_id=DEV, op="selftest", created_by="op", ttl_s=600)
        commands.record_result(s, device_id=DEV, result={"id": cmd.id, "st": "failed", "why": "sensor open"})
        again = commands.record_result(s, device_id=DEV, result={"id": cmd.id, "st": "done"})
        assert (again.state, again.result) == ("failed", {"id": cmd.id, "st": "failed", "why": "sensor open"})
