"""The one `gasguard` command. Each subcommand's code lives beside the code it drives;
this module only mounts them, so adding a subcommand is one line in SUBCOMMANDS."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="gasguard",
    help=(
        "gasguard: firmware for gas-leak alarms with a linked shutoff valve, and the fleet "
        "service that watches a city's installed base. Start with `gasguard demo`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

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


def _mount() -> None:
    for name, target in SUBCOMMANDS.items():
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            # Only a subcommand whose own module is not written yet is left out; a missing
            # dependency inside an existing module is a real error and surfaces.
            if e.name and module_name.startswith(e.name):
                continue
            raise
        obj = getattr(module, attr)
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=name)
        else:
            app.command(name=name)(obj)


_mount()

if __name__ == "__main__":
    app()
