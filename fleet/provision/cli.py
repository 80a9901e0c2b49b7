"""`gasguard provision`: the installer's command. Arguments in, Rich progress out; the steps
themselves are in fleet/provision/steps.py.

Exit status: 0 provisioned (and accepted, unless --no-acceptance), 1 a step failed (the
message says what the board was left as and what to do next), 2 refused before anything was
touched (bad arguments, no such port, no token)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from fleet.provision.steps import STEPS, TITLES, Options, Outcome, ProvisionError, Provisioner, Refused, Reporter


class RichReporter(Reporter):
    """Numbered steps with a tick or a cross; questions through typer.confirm."""

    def __init__(self, console: Console, total: int) -> None:
        self.c = console
        self.total = total

    def step(self, n: int, name: str) -> None:
        self.c.print(f"[bold cyan][{n}/{self.total}][/] {TITLES[name]} …")

    def done(self, name: str, detail: str) -> None:
        self.c.print(f"      [green]✓[/] {detail}", highlight=False)

    def note(self, text: str) -> None:
        self.c.print(f"      {text}", highlight=False)

    def warn(self, text: str) -> None:
        self.c.print(f"      [yellow]![/] {text}", highlight=False)

    def wait(self, text: str) -> None:
        self.c.print(f"      [dim]{text} …[/]", highlight=False)

    def ask(self, question: str) -> bool:
        return bool(typer.confirm("      " + question, default=False))


def _summary(o: Outcome) -> Table:
    t = Table(title=None, show_header=False, box=None, padding=(0, 2))
    t.add_row("device", f"{o.device_id} (chip uid {o.uid}, board {o.board}, app {o.app_version})")
    cfg = o.config
    t.add_row("site", str(cfg.get("site", "")))
    t.add_row("fleet (CoAP)", "%s:%s" % (cfg.get("fleet", {}).get("host"), cfg.get("fleet", {}).get("port")))
    t.add_row("key", f"version {o.key_version}, fingerprint {o.key_fingerprint}" + (" (unchanged)" if o.key_reused else ""))
    t.add_row("configuration", f"sha256 {o.config_sha256}" + ("" if o.config_changed else " (unchanged)"))
    t.add_row("registered", o.registered_at or "-")
    acc = o.acceptance
    t.add_row("acceptance", f"{acc['result']} (record #{acc['id']})" if acc else "not run (--no-acceptance)")
    return t


def provision(
    port: Annotated[str, typer.Option("--port", "-p", help="the board's serial port, e.g. /dev/ttyUSB0")],
    site: Annotated[str, typer.Option("--site", help="the site's account number (户号) in the fleet")],
    fleet: Annotated[str, typer.Option("--fleet", help="the fleet's HTTP address, e.g. http://fleet.example.cn:8080")],
    token: Annotated[str | None, typer.Option("--token", envvar="GASGUARD_ENROL_TOKEN",
                                              help="your enrolment token (also $GASGUARD_ENROL_TOKEN)")] = None,
    gas: Annotated[str | None, typer.Option("--gas", help="methane, lpg, propane or butane (default: the board's)")] = None,
    sp_low: Annotated[float | None, typer.Option("--sp-low", help="low alarm set point, %LEL (1..25; default 25)")] = None,
    sp_high: Annotated[float | None, typer.Option("--sp-high", help="high alarm set point, %LEL (0 = single level)")] = None,
    board: Annotated[str | None, typer.Option("--board", help="refuse a board whose /board.json names another board")] = None,
    coap: Annotated[str | None, typer.Option("--coap", help="HOST:PORT the device sends to (default: the fleet's "
                                             "host and its CoAP port)")] = None,
    model: Annotated[str | None, typer.Option("--model", help="the product model code in the fleet's catalogue")] = None,
    heartbeat: Annotated[int | None, typer.Option("--heartbeat", help="heartbeat interval, s (default 300)")] = None,
    wifi_ssid: Annotated[str | None, typer.Option("--wifi-ssid", help="the site's Wi-Fi network")] = None,
    wifi_key: Annotated[str | None, typer.Option("--wifi-key", envvar="GASGUARD_WIFI_KEY",
                                                 help="its password (also $GASGUARD_WIFI_KEY)")] = None,
    rekey: Annotated[bool, typer.Option("--rekey", help="have the fleet issue a new key for this device")] = False,
    acceptance: Annotated[bool, typer.Option("--acceptance/--no-acceptance",
                                             help="run the acceptance test with test gas (default on)")] = True,
    register_timeout: Annotated[float, typer.Option("--register-timeout", help="seconds to wait for registration")] = 60.0,
    accept_timeout: Annotated[float, typer.Option("--accept-timeout", help="seconds to wait for the test alarm")] = 90.0,
) -> None:
    """Provision a flashed board on site: its key, its configuration, registration, acceptance test."""
    console = Console(highlight=False, soft_wrap=True)
    opts = Options(port=port, site=site, fleet=fleet, token=token, gas=gas, sp_low=sp_low, sp_high=sp_high,
                   board=board, coap=coap, model=model, heartbeat_s=heartbeat, wifi_ssid=wifi_ssid,
                   wifi_key=wifi_key, rekey=rekey, acceptance=acceptance, register_timeout_s=register_timeout,
                   accept_timeout_s=accept_timeout)
    total = len(STEPS) if acceptance else len(STEPS) - 1
    p = Provisioner(opts, RichReporter(console, total))
    try:
        out = p.run()
    except Refused as e:
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from None
    except ProvisionError as e:
        console.print(f"      [red]✗[/] {e.message}")
        body = f"[bold]The board is[/] {e.state}.\n[bold]Do next:[/] {e.next}."
        console.print(Panel(body, title=f"provisioning stopped at: {TITLES[e.step]}", border_style="red",
                            expand=False), soft_wrap=False)
        raise typer.Exit(1) from None
    console.print(Panel(_summary(out), title="provisioned", border_style="green", expand=False), soft_wrap=False)


__all__ = ["provision"]
