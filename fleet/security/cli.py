"""`gasguard users init-admin|add|list|set-role|disable|enable|reset-password|token|revoke`.

Every command takes `--db URL` (default: the fleet's settings) and migrates it first. Passwords
are never arguments (they would sit in the shell history): they are prompted for, or read from
stdin with `--password-stdin`, or from the environment variable named by `--password-env`.
There is no default password anywhere: the first administrator is created by `init-admin`."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fleet.core.errors import FleetError

app = typer.Typer(name="users", help="People who use the fleet's API and dashboard, their roles and tokens.",
                  no_args_is_help=True, add_completion=False)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbOpt = Annotated[str | None, typer.Option("--db", help="database URL or SQLite file (default: settings)")]
StdinOpt = Annotated[bool, typer.Option("--password-stdin", help="read the password from the first line of stdin")]
EnvOpt = Annotated[str | None, typer.Option("--password-env", help="read the password from this environment variable")]
TownshipOpt = Annotated[str | None, typer.Option("--township", "-t", help="the township (township staff only)")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def _open(db: str | None):  # noqa: ANN202 - fleet.store.db.Database
    from fleet.campaign.cli import open_db
    from fleet.security.guard import install_store_hooks

    install_store_hooks()
    return open_db(db)


def _actor() -> str:
    try:
        who = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        who = "unknown"
    return f"cli:{who}"


def _password(stdin: bool, env: str | None) -> str:
    if stdin:
        line = sys.stdin.readline()
        if not line:
            raise _fail("--password-stdin: stdin was empty")
        return line.rstrip("\r\n")
    if env:
        value = os.environ.get(env)
        if not value:
            raise _fail(f"--password-env {env}: the variable is not set or empty")
        return value
    first = typer.prompt("password", hide_input=True)
    again = typer.prompt("password again", hide_input=True)
    if first != again:
        raise _fail("the two passwords differ")
    return str(first)


def _run(db: str | None, fn) -> None:  # noqa: ANN001 - fn(session) -> str printed
    database = _open(db)
    try:
        with database.session() as session:
            try:
                message = fn(session)
                session.commit()
            except FleetError as e:
                raise _fail(e.message) from None
        console.print(message, highlight=False)
    finally:
        database.dispose()


@app.command("init-admin")
def init_admin(username: Annotated[str, typer.Argument(help="the first city administrator's name")] = "admin",
               password_stdin: StdinOpt = False, password_env: EnvOpt = None, db: DbOpt = None) -> None:
    """Create the first city administrator; refused once any administrator exists."""
    from fleet.security import service

    pw = _password(password_stdin, password_env)

    def go(session) -> str:  # noqa: ANN001
        if service.count_admins(session):
            raise _fail("an administrator exists already; use `gasguard users add --role city_admin`", 1)
        service.create_user(session, username=username, password=pw, role="city_admin", by=_actor())
        return f"created city administrator {username.strip().lower()}"
    _run(db, go)


@app.command("add")
def add(username: str, role: Annotated[str, typer.Option("--role", "-r", help="city_admin, city_viewer, "
                                                         "township_staff, gas_operator, installer, maker")],
        township: TownshipOpt = None, name: Annotated[str | None, typer.Option("--name")] = None,
        password_stdin: StdinOpt = False, password_env: EnvOpt = None, db: DbOpt = None) -> None:
    """Add a user with a role (township staff need --township)."""
    from fleet.security import service

    pw = _password(password_stdin, password_env)
    _run(db, lambda s: (service.create_user(s, username=username, password=pw, role=role, township=township,
                                            display_name=name, by=_actor()), f"added {username} ({role})")[1])


@app.command("list")
def list_cmd(db: DbOpt = None) -> None:
    """Every user with role, township and state."""
    from fleet.security import service

    database = _open(db)
    try:
        with database.session() as session:
            table = Table("username", "role", "township", "state", "created")
            for u in service.list_users(session):
                table.add_row(u.username, u.role, u.township or "", "disabled" if u.disabled else "active",
                              u.created_at.strftime("%Y-%m-%d"))
            console.print(table)
    finally:
        database.dispose()


@app.command("set-role")
def set_role(username: str, role: str, township: TownshipOpt = None, db: DbOpt = None) -> None:
    """Change a user's role (their sessions and tokens end: they sign in again)."""
    from fleet.security import service

    _run(db, lambda s: (service.set_role(s, username=username, role=role, township=township, by=_actor()),
                        f"{username}: role {role}")[1])


@app.command("disable")
def disable(username: str, db: DbOpt = None) -> None:
    """Disable a user: sign-in, sessions and tokens stop working at once."""
    from fleet.security import service

    _run(db, lambda s: (service.set_disabled(s, username=username, disabled=True, by=_actor()),
                        f"{username}: disabled")[1])


@app.command("enable")
def enable(username: str, db: DbOpt = None) -> None:
    """Enable a disabled user again (tokens stay revoked; issue new ones)."""
    from fleet.security import service

    _run(db, lambda s: (service.set_disabled(s, username=username, disabled=False, by=_actor()),
                        f"{username}: enabled")[1])


@app.command("reset-password")
def reset_password(username: str, password_stdin: StdinOpt = False, password_env: EnvOpt = None,
                   db: DbOpt = None) -> None:
    """Set a new password (the user's dashboard sessions end)."""
    from fleet.security import service

    pw = _password(password_stdin, password_env)
    _run(db, lambda s: (service.reset_password(s, username=username, password=pw, by=_actor()),
                        f"{username}: password reset")[1])


@app.command("token")
def token(username: str, name: Annotated[str, typer.Option("--name", help="what the token is for")] = "api",
          days: Annotated[int, typer.Option("--days", help="valid this many days")] = 90, db: DbOpt = None) -> None:
    """Issue an API bearer token; it is printed once (only its hash is kept)."""
    from fleet.security import service

    def go(session) -> str:  # noqa: ANN001
        text, row = service.issue_token(session, username=username, name=name, ttl_days=days, by=_actor())
        return f"{text}\n(token {row.id} for {username}, expires {row.expires_at.isoformat()})"
    _run(db, go)


@app.command("revoke")
def revoke(token_id: int, db: DbOpt = None) -> None:
    """Revoke an API token by its id."""
    from fleet.security import service

    _run(db, lambda s: (service.revoke_token(s, token_id=token_id, by=_actor()), f"token {token_id} revoked")[1])
