"""The one `gasguard` command. Each subcommand's code lives beside the code it drives;
this module only mounts them, so adding a subcommand is one line in SUBCOMMANDS."""

from __future__ import annotations

import click
import typer
from typer.core import TyperGroup

from fleet.core import plugins

# name -> "module:attribute" of a typer.Typer (a group) or a plain function (one command).
SUBCOMMANDS: dict[str, str] = {
    "protocol": "protocol.cli:app",
    "boards": "boards.cli:app",
    "sim": "boards.sim.cli:app",
    "serve": "fleet.serve:serve",
    "demo": "fleet.demo:demo",
    "image": "boards.image_cli:app",
    "flash": "boards.flash:flash",
    "provision": "fleet.provision.cli:provision",
    "bench": "bench.cli:app",
    "ledger": "fleet.campaign.cli:ledger_app",
    "report": "fleet.campaign.cli:report_app",
    "workorders": "fleet.lifecycle.cli:app",
    "users": "fleet.security.cli:app",
}


def _load(name: str) -> click.Command | None:
    obj = plugins.load(SUBCOMMANDS[name])
    if obj is None:
        return None
    if not isinstance(obj, typer.Typer):
        single = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
        single.command(name=name)(obj)
        obj = single
    cmd = typer.main.get_command(obj)
    cmd.name = name
    return cmd


class _LazyGroup(TyperGroup):
    """Imports a subcommand's module only when that subcommand runs (or help lists it): the
    fleet's web stack alone takes seconds to import, and `gasguard sim` or `gasguard flash`
    on an installer's laptop should not wait for it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        return _load(cmd_name)


app = typer.Typer(
    name="gasguard",
    cls=_LazyGroup,
    help=(
        "gasguard: firmware for gas-leak alarms with a linked shutoff valve, and the fleet "
        "service that watches a city's installed base. Start with `gasguard demo`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """gasguard: firmware for gas-leak alarms with a linked shutoff valve, and the fleet service
    that watches a city's installed base. Start with `gasguard demo`."""


if __name__ == "__main__":
    app()
