"""The six provisioning steps, in order, and what the board is left as when one fails.

    1 board     read the chip uid (-> device id gg-<uid hex>), /app.json, /board.json, /config.json
    2 maint     write /maint and reset: the maintenance boot leaves the watchdog off
    3 key       the device's own OSCORE key from the fleet (enrolment token)
    4 config    /config.json written atomically (tmp + rename), sha256 read back from the board
    5 register  remove /maint, reset into the normal boot, wait for the fleet to see it register
    6 accept    test gas: alarm, buzzer, valve closed, the events at the fleet, the alarm clearing
                once the gas is gone; recorded with the fleet (and on the install)

Known states. Before step 2 the board is untouched. From step 2 to step 4 a failure removes
/maint and resets the board, so it runs its app again with the configuration its flash holds
(the old one, or the new one whole: never half of one); if the board no longer answers, it is
left with /maint (maintenance boot, no watchdog) and the message says so. From step 5 the board
runs normally with the new configuration. Every failure ends with what to do next, and running
the same command again is always safe: the same device id, the same key unless `rekey`, the
same configuration bytes.

Why `machine.reset()` and not a soft reset to leave a normal boot: MicroPython's WDT survives a
soft reset and cannot be stopped (docs/firmware.md), so only a hard reset clears it; the raw
REPL's soft reset is used only to get a quiet interpreter (main.py does not run after it)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from boards.flash import FlashError, check_port
from fleet.provision.board import APP_JSON, BOARD_JSON, CONFIG, MAINT_FLAG, BoardError, BoardSession, device_id_for
from fleet.provision.fleetclient import FleetClient, FleetError
from fleet.provision.service import fingerprint

GASES = ("methane", "lpg", "propane", "butane")  # firmware/config.py GASES
OSCORE_KEYS = ("master_secret", "master_salt", "sender_id", "recipient_id", "id_context")
STEPS = ("board", "maint", "key", "config", "register", "accept")
TITLES = {
    "board": "Read the board",
    "maint": "Maintenance boot (watchdog off)",
    "key": "Device key from the fleet",
    "config": "Write the configuration",
    "register": "Reboot and register with the fleet",
    "accept": "Acceptance test",
}


class ProvisionError(RuntimeError):
    """A step failed. `step` names it, `state` is what the board was left as, `next` is what
    the installer does now."""

    def __init__(self, step: str, message: str, *, state: str = "", next: str = "") -> None:
        super().__init__(message)
        self.step = step
        self.message = message
        self.state = state
        self.next = next


class Refused(ValueError):
    """Bad arguments, refused before the board or the fleet is touched (exit status 2)."""


@dataclass
class Options:
    port: str
    site: str
    fleet: str
    token: str | None = None
    gas: str | None = None
    sp_low: float | None = None
    sp_high: float | None = None
    board: str | None = None
    coap: str | None = None
    model: str | None = None
    heartbeat_s: int | None = None
    wifi_ssid: str | None = None
    wifi_key: str | None = None
    rekey: bool = False
    acceptance: bool = True
    register_timeout_s: float = 60.0
    accept_timeout_s: float = 90.0
    test_lel: float | None = None
    oscore: bool | None = None  # None: as the fleet says (GET /provision/fleet)

    def check(self) -> None:
        """Field checks, with the firmware's own ranges (firmware/config.py read_config)."""
        if not self.site or len(self.site) > 64 or not self.site.isprintable():
            raise Refused(f"--site {self.site!r}: expected the site's account number (1..64 printable characters)")
        if not self.fleet.startswith(("http://", "https://")):
            raise Refused(f"--fleet {self.fleet!r}: expected the fleet's address, http://host:port or https://host")
        if self.gas is not None and self.gas not in GASES:
            raise Refused(f"--gas {self.gas!r}: expected one of {', '.join(GASES)}")
        if self.sp_low is not None and not 1 <= self.sp_low <= 25:
            raise Refused(f"--sp-low {self.sp_low:g}: expected 1..25 %LEL (GB 15322: the low alarm is 25 %LEL or lower)")
        if self.sp_high is not None and self.sp_high != 0:
            low = self.sp_low if self.sp_low is not None else 25.0
            if not low < self.sp_high <= 60:
                raise Refused(f"--sp-high {self.sp_high:g}: expected 0 (single level) or above the low set point "
                              f"({low:g}) and at most 60 %LEL")
        if self.heartbeat_s is not None and not 5 <= self.heartbeat_s <= 86400:
            raise Refused(f"--heartbeat {self.heartbeat_s}: expected 5..86400 seconds")
        if self.coap is not None:
            host, _, port = self.coap.rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise Refused(f"--coap {self.coap!r}: expected HOST:PORT, e.g. fleet.example.cn:5683")
        if not self.token:
            raise Refused("no enrolment token: pass --token or set GASGUARD_ENROL_TOKEN "
                          "(the fleet operator issues one: POST /api/v1/provision/tokens)")


@dataclass
class Outcome:
    """What a run found and did, for the summary and for tests."""

    device_id: str = ""
    uid: str = ""
    board: str = ""
    app_version: str = ""
    key_version: int = 0
    key_fingerprint: str = ""
    key_reused: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    config_sha256: str = ""
    config_changed: bool = False
    registered_at: str = ""
    acceptance: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)


class Reporter:
    """Where progress goes (the CLI gives a Rich one); `ask` is for the installer's answers."""

    def step(self, n: int, name: str) -> None: ...
    def done(self, name: str, detail: str) -> None: ...
    def note(self, text: str) -> None: ...
    def warn(self, text: str) -> None: ...
    def ask(self, question: str) -> bool:
        return False

    def wait(self, text: str) -> None: ...


def config_bytes(cfg: dict[str, Any]) -> bytes:
    """One encoding, so the same inputs give the same bytes (and the same sha256) every run."""
    return (json.dumps(cfg, sort_keys=True, separators=(",", ":")) + "\n").encode()


class Provisioner:
    """Runs the steps against one board. `board_factory` and `after_tmp` are for tests (a
    power cut between the two halves of the atomic write, say)."""

    def __init__(self, opts: Options, ui: Reporter | None = None, *,
                 board_factory: Callable[[str], BoardSession] = BoardSession,
                 fleet_factory: Callable[[str, str | None], FleetClient] = FleetClient,
                 after_tmp: Callable[[], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.o = opts
        self.ui = ui or Reporter()
        self.board_factory = board_factory
        self.fleet_factory = fleet_factory
        self.after_tmp = after_tmp
        self.sleep = sleep
        self.b: BoardSession | None = None
        self.fleet: FleetClient | None = None
        self.out = Outcome()
        self.board_json: dict[str, Any] = {}
        self.old_config: dict[str, Any] | None = None
        self.oscore: dict[str, str] = {}
        self.maint_written = False
        self.new_sha = ""
        self.registered_before: str | None = None
        self.key_answer: dict[str, Any] = {}

    # -- driver --------------------------------------------------------------------------------
    def run(self) -> Outcome:
        self.o.check()
        try:
            check_port(self.o.port)
        except FlashError as e:
            raise Refused(str(e)) from None
        self.fleet = self.fleet_factory(self.o.fleet, self.o.token)
        steps: list[tuple[str, Callable[[], str]]] = [
            ("board", self.step_board), ("maint", self.step_maint), ("key", self.step_key),
            ("config", self.step_config), ("register", self.step_register)]
        if self.o.acceptance:
            steps.append(("accept", self.step_accept))
        try:
            for n, (name, fn) in enumerate(steps, start=1):
                self.ui.step(n, name)
                t0 = time.monotonic()
                try:
                    detail = fn()
                except ProvisionError as e:
                    if not e.next:  # raised by the step itself: the known state is decided here
                        f = self._failed(name, e.message)
                        e.state, e.next = f.state, f.next
                    raise
                except (BoardError, FleetError) as e:
                    raise self._failed(name, str(e), e) from None
                self.out.seconds[name] = round(time.monotonic() - t0, 2)
                self.ui.done(name, detail)
            return self.out
        finally:
            if self.b is not None:
                self.b.close()
            self.fleet.close()

    # -- failure handling ----------------------------------------------------------------------
    def _failed(self, step: str, message: str, err: Exception | None = None) -> ProvisionError:
        """Put the board in a known state and say what it is and what to do next."""
        again = "then run the same command again (it is safe to repeat)"
        if step == "board":
            state = "untouched: nothing was written to the board"
            if self.b is not None:
                state = self._restart_app(remove_maint=False) or state
            return ProvisionError(step, message, state=state, next="check the cable and the port name, close any "
                                  "program using the port, " + again)
        if step in ("maint", "key", "config"):
            state = self._restart_app(remove_maint=True, fresh=isinstance(err, BoardError))
            if isinstance(err, FleetError) and err.unreachable:
                nxt = f"check the fleet address ({self.o.fleet}) and this laptop's network, {again}"
            elif isinstance(err, FleetError) and err.status == 401:
                nxt = "ask the fleet operator for a new enrolment token (they are short-lived), " + again
            elif isinstance(err, FleetError):
                nxt = "read the fleet's answer above; if it names a different chip, this board needs its own site " \
                      "record; " + again
            else:
                nxt = "check the cable and that the board has power, " + again
            return ProvisionError(step, message, state=state, next=nxt)
        if step == "register":
            cfg = self.out.config.get("fleet", {})
            return ProvisionError(step, message, state=(
                "running normally with the new configuration: it detects gas and closes the valve on its own, "
                "but the fleet has not heard from it"), next=(
                f"check that the board's network reaches the fleet's CoAP address {cfg.get('host')}:{cfg.get('port')} "
                f"(Wi-Fi name and password, firewall for UDP), {again}"))
        return ProvisionError(step, message, state=(
            "running normally with the new configuration and registered with the fleet; the failed acceptance "
            "is recorded"), next=(
            "check the sensor, the buzzer and the valve wiring (or replace the unit), ventilate and reopen the valve "
            "by hand, then run the same command again to repeat the acceptance test"))

    def _restart_app(self, *, remove_maint: bool, fresh: bool = False) -> str:
        """Leave the board running its app: remove /maint when asked and reset. Returns the
        state in words, including the case where the board no longer answers."""
        b = self.b
        if b is None:
            return self._lost_board_state()
        sha = None
        for attempt in range(int(fresh), 2):
            try:
                if attempt:  # the board may have reset under us: a fresh raw REPL session
                    b.reconnect()
                if remove_maint:
                    b.remove(MAINT_FLAG)
                sha = b.sha256(CONFIG)
                b.reset(reconnect=False)
                self.b = None
                break
            except BoardError:
                continue
        else:
            return self._lost_board_state()
        which = "the new configuration" if self.new_sha and sha == self.new_sha else (
            "its previous configuration, unchanged" if self.old_config is not None else "no configuration yet")
        return f"reset into its normal boot, running its app with {which}"

    def _lost_board_state(self) -> str:
        if self.maint_written:
            return ("not answering: it keeps whichever configuration was whole on its flash (old or new, never "
                    "half); /maint may still be there, so its next boot is a maintenance boot without the watchdog")
        return "not answering; nothing was written to it"

    # -- steps -----------------------------------------------------------------------------------
    def step_board(self) -> str:
        self.b = self.board_factory(self.o.port).open()
        b = self.b
        uid = b.unique_id()
        self.out.uid = uid
        self.out.device_id = device_id_for(uid)
        app = self._app_facts(b)
        self.board_json = b.read_json(BOARD_JSON) or {}
        if not self.board_json:
            raise ProvisionError("board", f"{self.o.port}: the board has no {BOARD_JSON}: it was not flashed with a "
                                 "gasguard factory image", state="untouched: nothing was written to the board",
                                 next="flash it with the factory image (gasguard flash), then run this again")
        self.out.board = str(self.board_json.get("name", "?"))
        self.out.app_version = str(app.get("version", "?"))
        if self.o.board and self.o.board != self.out.board:
            raise ProvisionError("board", f"the board on {self.o.port} is a {self.out.board!r}, not the "
                                 f"{self.o.board!r} given with --board", state="untouched: nothing was written",
                                 next="plug in the right board, or drop --board")
        try:
            old = b.read_json(CONFIG)
        except BoardError as e:
            self.ui.warn(f"the board's {CONFIG} is unreadable and will be replaced ({e})")
            old = None
        self.old_config = old if isinstance(old, dict) else None
        sensor_gas = (self.board_json.get("sensor") or {}).get("gas")
        if self.o.gas and sensor_gas and self.o.gas != sensor_gas:
            self.ui.warn(f"--gas {self.o.gas}: this board's sensor is fitted for {sensor_gas}")
        state = "provisioned before" if self.old_config else "not provisioned yet"
        return (f"{self.out.device_id} (chip uid {uid}), board {self.out.board}, app {self.out.app_version}, "
                f"{state}")

    @staticmethod
    def _app_facts(b: BoardSession) -> dict[str, Any]:
        """Version and build of the app from /app.json, picked out on the board: the file lists
        every file with its sha256 (kilobytes), and until step 2 the watchdog is still counting."""
        out = b.exec("import json\ntry:\n _d = json.load(open(%r))\nexcept (OSError, ValueError):\n _d = {}\n"
                     "print(json.dumps({'version': _d.get('version'), 'built': _d.get('built')}))\n_d = None\n"
                     % APP_JSON)
        try:
            return dict(json.loads(out.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            return {}

    def step_maint(self) -> str:
        b = self._board()
        b.write_atomic(MAINT_FLAG, b"provisioning\n")
        self.maint_written = True
        b.reset(reconnect=True)
        if not b.exists(MAINT_FLAG):
            raise BoardError(f"{MAINT_FLAG} is gone after the reset; the board did not boot into maintenance")
        return f"{MAINT_FLAG} written, board reset into its maintenance boot"

    def step_key(self) -> str:
        fleet = self._fleet()
        ans = fleet.key(self.out.device_id, self.out.uid, rekey=self.o.rekey)
        self.key_answer = ans
        self.registered_before = fleet.status(self.out.device_id).get("registered_at")
        self.out.key_version = int(ans["version"])
        self.out.key_fingerprint = str(ans["fingerprint"])
        board_osc = (self.old_config or {}).get("oscore")
        board_fp = fingerprint(board_osc) if isinstance(board_osc, dict) else None
        if not self._use_oscore():
            # plain CoAP: the key stays with the fleet and is not written, so the board's copy
            # (if any) does not matter and nothing can reuse a nonce
            self.oscore = {k: str(ans["oscore"][k]) for k in OSCORE_KEYS} if ans.get("oscore") else {}
            self.out.key_reused = not ans["created"]
            return (f"{'new key' if ans['created'] else 'the key issued before'}: version {self.out.key_version}, "
                    f"fingerprint {self.out.key_fingerprint} (kept by the fleet; the fleet speaks plain CoAP)")
        if ans.get("oscore") is not None:
            self.oscore = {k: str(ans["oscore"][k]) for k in OSCORE_KEYS}
            self.out.key_reused = not ans["created"]
            how = "new key" if ans["created"] else "the key issued before (not used yet)"
        elif board_fp == ans["fingerprint"]:
            self.oscore = {k: str(board_osc[k]) for k in OSCORE_KEYS}  # type: ignore[index]
            self.out.key_reused = True
            how = "the key the board already holds"
        else:
            holds = "no key" if board_fp is None else f"another key (fingerprint {board_fp})"
            raise ProvisionError("key", (
                f"the fleet's key for {self.out.device_id} (version {ans['version']}, fingerprint {ans['fingerprint']}) "
                f"is already in use, but this board holds {holds}; giving it the old key again could repeat "
                "OSCORE nonces"), state=self._restart_app(remove_maint=True),
                next="run the same command with --rekey: the fleet issues a new key and the board starts a fresh "
                     "security context")
        return f"{how}: version {self.out.key_version}, fingerprint {self.out.key_fingerprint}"

    def _fleet_coap(self) -> tuple[str, int]:
        if self.o.coap:
            host, _, port = self.o.coap.rpartition(":")
            return host, int(port)
        from urllib.parse import urlsplit

        host = urlsplit(self.o.fleet).hostname or ""
        port = self._facts().get("coap_port") or 5683
        return host, int(port)

    def _facts(self) -> dict[str, Any]:
        """The fleet's CoAP port and whether it speaks OSCORE, as the key answer carried them."""
        return {"coap_port": self.key_answer.get("coap_port"), "oscore": self.key_answer.get("fleet_oscore")}

    def _use_oscore(self) -> bool:
        if self.o.oscore is not None:
            return self.o.oscore
        return bool(self._facts().get("oscore"))

    def build_config(self) -> dict[str, Any]:
        o = self.o
        host, port = self._fleet_coap()
        cfg: dict[str, Any] = {
            "device_id": self.out.device_id,
            "site": o.site,
            "gas": o.gas or (self.board_json.get("sensor") or {}).get("gas") or "methane",
            "fleet": {"host": host, "port": port},
        }
        if self._use_oscore():
            cfg["oscore"] = dict(self.oscore)
        alarm: dict[str, Any] = {}
        if o.sp_low is not None:
            alarm["low"] = o.sp_low
        if o.sp_high is not None:
            alarm["high"] = o.sp_high
        if alarm:
            cfg["alarm"] = alarm
        if o.model:
            cfg["model"] = o.model
        if o.heartbeat_s is not None:
            cfg["heartbeat_s"] = o.heartbeat_s
        if o.wifi_ssid is not None:
            cfg["wifi"] = {"ssid": o.wifi_ssid, "key": o.wifi_key or ""}
        elif self.old_config and isinstance(self.old_config.get("wifi"), dict):
            cfg["wifi"] = self.old_config["wifi"]  # keep the site's Wi-Fi from an earlier run
        return cfg

    def step_config(self) -> str:
        b = self._board()
        cfg = self.build_config()
        if "oscore" not in cfg:
            self.ui.warn("the fleet does not protect CoAP with OSCORE yet: the device is configured for plain CoAP; "
                         "its key is kept by the fleet (once the fleet speaks OSCORE, run this again with --rekey)")
        data = config_bytes(cfg)
        want = hashlib.sha256(data).hexdigest()
        self.new_sha = want
        self.out.config = cfg
        self.out.config_sha256 = want
        if b.sha256(CONFIG) == want:
            return f"{CONFIG} already holds exactly this configuration (sha256 {want[:16]}…), left as it is"
        b.write_atomic(CONFIG, data, after_tmp=self.after_tmp)
        self.out.config_changed = True
        return f"{CONFIG} written ({len(data)} bytes) and read back: sha256 {want[:16]}… matches"

    def step_register(self) -> str:
        b = self._board()
        fleet = self._fleet()
        b.remove(MAINT_FLAG)
        if b.exists(MAINT_FLAG):
            raise BoardError(f"{MAINT_FLAG} could not be removed")
        b.reset(reconnect=False)
        self.b = None
        self.maint_written = False
        self.ui.wait(f"waiting up to {self.o.register_timeout_s:.0f} s for {self.out.device_id} to register")
        deadline = time.monotonic() + self.o.register_timeout_s
        last_err = ""
        while time.monotonic() < deadline:
            try:
                dev: dict[str, Any] | None = fleet.status(self.out.device_id)
            except FleetError as e:
                last_err = str(e)
                dev = None
            if dev and dev.get("registered_at") and dev["registered_at"] != self.registered_before:
                self.out.registered_at = str(dev["registered_at"])
                return (f"registered at {dev['registered_at']} (fw {dev.get('fw')}, site {dev.get('site_code')}, "
                        f"from {dev.get('address')})")
            self.sleep(0.5)
        raise ProvisionError("register", f"{self.out.device_id} did not register with the fleet within "
                             f"{self.o.register_timeout_s:.0f} s" + (f" (last fleet error: {last_err})" if last_err else ""),
                             state="", next="") from None

    # -- acceptance ------------------------------------------------------------------------------
    def _test_lel(self) -> float:
        if self.o.test_lel is not None:
            return self.o.test_lel
        low = self.o.sp_low if self.o.sp_low is not None else 25.0
        high = self.o.sp_high or 0.0
        return min(100.0, max(40.0, 2 * low, high + 10))

    def _fleet_events(self, kinds: tuple[str, ...], after_seq: int) -> dict[str, bool]:
        after = self._fleet().status(self.out.device_id, after_seq).get("events_after") or []
        return {k: k in after for k in kinds}

    def step_accept(self) -> str:
        fleet = self._fleet()
        virtual = bool(self.board_json.get("virtual"))
        self._valve_open_first(virtual)
        after_seq = int(fleet.status(self.out.device_id).get("last_seq") or 0)
        since = fleet.last_date - timedelta(seconds=2) if fleet.last_date else None
        gas = self.out.config.get("gas", "methane")
        t0 = time.monotonic()
        checks: dict[str, Any] = {}
        if virtual:
            checks = self._accept_virtual(gas, after_seq)
            method = "virtual"
        else:
            checks = self._accept_installer(gas, after_seq)
            method = "installer"
        checks["seconds"] = round(time.monotonic() - t0, 1)
        passed = all(v for k, v in checks.items() if k != "seconds")
        result = "pass" if passed else "fail"
        body = {"result": result, "checks": checks, "method": method, "site": self.o.site,
                "since": since.isoformat() if since else None}
        rec = fleet.acceptance(self.out.device_id, body)
        self.out.acceptance = rec
        missing = [k for k, v in checks.items() if k != "seconds" and not v]
        if not passed:
            raise ProvisionError("accept", f"acceptance test failed (recorded as #{rec['id']}): no "
                                 + ", ".join(missing), state="", next="")
        inst = f", install #{rec['install_id']}" if rec.get("install_id") else ""
        return f"passed in {checks['seconds']} s: alarm, buzzer, valve closed, events at the fleet, alarm cleared (record #{rec['id']}{inst})"

    def _accept_virtual(self, gas: str, after_seq: int) -> dict[str, Any]:
        """The virtual board: test gas through its control socket, outputs from its events."""
        from boards.sim.control import ControlError, connect

        try:
            ctl = connect(self.o.port)
        except ControlError as e:
            raise ProvisionError("accept", f"the board says it is virtual, but its control socket is not found ({e})",
                                 state="running normally with the new configuration",
                                 next="start the virtual board with `gasguard sim up`, or run with --no-acceptance")
        since = max([e.get("host_t", 0) for e in ctl.events()] or [0]) + 1
        lel = self._test_lel()
        self.ui.note(f"virtual board: {gas} at {lel:g} %LEL applied through the control socket")
        ctl.set_gas(gas, lel)
        checks = {"alarm": False, "buzzer": False, "valve_closed": False, "fleet_alarm": False,
                  "fleet_valve_closed": False}
        deadline = time.monotonic() + self.o.accept_timeout_s
        try:
            while time.monotonic() < deadline and not all(checks.values()):
                for e in ctl.events(since=since):
                    if e.get("ev") == "buzzer" and e.get("v"):
                        checks["buzzer"] = True
                    if e.get("ev") == "led" and e.get("n") == "red" and e.get("v"):
                        checks["alarm"] = True
                checks["valve_closed"] = ctl.state().get("valve") == "closed"
                got = self._fleet_events(("alarm", "valve_closed"), after_seq)
                checks["fleet_alarm"] = got["alarm"]
                checks["fleet_valve_closed"] = got["valve_closed"]
                if not all(checks.values()):
                    self.sleep(0.5)
            # gas away: the alarm must clear (and say so to the fleet) before the valve is
            # reopened, or the app closes it again, as it should
            ctl.set_gas(gas, 0)
            checks["alarm_cleared"] = self._wait_clear(after_seq) if checks["fleet_alarm"] else False
            for _ in range(20):  # the coil may still be energised for a moment
                try:
                    ctl.valve_reopen()
                except ControlError:
                    pass
                self.sleep(0.5)
                if ctl.state().get("valve") == "open":
                    break
        finally:
            ctl.set_gas(gas, 0)
        return checks

    def _valve_open_first(self, virtual: bool) -> None:
        """The test must see the valve close, so it starts open, as the device knows it. A
        closed valve (a power cut closes it on boards that close on power loss) is reopened by
        hand first and the device's `valve_reopened` (from its feedback switch) awaited: a valve
        reopened and closed again before the device noticed would give no `valve_closed`."""
        fleet = self._fleet()
        st = fleet.status(self.out.device_id)
        seq = int(st.get("last_seq") or 0)
        if virtual:
            from boards.sim.control import connect

            ctl = connect(self.o.port)
            if ctl.state().get("valve") == "open":
                return
            self.ui.note("virtual board: its valve is closed; reopening it before the test")
            ctl.valve_reopen()
        else:
            if st.get("valve") != "closed" and self.ui.ask("Is the gas valve open now?"):
                return
            self.ui.note("Reopen the gas valve by hand now (the test must see it close).")
        self.ui.wait(f"waiting up to {self.o.accept_timeout_s:.0f} s for the device to report the valve open")
        deadline = time.monotonic() + self.o.accept_timeout_s
        while time.monotonic() < deadline:
            if self._fleet_events(("valve_reopened",), seq)["valve_reopened"]:
                return
            self.sleep(0.5)
        raise ProvisionError("accept", "the device did not report its valve open: the acceptance test cannot "
                             "show it closing", state="running normally with the new configuration; registered",
                             next="reopen the valve by hand (check its feedback switch wiring if it is open), then "
                                  "run the same command again")

    def _wait_clear(self, after_seq: int) -> bool:
        """The device's alarm_clear reaching the fleet once the gas is gone."""
        self.ui.wait(f"waiting up to {self.o.accept_timeout_s:.0f} s for the alarm to clear")
        deadline = time.monotonic() + self.o.accept_timeout_s
        while time.monotonic() < deadline:
            if self._fleet_events(("alarm_clear",), after_seq)["alarm_clear"]:
                return True
            self.sleep(0.5)
        return False

    def _accept_installer(self, gas: str, after_seq: int) -> dict[str, Any]:
        """A real board: the installer applies test gas and says what they saw; the fleet's
        side is checked here."""
        self.ui.note(f"Apply {gas} test gas to the sensor now (a test can held at the sensor's vents).")
        self.ui.wait(f"waiting up to {self.o.accept_timeout_s:.0f} s for the alarm to reach the fleet")
        deadline = time.monotonic() + self.o.accept_timeout_s
        got = {"alarm": False, "valve_closed": False}
        while time.monotonic() < deadline and not all(got.values()):
            got = self._fleet_events(("alarm", "valve_closed"), after_seq)
            if not all(got.values()):
                self.sleep(1.0)
        checks = {
            "alarm": self.ui.ask("Did the red light come on?"),
            "buzzer": self.ui.ask("Did the buzzer sound?"),
            "valve_closed": self.ui.ask("Is the gas valve closed (indicator / no flow at the burner)?"),
            "fleet_alarm": got["alarm"],
            "fleet_valve_closed": got["valve_closed"],
        }
        self.ui.note("Take the test gas away and ventilate.")
        checks["alarm_cleared"] = self._wait_clear(after_seq) if got["alarm"] else False
        self.ui.note("Reopen the valve by hand now that the alarm has cleared.")
        return checks

    # -- helpers ---------------------------------------------------------------------------------
    def _board(self) -> BoardSession:
        if self.b is None:
            raise BoardError(f"{self.o.port}: not connected")
        return self.b

    def _fleet(self) -> FleetClient:
        assert self.fleet is not None
        return self.fleet
