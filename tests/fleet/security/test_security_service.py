"""fleet/security/service.py and enrolment.py on a migrated database (SQLite and PostgreSQL):
argon2 hashes, role rules, tokens and sessions expiring and ending, enrolment batches, and the
audit log refusing updates and deletes in the ORM and in the database itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from fleet.core.errors import BadInput, Conflict
from fleet.security import enrolment, service
from fleet.security.guard import AppendOnly, install_store_hooks
from fleet.services import audit
from fleet.store.models import AuditLog

PW = "correct horse battery"


def test_create_user__argon2id_hash_and_verify(db) -> None:  # noqa: ANN001
    with db.session() as s:
        u = service.create_user(s, username="Admin", password=PW, role="city_admin", by="cli:root")
        s.commit()
        assert u.username == "admin" and u.password_hash.startswith("$argon2id$") and PW not in u.password_hash
        assert service.verify_password(s, "admin", PW).id == u.id
        with pytest.raises(service.AuthError, match="^wrong username or password$"):
            service.verify_password(s, "admin", PW + "x")
        with pytest.raises(service.AuthError, match="^wrong username or password$"):
            service.verify_password(s, "nobody", PW)
        rows = s.scalars(sa.select(AuditLog).where(AuditLog.entity == "user")).all()
        assert [(r.actor, r.action, r.entity_id) for r in rows] == [("cli:root", "user.created", "admin")]


def test_create_user__rules_with_exact_errors(db) -> None:  # noqa: ANN001
    with db.session() as s:
        with pytest.raises(BadInput, match="^password: at least 10 characters, got 5$"):
            service.create_user(s, username="a1", password="short", role="city_viewer", by="t")
        with pytest.raises(BadInput, match="^township: township staff need their township"):
            service.create_user(s, username="a2", password=PW, role="township_staff", by="t")
        with pytest.raises(BadInput, match="^township: only township staff are scoped to one"):
            service.create_user(s, username="a3", password=PW, role="gas_operator", township="X", by="t")
        with pytest.raises(BadInput, match="^role 'boss': expected one of city_admin, city_viewer"):
            service.create_user(s, username="a4", password=PW, role="boss", by="t")
        service.create_user(s, username="a5", password=PW, role="maker", by="t")
        with pytest.raises(Conflict, match="^user 'a5' already exists$"):
            service.create_user(s, username="A5", password=PW, role="maker", by="t")


def test_token__hashed_expires_revoked_and_disabled_user(db, frozen_clock) -> None:  # noqa: ANN001
    with db.session() as s:
        service.create_user(s, username="op", password=PW, role="gas_operator", by="t")
        text, row = service.issue_token(s, username="op", name="script", ttl_days=1, by="t")
        s.commit()
        assert row.token_sha256 == service.sha256(text) and text not in row.token_sha256
        assert service.principal_from_token(s, text).role == "gas_operator"
        frozen_clock.advance(86400)
        with pytest.raises(service.AuthError, match="^API token expired at 2026-03-02T08:00:00"):
            service.principal_from_token(s, text)
        text2, row2 = service.issue_token(s, username="op", name="b", by="t")
        service.revoke_token(s, token_id=row2.id, by="t")
        with pytest.raises(service.AuthError, match="^API token was revoked$"):
            service.principal_from_token(s, text2)
        text3, _ = service.issue_token(s, username="op", name="c", by="t")
        service.set_disabled(s, username="op", disabled=True, by="t")
        s.commit()
        with pytest.raises(service.AuthError, match="^API token was revoked$"):  # disabling revokes
            service.principal_from_token(s, text3)
        with pytest.raises(service.AuthError, match="^user 'op' is disabled$"):
            service.verify_password(s, "op", PW)


def test_session__expires_and_ends_on_role_change(db, frozen_clock) -> None:  # noqa: ANN001
    with db.session() as s:
        u = service.create_user(s, username="vv", password=PW, role="city_viewer", by="t")
        sid, row = service.open_session(s, u, address="10.0.0.7")
        s.commit()
        p = service.principal_from_session(s, sid)
        assert (p.username, p.via, p.csrf) == ("vv", "session", row.csrf)
        service.set_role(s, username="vv", role="township_staff", township="城关镇", by="t")
        s.commit()
        with pytest.raises(service.AuthError, match="^not signed in$"):
            service.principal_from_session(s, sid)
        sid2, _ = service.open_session(s, u, address=None)
        frozen_clock.advance(service.SESSION_TTL_S + 1)
        with pytest.raises(service.AuthError, match="^session expired; sign in again$"):
            service.principal_from_session(s, sid2)


def test_enrolment__binds_a_small_batch_and_refuses_more(db) -> None:  # noqa: ANN001
    from fleet.provision import service as provision

    with db.session() as s:
        token, row = provision.issue_token(s, installer="Wang Wei", issued_by="op", ttl_s=3600)
        enrolment.set_limit(s, row.id, 2)
        s.commit()
        enrolment.check_device(s, token, "gg-000000000001")
        enrolment.check_device(s, token, "gg-000000000002")
        enrolment.check_device(s, token, "gg-000000000001")  # again: already bound
        s.commit()
        with pytest.raises(enrolment.TokenOverused, match=r"^enrolment token of Wang Wei is for 2 device\(s\), "
                           "already used for gg-000000000001, gg-000000000002; ask the fleet operator"):
            enrolment.check_device(s, token, "gg-000000000003")
        assert enrolment.count_bindings(s, row.id) == 2
        with pytest.raises(service.AuthError, match="^enrolment token not recognised"):
            enrolment.check_device(s, "gge_forged", "gg-000000000001")
        with pytest.raises(BadInput, match="^max_devices: expected 1..20, got 50$"):
            enrolment.set_limit(s, row.id, 50)


def test_audit_log__append_only_in_orm_and_database(db) -> None:  # noqa: ANN001
    install_store_hooks()
    with db.session() as s:
        audit.record(s, actor="a", action="x", entity="alarm", entity_id=1)
        s.commit()
        row = s.scalars(sa.select(AuditLog)).one()
        row.actor = "someone else"
        with pytest.raises(AppendOnly, match="audit_log is append-only"):
            s.commit()
        s.rollback()
        s.delete(s.scalars(sa.select(AuditLog)).one())
        with pytest.raises(AppendOnly, match="audit_log is append-only"):
            s.commit()
        s.rollback()
        with pytest.raises(AppendOnly, match="no UPDATE or DELETE statements"):
            s.execute(sa.delete(AuditLog))
        s.rollback()
    # below the ORM: the database's own trigger
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="audit_log is append-only"):
            with db.engine.begin() as conn:
                conn.exec_driver_sql(sql)
    with db.session() as s:
        assert s.scalars(sa.select(AuditLog.actor)).all() == ["a"]
