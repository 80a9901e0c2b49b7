"""`gasguard demo`: the whole system on one laptop in about half a minute, narrated.

A fleet (CoAP ingest, API, dashboard) on an embedded SQLite database in a temporary folder, on
free loopback ports; a city administrator, a catalogue model and a township ledger in it
(fleet/demo_seed.py); virtual boards running the real firmware from the factory image, each
provisioned as an installer would and registering with the fleet (fleet/demo_boards.py); then a
methane leak on one board, timed from the gas to the alarm, the valve closing and both events
stored by the fleet, against GB 15322's 30 s. Then it keeps running (heartbeats, a live
dashboard) until Ctrl-C or `--duration`.

Exit status: 0 done; 1 a step failed (the message says which, with the board's console when a
board is at fault); 2 bad options; 130 interrupted before the scripted part finished."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from sqlalchemy import func, select

from fleet import demo_seed as seed
from fleet.core.config import Settings
from fleet.demo_boards import (
    LEAK_LEL,
    RESPONSE_LIMIT_S,
    SET_POINT_LEL,
    Interrupted,
    LeakTimes,
    StepFailed,
    StepReporter,
    console_tail,
    in_thread,
    measure_leak,
    provision,
    start_board,
    stop_boards,
)
from fleet.provision.steps import ProvisionError
from fleet.serve import ServeHandle, serving
from fleet.store.models import Alarm, Device, Event

log = logging.getLogger(__name__)

HEARTBEAT_S = 10      # the demo's boards report every 10 s (a real install: 300 s)
REGISTER_TIMEOUT_S = 30.0   # registration takes about 0.2 s here
PROVISION_TIMEOUT_S = 60.0  # steps 1-5 take 1-2 s; a board that hangs one fails the demo, not blocks it
LEAK_TIMEOUT_S = 45.0  # wait this long for the alarm and the fleet's events (the limit is 30 s)
MAX_BOARDS = 10

HELP = """Watch gasguard work end to end on this machine: nothing to set up,
nothing left behind.

What happens (about 30 s, then it keeps running until Ctrl-C):

\b
1. A fleet service starts (CoAP ingest, HTTP API, dashboard) on SQLite
   in a temporary folder, on free ports of 127.0.0.1 only.
2. It gets a city administrator (random password, printed once), a
   catalogue model and a township ledger (台账) of gas users in 城关镇.
3. Virtual boards start: the real firmware on MicroPython, booted from
   the factory image. Each is provisioned as an installer would
   (gasguard provision) and registers with the fleet.
4. Methane at 40 %LEL (1.6 x the 25 %LEL set point) reaches one board.
   Its valve closes, its alarm must fire within 30 s (GB 15322), and
   both reach the fleet. The measured times are printed, then the
   dashboard address and how to sign in.

\b
Needs: this checkout's .venv (make demo creates it).
Examples:
  gasguard demo                     # run until Ctrl-C
  gasguard demo --duration 0        # the scripted part only, then exit
  gasguard demo --http-port 8080 --keep demo-data
"""


# --- options --------------------------------------------------------------------------------

def _workdir(keep: Path | None) -> tuple[Path, bool]:
    """(folder, delete at exit). A kept folder must not hold an earlier demo's database."""
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="gasguard-demo-")), True
    if keep.exists() and not keep.is_dir():
        raise typer.BadParameter(f"{keep} exists and is not a folder", param_hint="--keep")
    if (keep / "fleet.db").exists():
        raise typer.BadParameter(f"{keep / 'fleet.db'} is there from an earlier demo; choose a new folder "
                                 "or remove it", param_hint="--keep")
    keep.mkdir(parents=True, exist_ok=True)
    return keep.resolve(), False


def _log_to(path: Path) -> logging.Handler:
    """The fleet's own log goes to a file, so the console keeps the story."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("coap-server", "coap", "alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


# --- the run --------------------------------------------------------------------------------

class Demo:
    """One run. `summary` is what --summary writes (JSON), filled in as the steps go."""

    def __init__(self, console: Console, *, boards: int, http_port: int, duration: float | None,
                 workdir: Path, delete_workdir: bool, summary_path: Path | None) -> None:
        self.c = console
        self.n_boards = boards
        self.http_port = http_port
        self.duration = duration
        self.workdir = workdir
        self.delete_workdir = delete_workdir
        self.db: Any = None  # the fleet's Database, once it serves
        self.summary_path = summary_path
        self.stop = threading.Event()
        self.boards: list[Any] = []  # VirtualBoard, in start order
        self.scripted_done = False
        self.summary: dict[str, Any] = {"ok": False, "error": None, "boards": [], "steps_s": {}}
        self._warned: set[str] = set()
        self._step = 0

    # narration
    def step(self, title: str) -> float:
        self._step += 1
        self.c.print()
        self.c.rule(f"[bold cyan]{self._step}. {title}", align="left")
        return time.monotonic()

    def say(self, text: str) -> None:
        self.c.print("   " + text, highlight=False)

    def timed(self, name: str, t0: float) -> None:
        self.summary["steps_s"][name] = round(time.monotonic() - t0, 2)

    def write_summary(self) -> None:
        if self.summary_path is None:
            return
        tmp = self.summary_path.with_suffix(self.summary_path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.summary, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        tmp.replace(self.summary_path)

    # the whole thing
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()
        assert main is not None

        def on_signal() -> None:
            if not self.stop.is_set():
                self.stop.set()
                main.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        settings = Settings(db=f"sqlite:///{self.workdir / 'fleet.db'}", coap_host="127.0.0.1", coap_port=0,
                            http_host="127.0.0.1", http_port=self.http_port)
        code = 0
        try:
            t0 = self.step("The fleet service")
            async with serving(settings) as handle:
                self.db = handle.fleet.db
                self.timed("fleet", t0)
                self.summary["fleet"] = {"http_url": handle.http_url, "coap_url": handle.coap_url,
                                         "db": settings.db, "workdir": str(self.workdir)}
                self.say(f"[green]✓[/green] listening: HTTP {handle.http_url} (API and dashboard), "
                         f"CoAP {handle.coap_url} (devices); SQLite {self.workdir / 'fleet.db'}")
                try:
                    await self.scripted(handle)
                    self.summary["ok"] = True
                    self.scripted_done = True
                    self.write_summary()
                    await self.keep_running(handle)
                finally:
                    await self.shutdown_boards()
        except asyncio.CancelledError:
            if self.scripted_done:
                self.c.print("\nstopped (Ctrl-C).")
            else:
                self.summary["error"] = "interrupted"
                self.c.print("\n[yellow]interrupted[/yellow] before the demo finished.")
                code = 130
        except StepFailed as e:
            self.summary["error"] = e.message
            self.c.print()
            self.c.print(Panel(escape(e.message + (f"\n\n{e.detail}" if e.detail else "")), title="[red]demo failed",
                               border_style="red", expand=False), highlight=False)
            code = 1
        except OSError as e:
            self.summary["error"] = str(e)
            self.c.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
            code = 1
        except Exception as e:  # noqa: BLE001 - our own fault: say so, the traceback goes to the log
            log.exception("the demo failed")
            self.summary["error"] = f"{type(e).__name__}: {e}"
            self.c.print(f"[red]demo failed (a bug of the demo):[/red] {escape(type(e).__name__ + ': ' + str(e))}; "
                         f"the traceback is in {self.workdir / 'fleet.log'} (use --keep DIR to keep it)", highlight=False)
            code = 1
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            self.write_summary()
        return code

    async def scripted(self, handle: ServeHandle) -> None:
        fleet = handle.fleet
        # --- seed ---------------------------------------------------------------------------
        t0 = self.step("What the city gives it: an administrator, the catalogue, a township ledger")
        creds = await fleet.writer.run(self._tx, seed.create_admin)
        model = await fleet.writer.run(self._tx, seed.add_model, HEARTBEAT_S)
        ledger = seed.ledger_bytes(self.n_boards)
        (self.workdir / "ledger-城关镇.xlsx").write_bytes(ledger)
        created = await fleet.writer.run(self._tx, seed.import_sites, ledger)
        token = await fleet.writer.run(self._tx, seed.enrolment_token, self.n_boards)
        self.say(f"[green]✓[/green] city administrator [bold]{creds.username}[/bold] created (random password, "
                 "shown below once)")
        self.say(f"[green]✓[/green] catalogue model [bold]{model}[/bold]: methane alarm with a linked shutoff, "
                 f"calibration every 365 days, heartbeat every {HEARTBEAT_S} s")
        self.say(f"[green]✓[/green] township ledger of {seed.TOWNSHIP} imported ({created} gas users, the Excel "
                 "file township staff fill in)")
        self.say(f"[green]✓[/green] an enrolment token for the installer, good for {self.n_boards} devices")
        self.timed("seed", t0)

        # --- factory image ------------------------------------------------------------------
        t0 = self.step("The factory image")
        from boards.image import build_vfs_image

        image = self.workdir / "factory-vfs-sim.img"
        image.write_bytes(await asyncio.to_thread(build_vfs_image, "sim"))
        self.say(f"[green]✓[/green] littlefs image for the `sim` board: MicroPython's compiled app (firmware/, "
                 f"protocol/) and /board.json, {image.stat().st_size // 1024} KB, as a factory flashes it")
        self.timed("image", t0)

        # --- boards -------------------------------------------------------------------------
        t0 = self.step(f"{self.n_boards} virtual board{'s' if self.n_boards > 1 else ''}: boot, provision on site, "
                       "register")
        sites = seed.business_sites(self.n_boards)
        for i, (account, name, *_rest) in enumerate(sites, start=1):
            await self.bring_up(handle, i, account, name, token)
        protected = sum(1 for b in self.summary["boards"] if b["oscore"])
        if protected == len(self.summary["boards"]):
            self.say(f"[green]✓[/green] each board holds its own OSCORE key, written at provisioning: every "
                     "message between it and the fleet is protected end to end (RFC 8613)")
        else:
            self.say(f"[yellow]![/yellow] {len(self.summary['boards']) - protected} of the boards speak plain CoAP "
                     "(the fleet did not offer OSCORE)")
        self.timed("boards", t0)
        self.where_to_look(handle, creds)

        # --- the leak -----------------------------------------------------------------------
        await self.leak(handle)

        # --- what an operator sees ----------------------------------------------------------
        t0 = self.step("What the operator sees")
        await self.check_views(handle, creds)
        self.timed("check", t0)

    def _tx(self, fn: Any, *args: Any) -> Any:
        """fn(session, *args) in one transaction; run through `Fleet.writer.run` (the database thread)."""
        assert self.db is not None
        with self.db.session() as session:
            result = fn(session, *args)
            session.commit()
            return result

    async def bring_up(self, handle: ServeHandle, i: int, account: str, site_name: str, token: str) -> None:
        t0 = time.monotonic()
        board_dir = self.workdir / "boards" / f"board-{i}"
        try:
            vb = await in_thread(start_board, self.workdir / "factory-vfs-sim.img", board_dir)
        except Exception as e:  # noqa: BLE001 - the launcher's own message says what
            raise StepFailed(f"board {i} did not start: {e}") from None
        self.boards.append(vb)
        self.say(f"[bold]board {i}[/bold] {vb.name} on {vb.port} (MicroPython pid {vb.pid}) → site {account} "
                 f"{site_name}")
        ui = StepReporter(lambda s: self.say("   " + s), self._warned)
        try:
            out = await asyncio.wait_for(in_thread(
                provision, vb, ui, site=account, fleet_url=handle.http_url, token=token, model=seed.MODEL_CODE,
                heartbeat_s=HEARTBEAT_S, stop=self.stop, register_timeout_s=REGISTER_TIMEOUT_S), PROVISION_TIMEOUT_S)
        except Interrupted:
            raise asyncio.CancelledError() from None
        except TimeoutError:
            raise StepFailed(f"board {i} ({vb.name}): provisioning did not finish within {PROVISION_TIMEOUT_S:g} s; "
                             f"it was at step '{ui.current}' (it usually takes 1-2 s in all)",
                             f"last lines on its console:\n{console_tail(vb)}") from None
        except ProvisionError as e:
            raise StepFailed(f"board {i} ({vb.name}): provisioning stopped at '{e.step}': {e.message}\n"
                             f"The board is {e.state}.", f"last lines on its console:\n{console_tail(vb)}") from None
        install_id = await handle.fleet.writer.run(self._tx, seed.record_board_install, account,
                                                   out.device_id)
        self.say(f"   [green]✓[/green] install #{install_id} recorded on the ledger: alarm with shutoff "
                 f"{out.device_id} + metal hose at {site_name}")
        self.summary["boards"].append({
            "name": vb.name, "port": vb.port, "device_id": out.device_id, "uid": out.uid, "site": account,
            "site_name": site_name, "registered_at": out.registered_at, "install_id": install_id,
            "oscore": "oscore" in out.config, "seconds": round(time.monotonic() - t0, 2),
            "provision_steps_s": out.seconds,
        })

    def where_to_look(self, handle: ServeHandle, creds: seed.Credentials) -> None:
        url = handle.http_url
        first, last = self.summary["boards"][0]["name"], self.summary["boards"][-1]["name"]
        t = Table(show_header=False, box=None, padding=(0, 2))
        t.add_row("dashboard", f"{url}/   (English: {url}/?lang=en)")
        t.add_row("sign in", f"user [bold]{creds.username}[/bold]  password [bold]{creds.password}[/bold]")
        t.add_row("API", f"{url}/docs   e.g. curl -H 'Authorization: Bearer {creds.api_token}' "
                         f"{url}/api/v1/alarms")
        t.add_row("boards", f"gasguard sim list   gasguard sim gas {last} methane 40   "
                            f"gasguard sim valve {first} reopen   (from another terminal)")
        t.add_row("files", f"{self.workdir} (fleet.db, fleet.log, the ledger; "
                           + ("deleted at exit)" if self.delete_workdir else "kept)"))
        self.c.print()
        self.c.print(Panel(t, title="where to look (the password and the token are shown only here)",
                           border_style="cyan", expand=False), highlight=False)

    async def leak(self, handle: ServeHandle) -> None:
        vb = self.boards[0]
        dev = self.summary["boards"][0]["device_id"]
        site = self.summary["boards"][0]["site_name"]
        t0 = self.step(f"A methane leak at {site}")
        seq_before = await asyncio.to_thread(self._last_seq, handle, dev)
        self.say(f"methane at {LEAK_LEL:g} %LEL ({LEAK_LEL / SET_POINT_LEL:.1f} × the {SET_POINT_LEL:g} %LEL set point) "
                 f"reaches the sensor of {vb.name} (the board's control interface, the operation `gasguard sim gas` "
                 "sends). Two paths react: the sensor module's comparator (20 %LEL) has the firmware close the "
                 "valve at once, and the alarm itself is confirmed over 15 s first (GB 15322: a shorter spike "
                 f"must not alarm; at 1.6 × the set point it must within {RESPONSE_LIMIT_S:g} s).")
        labels = {"alarm": "board: alarm (red light)", "buzzer": "board: buzzer on",
                  "valve_closed": "board: gas valve fully closed", "fleet_alarm": "fleet: alarm event stored",
                  "fleet_valve_closed": "fleet: valve_closed event stored"}

        def on_change(name: str, seconds: float) -> None:
            self.say(f"[bold]{seconds:5.1f} s[/bold]  {labels[name]}")

        try:
            times: LeakTimes = await in_thread(
                measure_leak, vb, lambda: self._fleet_seen(handle, dev, seq_before), stop=self.stop,
                timeout_s=LEAK_TIMEOUT_S, on_change=on_change)
        except Interrupted:
            raise asyncio.CancelledError() from None
        stored = await asyncio.to_thread(self._stored, handle, dev, seq_before)
        ok = times.complete() and times.alarm is not None and times.alarm <= RESPONSE_LIMIT_S
        self.summary["leak"] = {"board": vb.name, "device_id": dev, "site": self.summary["boards"][0]["site"],
                                "gas": "methane", "lel": LEAK_LEL, "set_point_lel": SET_POINT_LEL,
                                "limit_s": RESPONSE_LIMIT_S, "times_s": {
                                    k: getattr(times, k) for k in ("alarm", "buzzer", "valve_closed",
                                                                   "fleet_alarm", "fleet_valve_closed")},
                                "within_limit": ok}
        self.summary["store"] = stored
        self.timed("leak", t0)
        if not times.complete():
            missing = [labels[k] for k in ("alarm", "valve_closed", "fleet_alarm", "fleet_valve_closed")
                       if getattr(times, k) is None]
            raise StepFailed(f"within {LEAK_TIMEOUT_S:g} s of the leak, not seen: " + "; ".join(missing),
                             f"last lines on {vb.name}'s console:\n{console_tail(vb)}")
        self.results_table(times)
        if not ok:
            raise StepFailed(f"the alarm took {times.alarm:.1f} s: more than the {RESPONSE_LIMIT_S:g} s GB 15322 "
                             "allows at 1.6 × the set point")
        vb.set_gas("methane", 0)
        self.say(f"the gas is taken away: the alarm clears on the board in about 10 s; the incident stays open "
                 "on the dashboard until an operator acknowledges it, and the valve stays closed until someone "
                 f"reopens it by hand (here: gasguard sim valve {vb.name} reopen)")

    def results_table(self, times: LeakTimes) -> None:
        rows = [
            ("gas valve fully closed (comparator, fast path)", times.valve_closed,
             "the board's valve, its closing time included"),
            ("valve_closed stored by the fleet (sent as the close pulse fires)", times.fleet_valve_closed,
             "the fleet's received_at"),
            ("alarm: red light and buzzer", times.alarm, "the board's LED events"),
            ("alarm stored by the fleet", times.fleet_alarm, "the fleet's received_at"),
        ]
        t = Table(title="from the leak to …", title_justify="left", padding=(0, 2))
        t.add_column("what")
        t.add_column("seconds", justify="right")
        t.add_column("measured from")
        for label, seconds, where in sorted(rows, key=lambda r: r[1] if r[1] is not None else 1e9):
            t.add_row(label, f"{seconds:.1f}" if seconds is not None else "—", where)
        t.add_row("limit for the alarm (GB 15322, 1.6 × set point)", f"{RESPONSE_LIMIT_S:.0f}", "", style="dim")
        self.c.print()
        self.c.print(t, highlight=False)

    async def check_views(self, handle: ServeHandle, creds: seed.Credentials) -> None:
        """Sign in to the dashboard as a person would and read the API with the token."""
        from fleet.security.pages import LOGIN_CSRF_COOKIE

        dev = self.summary["leak"]["device_id"]
        site = self.summary["boards"][0]["site_name"]
        view: dict[str, Any] = {"url": handle.http_url + "/"}
        async with httpx.AsyncClient(base_url=handle.http_url, timeout=10, follow_redirects=True) as web:
            r = await web.get("/login")
            csrf = web.cookies.get(LOGIN_CSRF_COOKIE, "")
            r = await web.post("/login", data={"username": creds.username, "password": creds.password,
                                               "csrf_token": csrf, "next": "/"})
            view.update(status=r.status_code, signed_in=r.status_code == 200 and str(r.url.path) == "/",
                        shows_alarm=dev in r.text and site in r.text)
        async with httpx.AsyncClient(base_url=handle.http_url, timeout=10,
                                     headers={"Authorization": f"Bearer {creds.api_token}"}) as api:
            a = await api.get("/api/v1/alarms", params={"device_id": dev, "active": "true"})
            body = a.json() if a.status_code == 200 else {}
            unauth = await httpx.AsyncClient(base_url=handle.http_url, timeout=10).get("/api/v1/alarms")
        self.summary["dashboard"] = view
        self.summary["api"] = {"status": a.status_code, "alarms": body.get("data", []),
                               "without_credentials": unauth.status_code}
        if not view["signed_in"]:
            raise StepFailed(f"signing in to the dashboard at {view['url']} failed (HTTP {view['status']})")
        if not view["shows_alarm"]:
            raise StepFailed(f"the dashboard at {view['url']} does not show the alarm of {dev}")
        if a.status_code != 200 or not body.get("data"):
            raise StepFailed(f"GET /api/v1/alarms?device_id={dev} answered {a.status_code}, without the alarm")
        alarm = body["data"][0]
        self.say(f"[green]✓[/green] dashboard: signed in as {creds.username} with the password above; the open "
                 f"alarm of {dev} at {site} is listed")
        self.say(f"[green]✓[/green] API: alarm #{alarm['id']} {alarm['state']}, peak {alarm.get('peak_lel')} %LEL, "
                 f"opened at {alarm.get('opened_at')}; the same request without credentials: HTTP {unauth.status_code}")

    # store reads (worker threads; sessions of the fleet's own engine)
    @staticmethod
    def _last_seq(handle: ServeHandle, dev: str) -> int:
        with handle.fleet.db.session() as s:
            return int(s.scalar(select(func.coalesce(func.max(Event.seq), 0)).where(Event.device_id == dev)) or 0)

    @staticmethod
    def _fleet_seen(handle: ServeHandle, dev: str, after_seq: int) -> dict[str, datetime]:
        with handle.fleet.db.session() as s:
            rows = s.execute(select(Event.kind, func.min(Event.received_at)).where(
                Event.device_id == dev, Event.seq > after_seq, Event.kind.in_(("alarm", "valve_closed")))
                .group_by(Event.kind)).all()
        return {kind: at for kind, at in rows}

    @staticmethod
    def _stored(handle: ServeHandle, dev: str, after_seq: int) -> dict[str, Any]:
        with handle.fleet.db.session() as s:
            alarm = s.scalars(select(Alarm).where(Alarm.device_id == dev).order_by(Alarm.id.desc())).first()
            events = s.execute(select(Event.kind, Event.seq, Event.received_at).where(
                Event.device_id == dev, Event.seq > after_seq).order_by(Event.seq)).all()
            return {
                "alarm": None if alarm is None else {
                    "id": alarm.id, "device_id": alarm.device_id, "site_id": alarm.site_id, "state": alarm.state,
                    "level": alarm.level, "peak_lel": alarm.peak_lel, "opened_seq": alarm.opened_seq,
                    "opened_at": alarm.opened_at.isoformat(),
                    "valve_closed_at": alarm.valve_closed_at.isoformat() if alarm.valve_closed_at else None},
                "events": [{"kind": k, "seq": q, "received_at": at.isoformat()} for k, q, at in events],
            }

    # --- after the script -------------------------------------------------------------------
    async def keep_running(self, handle: ServeHandle) -> None:
        if self.duration == 0:
            return
        until = "Ctrl-C" if self.duration is None else f"{self.duration:g} s"
        self.step(f"Running until {until}: heartbeats every {HEARTBEAT_S} s, the dashboard reloads every 15 s")
        end = None if self.duration is None else time.monotonic() + self.duration
        seen = await asyncio.to_thread(self._last_event_id, handle)
        dead: set[str] = set()
        while end is None or time.monotonic() < end:
            wait = HEARTBEAT_S if end is None else max(0.0, min(HEARTBEAT_S, end - time.monotonic()))
            await asyncio.sleep(wait)
            lines, seen = await asyncio.to_thread(self._status, handle, seen)
            for line in lines:
                self.say(line)
            for vb in self.boards:
                if not vb.running and vb.name not in dead:
                    dead.add(vb.name)
                    self.say(f"[yellow]![/yellow] {vb.name} is not running ({escape(vb.dead_reason or 'stopped')}); "
                             f"its console:\n{escape(console_tail(vb, 10))}")

    @staticmethod
    def _last_event_id(handle: ServeHandle) -> int:
        with handle.fleet.db.session() as s:
            return int(s.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0)

    @staticmethod
    def _status(handle: ServeHandle, after_id: int) -> tuple[list[str], int]:
        """The events stored since the last look, then one line: who is online, each site's
        reading and valve, open incidents."""
        lines = []
        with handle.fleet.db.session() as s:
            devices = s.scalars(select(Device).order_by(Device.device_id)).unique().all()
            names = {d.device_id: d.site.name if d.site else d.device_id for d in devices}
            for eid, dev, kind, seq, at in s.execute(select(Event.id, Event.device_id, Event.kind, Event.seq,
                                                            Event.received_at).where(Event.id > after_id)
                                                     .order_by(Event.id)):
                after_id = eid
                lines.append(f"[dim]{at.astimezone().strftime('%H:%M:%S')}[/dim]  event [bold]{kind}[/bold] from "
                             f"{names.get(dev, dev)}" + (f" (#{seq})" if seq is not None else " (seen by the fleet)"))
            active = s.scalar(select(func.count()).select_from(Alarm).where(Alarm.state.in_(("open", "acknowledged"))))
            online = sum(1 for d in devices if d.online)
            newest = max((d.last_report_at for d in devices if d.last_report_at), default=None)
            parts = []
            for d in devices:
                h = d.health or {}
                valve = {True: "valve open", False: "valve closed"}.get(h.get("valve_open"), "valve ?")
                parts.append(f"{names[d.device_id]} {h.get('lel', '—')} %LEL {valve}")
        ago = f"{time.time() - newest.timestamp():.0f} s ago" if newest else "never"
        lines.append(f"[dim]{time.strftime('%H:%M:%S')}[/dim]  {online}/{len(devices)} online · last report {ago} · "
                     + " · ".join(parts) + f" · open incidents {active}")
        return lines, after_id

    async def shutdown_boards(self) -> None:
        if not self.boards:
            return
        self.summary["micropython_pids"] = [vb.pid for vb in self.boards if vb.pid is not None]
        stray = await asyncio.to_thread(stop_boards, self.boards)
        self.summary["shutdown"] = {"boards_stopped": len(self.boards), "stray_pids": stray, "clean": not stray}
        if stray:
            self.c.print(f"[red]MicroPython processes still running after stop: {stray}[/red]")
        else:
            n = len(self.boards)
            self.say(f"[dim]{n} board{'s' if n > 1 else ''} stopped, no MicroPython process left[/dim]")


def demo(
    duration: Annotated[float | None, typer.Option(
        "--duration", min=0, help="after the scripted part, keep running this many seconds and exit "
        "(0 = exit right after it); default: until Ctrl-C")] = None,
    boards: Annotated[int, typer.Option("--boards", min=1, max=MAX_BOARDS,
                                        help="how many virtual boards (each is a MicroPython process)")] = 3,
    http_port: Annotated[int, typer.Option("--http-port", min=0, max=65535,
                                           help="dashboard and API port on 127.0.0.1 (0 = any free one)")] = 0,
    keep: Annotated[Path | None, typer.Option("--keep", metavar="DIR", help="keep the database, log, ledger "
                                              "and board images in DIR (a new or empty folder)")] = None,
    summary: Annotated[Path | None, typer.Option("--summary", metavar="FILE", help="write what happened and "
                                                 "the measured times as JSON (no passwords)")] = None,
) -> None:
    try:
        workdir, delete = _workdir(keep)
    except typer.BadParameter as e:
        typer.echo(f"error: {e.param_hint}: {e.message}", err=True)
        raise typer.Exit(2) from None
    console = Console(highlight=False)
    handler = _log_to(workdir / "fleet.log")
    run = Demo(console, boards=boards, http_port=http_port, duration=duration, workdir=workdir,
               delete_workdir=delete, summary_path=summary.resolve() if summary else None)
    code = 1
    try:
        code = asyncio.run(run.run())
    except KeyboardInterrupt:  # before the demo's own handler was in place
        code = 130
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
        if delete:
            shutil.rmtree(workdir, ignore_errors=True)
    raise typer.Exit(code)


demo.__doc__ = HELP
