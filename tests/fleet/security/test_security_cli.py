"""`gasguard users` through the real CLI entry point (fleet.cli:app, Typer's runner) on a SQLite
file: the first administrator from stdin or the environment, never a default password; add,
list, set-role, disable, reset-password, token; every change in the audit log."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from fleet.cli import app
from fleet.security import service
from fleet.store.db import Database
from fleet.store.models import AuditLog

PW = "first admin secret"
runner = CliRunner(env={"COLUMNS": "250"})


def _users(db: str, *args: str, input: str | None = None, env: dict[str, str] | None = None):  # noqa: ANN202, A002
    return runner.invoke(app, ["users", *args, "--db", db], input=input, env=env)


def test_init_admin__from_stdin__then_refused_a_second_time(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    r = _users(db, "init-admin", "chief", "--password-stdin", input=PW + "\n")
    assert r.exit_code == 0, r.output
    assert "created city administrator chief" in r.output
    r = _users(db, "init-admin", "other", "--password-stdin", input=PW + "\n")
    assert r.exit_code == 1 and "an administrator exists already" in r.output
    database = Database(db)
    with database.session() as s:
        assert service.verify_password(s, "chief", PW).role == "city_admin"
    database.dispose()


def test_init_admin__no_password_given__prompts_and_refuses_a_short_one(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    r = _users(db, "init-admin", input="short\nshort\n")
    assert r.exit_code == 2 and "password: at least 10 characters, got 5" in r.output
    r = _users(db, "init-admin", "--password-env", "GG_NOT_SET", env={"GG_NOT_SET": ""})
    assert r.exit_code == 2 and "--password-env GG_NOT_SET: the variable is not set or empty" in r.output
    r = _users(db, "list")
    assert "admin" not in r.output.split("username", 1)[1]  # nobody was created: no default account


def test_manage_users__add_set_role_disable_reset_token__audited(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    env = {"GG_PW": PW}
    assert _users(db, "init-admin", "--password-env", "GG_PW", env=env).exit_code == 0
    r = _users(db, "add", "li", "--role", "township_staff", "--password-env", "GG_PW", env=env)
    assert r.exit_code == 2 and "township staff need their township" in r.output
    r = _users(db, "add", "li", "--role", "township_staff", "-t", "城关镇", "--password-env", "GG_PW", env=env)
    assert r.exit_code == 0, r.output
    r = _users(db, "list")
    assert "li" in r.output and "township_staff" in r.output and "城关镇" in r.output
    assert _users(db, "set-role", "li", "city_viewer").exit_code == 0
    r = _users(db, "token", "li", "--name", "report script", "--days", "7")
    assert r.exit_code == 0 and r.output.startswith("ggt_")
    token = r.output.split()[0]
    assert _users(db, "reset-password", "li", "--password-stdin", input="another long one\n").exit_code == 0
    assert _users(db, "disable", "li").exit_code == 0
    r = _users(db, "set-role", "nobody", "maker")
    assert r.exit_code == 2 and "user 'nobody' not found" in r.output
    database = Database(db)
    with database.session() as s:
        try:
            service.principal_from_token(s, token)
            raise AssertionError("a disabled user's token must not work")
        except service.AuthError as e:
            assert e.reason == "token_revoked"
        acts = [r.action for r in s.scalars(sa.select(AuditLog).where(AuditLog.entity == "user").order_by(AuditLog.id))]
        actors = {r.actor for r in s.scalars(sa.select(AuditLog))}
    database.dispose()
    assert acts == ["user.created", "user.created", "user.role_changed", "token.issued", "user.password_reset",
                    "user.disabled"]
    assert all(a.startswith("cli:") for a in actors)
