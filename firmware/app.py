# The device application: builds every part from /board.json, /config.json and /cal.json,
# then runs the tasks. firmware/main.py calls `run()`.
#
# Tasks (each owned by the App; `deinit()` cancels them):
# - sample: every sample_ms reads the gas ADC and runs Detector.sample (alarm, valve handler,
#   faults, events). The only task the watchdog cares about: it is fed only while this task
#   has run within the last few periods.
# - indicate: every 50 ms updates LEDs and buzzer (flash patterns need finer steps than sampling).
# - valve: Valve.run, behind the handler's ThreadSafeFlag.
# - coap + report: the CoAP endpoint and the uplinks (only when a fleet is configured).
# - wdt: feeds the watchdog (normal boot only).
# Every task but wdt runs under `_supervise`: an exception is logged, counted, and the task
# restarts after a short pause. Reporting, configuration and storage failures therefore never
# stop detection; and the valve's fast path (pin IRQ -> Valve.trip) does not go through the
# event loop at all. If the loop itself dies, the global exception handler records it and the
# watchdog resets the board.
import sys

try:
    import asyncio
except ImportError:  # pragma: no cover
    asyncio = None

from firmware import alarm as alarm_mod
from firmware import port, store
from firmware.detector import F_CONFIG, F_STORAGE, Detector
from firmware.indicate import Indicator
from firmware.life import Life
from firmware.outbox import Outbox
from firmware.sensor import Sensor
from firmware.valve import SRC_COMMAND, SRC_POWER, Valve

FW_VERSION = "0.1.0"
NET_TASKS = ("coap", "report")
NET_OOM_LIMIT = 3  # MemoryErrors (in any task) while reporting runs, before it pauses
NET_RETRY_FIRST_S = 30  # the first retry after a pause; doubling up to net_retry_s
# what only reporting imports: forgotten when it pauses, so the collector can free it
NET_MODULES = ("firmware.coapnet", "firmware.reporter", "firmware.resources", "firmware.coap")
NET_PACKAGES = ("protocol", "firmware.oscore")


def _log(msg):
    try:
        print("gasguard:", msg)
    except MemoryError:
        pass  # a log line is never worth a crash


class _NoPin:
    # stands in for a pin the board does not have
    def value(self, v=None):
        return 0


class App:
    """Constructor: `root` (filesystem root), `machine` (module; default: import machine),
    `maint` (maintenance boot: no watchdog), `settings` (default: config.load(root)),
    `clock` (ms ticks). Async: `main()` runs until `deinit()`. Sync: `event(kind, fields)`,
    `health()`, `registration()`."""

    def __init__(self, root="/", machine=None, maint=False, settings=None, clock=port.ticks_ms):
        self.root = root
        self.m = machine if machine is not None else port.machine
        self.maint = maint
        self.clock = clock
        self.t0 = clock()
        self.tasks = []
        self.crashes = {}
        self.wdt = None
        self.reporter = None
        self.endpoint = None
        self._last_sample = self.t0
        self._dead = False
        self._net_oom = 0  # network-task MemoryErrors since reporting (re)started
        self.net_sheds = 0
        self._epoch_t = 0  # the fleet's time when reporting was last paused, and when that was
        self._epoch_at = self.t0
        self.commands = None
        self.reset_cause = port.reset_cause(self.m)
        if settings is None:
            from firmware import config as config_mod

            settings = config_mod.load(root)
        s = settings
        self.s = s
        for p in s.problems:
            _log("config: " + p)
        if not s.device_id:
            s.device_id = "gg-" + "".join("%02x" % b for b in port.unique_id(self.m))
        self.dev = s.device_id
        self._storage_fault = False
        self.outbox = Outbox(root, capacity=s.outbox, on_storage_error=self._on_storage_error)
        self._build()
        # configuration and curve code is needed once: give its memory back to the heap
        _forget("firmware.config", "firmware.curves")
        self._boot_events()

    # -- building --------------------------------------------------------------------------
    def _pin(self, role, mode, pull=None):
        n = self.s.pins.get(role)
        if n is None or self.m is None or not hasattr(self.m, "Pin"):
            return None
        P = self.m.Pin
        try:
            if pull is None:
                return P(n, mode)
            return P(n, mode, pull)
        except (ValueError, OSError) as e:
            self.s.problems.append("board.json: pins.%s = %d: %s" % (role, n, e))
            return None

    def _build(self):
        s = self.s
        m = self.m
        Pin = m.Pin if m is not None and hasattr(m, "Pin") else None
        # sensor
        from firmware.curves import curve_k, span_k

        try:
            k, n = curve_k(s.gas, s.sensor_kind, s.curve.get("lel_vol"), s.curve.get("a"),
                           s.curve.get("b"), s.curve.get("air"))
        except ValueError as e:
            s.problems.append(str(e))
            k, n = curve_k("methane")
        if s.span_lel:
            try:
                k = span_k(n, s.span_lel, s.span_ratio)
            except ValueError as e:
                s.problems.append("cal.json: " + str(e))
        full = 65535.0 * s.vc_v * s.adc_divider / s.adc_vref_v
        self.sensor = Sensor(s.rs_air, k, n, range_ratio=s.range_ratio,
                             stuck_samples=(s.stuck_s * 1000) // s.sample_ms,
                             warmup_ms=s.warmup_s * 1000, start_ms=self.t0, full=full)
        self.adc = None
        if Pin is not None and "gas_adc" in s.pins and hasattr(m, "ADC"):
            try:
                self.adc = m.ADC(Pin(s.pins["gas_adc"]))
                if hasattr(m.ADC, "ATTN_11DB"):
                    self.adc.atten(m.ADC.ATTN_11DB)
            except (ValueError, OSError) as e:
                s.problems.append("board.json: pins.gas_adc: %s" % (e,))
        # alarm
        try:
            self.alarm = alarm_mod.Alarm(
                low=int(s.low * 100), high=int(s.high * 100), hyst=int(s.hyst * 100),
                confirm_ms=int(s.confirm_s * 1000), dip_ms=int(s.dip_s * 1000),
                clear_ms=int(s.clear_s * 1000))
        except alarm_mod.AlarmError as e:
            s.problems.append("config.json: %s" % (e,))
            self.alarm = alarm_mod.Alarm()  # 25 %LEL, 15 s: the standard's defaults
        # valve and its fast path
        out = Pin.OUT if Pin is not None else 0
        inp = Pin.IN if Pin is not None else 0
        drive = self._pin("valve_drive", out)
        fb = self._pin("valve_feedback", inp)
        self.flag = port.ThreadSafeFlag()
        self.valve = Valve(drive or _NoPin(), fb, self.flag, kind=s.valve_kind,
                           pulse_ms=s.pulse_ms, closing_ms=s.closing_ms,
                           feedback_closed_level=s.feedback_closed_level,
                           path=store.join(self.root, "valve.json"),
                           comparator_level=s.comparator_level, on_event=self.event,
                           clock=self._times, ticks=self.clock)
        cmp_pin = self._pin("gas_comparator", inp) if s.comparator else None
        sense = self._pin("mains_sense", inp) if s.close_on_power_loss else None
        if Pin is not None and (cmp_pin is not None or sense is not None):
            rising = getattr(Pin, "IRQ_RISING", 1)
            falling = getattr(Pin, "IRQ_FALLING", 2)
            self.valve.attach(comparator=cmp_pin, sense=sense,
                              trigger_cmp=rising if s.comparator_level else falling,
                              trigger_sense=falling)
        # indications, life, detector
        self.indicator = Indicator(self._pin("led_red", out), self._pin("led_yellow", out),
                                   self._pin("led_green", out), self._pin("buzzer", out),
                                   s.indicate or None)
        self.life = Life(store.join(self.root, "life.json"), rated_h=s.life_h,
                         save_min=s.life_save_min, start_ms=self.t0)
        button = self._pin("button", inp, getattr(Pin, "PULL_UP", None) if Pin else None)
        self.detector = Detector(self.sensor, self.alarm, self.valve, self.indicator, self.life,
                                 emit=self.event, button=button,
                                 mains=self._pin("mains_sense", inp),
                                 selftest_closes=s.selftest_closes_valve)
        if s.problems:
            self.detector.extra_faults |= F_CONFIG
        if self._storage_fault:
            self.detector.extra_faults |= F_STORAGE

    def _save_alarm(self):
        # the alarm level survives a reboot, so an alarm raised before a power cut is cleared
        # (alarm_clear) after it, and indications resume at once
        try:
            store.write_json(store.join(self.root, "alarm.json"), {"lvl": self.alarm.level})
        except store.StoreError as e:
            self._on_storage_error(str(e))

    def _boot_events(self):
        try:
            rec = store.read_json(store.join(self.root, "alarm.json"))
        except store.StoreError:
            rec = None
        if isinstance(rec, dict) and rec.get("lvl") in (1, 2):
            self.alarm.force(rec["lvl"] if self.alarm.high is not None else 1)
        ran_before = self.outbox.last > 0
        self.event("boot", {"boot": self.reset_cause})
        if ran_before and self.reset_cause in (1, 6):
            # power-on or brown-out after a previous run: the power was away (the CPU has no
            # stored energy to say so at the time; boards with mains_sense report power_lost)
            self.event("power_back", {})
        if self.s.problems:
            self.event("fault", {"f": F_CONFIG})
        # A board that closes on power loss closed its valve by itself (stored energy or a
        # normally-closed valve) if power went away: record it once the feedback shows it.
        v = self.valve
        if (self.s.close_on_power_loss and self.reset_cause in (1, 6) and v.state == 0
                and v._fb is not None and v._fb.value() == self.s.feedback_closed_level):
            v.state = 1
            v.src = SRC_POWER
            v.closes += 1
            v._save()
            self.event("valve_closed", {"src": "power"})

    # -- events, health ----------------------------------------------------------------------
    def _times(self):
        now = self.clock()
        up = port.ticks_diff(now, self.t0) // 1000
        if self.reporter is not None:
            t = self.reporter.epoch()
        elif self._epoch_t:
            t = self._epoch_t + port.ticks_diff(now, self._epoch_at) // 1000
        else:
            t = 0
        return up, t

    def _on_storage_error(self, why):
        _log("storage: " + why)
        self._storage_fault = True
        try:
            self.detector.extra_faults |= F_STORAGE
        except AttributeError:
            pass  # during start-up: the detector picks it up below

    def event(self, kind, fields):
        """Number an event, put it on flash, wake the reporter. Never raises: a storage
        failure becomes fault 256, and detection goes on."""
        try:
            up, t = self._times()
            ev = {"dev": self.dev, "k": kind, "up": up}
            if t:
                ev["t"] = t
            for key in fields:
                ev[key] = fields[key]
            self.outbox.add(ev)
            if kind == "alarm" or kind == "alarm_clear":
                self._save_alarm()
            if self.reporter is not None:
                self.reporter.kick()
        except Exception as e:  # noqa: BLE001
            try:
                _log("event %s lost: %r" % (kind, e))
            except MemoryError:
                pass

    def health(self):
        up, t = self._times()
        d = self.detector
        h = {
            "dev": self.dev, "t": t, "fw": FW_VERSION, "lel": d.lel / 100,
            "alarm": self.alarm.level, "valve": self.valve.state, "faults": d.faults & 4095,
            "uptime": up, "last_seq": self.outbox.last, "sp_low": self.s.low,
            "sp_high": self.s.high, "powered_h": self.life.hours,
            "baseline": self.sensor.baseline / 1000, "reset": self.reset_cause,
            "outbox": len(self.outbox), "warmup": self.sensor.warming(self.clock()),
            "buzzer": bool(self.indicator.state & 8),
        }
        free = port.mem_free()
        if free:
            h["heap_free"] = free
            h["mem_free_kb"] = free // 1024
        if self.valve._fb is not None:
            h["valve_open"] = self.valve.state == 0
        return h

    def registration(self):
        r = {"dev": self.dev, "uid": port.unique_id(self.m), "model": self.s.model,
             "board": self.s.board_name, "fw": FW_VERSION, "gas": self.s.gas,
             "seq": self.outbox.last, "boot": self.reset_cause}
        if self.s.site:
            r["site"] = self.s.site
        return r

    # -- calibration ---------------------------------------------------------------------
    def calibrate(self, by, date="", span_lel=None):
        """Zero (clean air: span_lel None) or span (a known %LEL now at the sensor) from the
        last filtered reading; writes /cal.json with who and when, rebuilds the sensor table
        and emits a `calibration` event. Returns the new value (rs_air or K)."""
        from firmware import config as config_mod
        from firmware.curves import span_k
        from firmware.sensor import SensorError, counts_to_rs

        sen = self.sensor
        hist = sen.history()
        if len(hist) < 3:
            raise SensorError("calibration: expected at least 3 samples, got %d" % len(hist))
        hist = hist[-8:]
        hist.sort()
        raw = hist[len(hist) // 2]
        rs = counts_to_rs(raw, sen.full)
        if span_lel is None:
            config_mod.save_calibration(self.root, rs_air=rs, by=by, date=date)
            sen.recalibrate(rs_air=rs)
            value = rs
        else:
            ratio = rs / sen.rs_air
            k = span_k(sen.n, span_lel, ratio)
            config_mod.save_calibration(self.root, span_lel=span_lel, span_ratio=ratio, by=by,
                                        date=date)
            sen.recalibrate(k=k)
            value = k
        _forget("firmware.config", "firmware.curves")
        self.event("calibration", {"by": by, "lel": sen.lel / 100})
        return value

    # -- commands ------------------------------------------------------------------------
    def _cmd_close(self):
        self.valve.trip(SRC_COMMAND)
        return "done", None, None

    def _cmd_selftest(self):
        ok = self.detector.selftest(self.clock())
        return "done", ok, None

    def _cmd_reboot(self):
        self._reboot_at = port.ticks_add(self.clock(), 3000)  # after the result went out
        return "done", None, None

    # -- tasks ---------------------------------------------------------------------------
    async def _sample(self):
        adc = self.adc
        det = self.detector
        period = self.s.sample_ms
        while not self._dead:
            now = self.clock()
            raw = -1
            if adc is not None:
                try:
                    raw = adc.read_u16()
                except MemoryError:
                    # not the ADC's fault: another task filled the heap. Collect and read again
                    # (a real ESP32 ADC read allocates nothing; a driver or simulator may).
                    port.collect()
                    try:
                        raw = adc.read_u16()
                    except Exception:  # noqa: BLE001
                        raw = -1
                except Exception:  # noqa: BLE001 - an ADC failure is a fault, not a crash
                    raw = -1
            det.sample(raw, now)
            self._last_sample = now
            reboot = getattr(self, "_reboot_at", None)
            if reboot is not None and port.ticks_diff(now, reboot) >= 0:
                self.life.save()
                if self.m is not None and hasattr(self.m, "reset"):
                    self.m.reset()
                port.reset()
            await port.sleep_ms(period)

    async def _indicate(self):
        ind = self.indicator
        while not self._dead:
            now = self.clock()
            ind.update(self.alarm.level, self.detector.faults,
                       self.sensor.warming(now), now)
            await port.sleep_ms(50)

    async def _climate(self, period_ms=60000):
        # T/RH compensation: read the board's AHT20 and hand the factor to the sensor
        from firmware.aht20 import AHT20
        from firmware.sensor import compensation_factor

        m = self.m
        i2c = m.I2C(0, scl=m.Pin(self.s.pins["th_scl"]), sda=m.Pin(self.s.pins["th_sda"]))
        dev = AHT20(i2c)
        while not self._dead:
            try:
                dev.start()
                await port.sleep_ms(100)
                t, rh = dev.read()
                self.climate = (t, rh)
                self.sensor.set_compensation(compensation_factor(t, rh))
            except OSError as e:
                _log("climate: %s" % (e,))
            await port.sleep_ms(period_ms)

    async def _feed(self):
        limit = self.s.sample_ms * 4 + 2000
        while not self._dead:
            if port.ticks_diff(self.clock(), self._last_sample) < limit:
                self.wdt.feed()
            await port.sleep_ms(min(1000, self.s.wdt_ms // 4))

    async def _supervise(self, name, factory):
        while not self._dead:
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - restart it; detection must go on
                n = self.crashes.get(name, 0) + 1
                self.crashes[name] = n
                pause = 500
                if isinstance(e, MemoryError):
                    # the heap is short: give it back before anything else allocates. Whichever
                    # task found it short, reporting is what gives way
                    e = None
                    port.collect()
                    if self.endpoint is not None or self.reporter is not None:
                        self._net_oom += 1
                        if self._net_oom >= NET_OOM_LIMIT:
                            self._shed_network()
                    if name in NET_TASKS and self.endpoint is None:
                        return  # reporting paused: its tasks end; the retry starts new ones
                try:  # the log costs memory too: the first few, then every hundredth
                    if n <= 3 or n % 100 == 0:
                        _log("task %s crashed (%d): %r" % (name, n, e or "MemoryError"))
                        if e is not None and hasattr(sys, "print_exception"):
                            sys.print_exception(e)
                except MemoryError:
                    pass
                await port.sleep_ms(pause)

    def _shed_network(self):
        """Reporting could not get memory (again and again, or not even to start): stop it
        and give its memory to detection, which never depends on it. Events stay on flash;
        reporting starts again after `net_retry_s` (docs/firmware.md, memory)."""
        if self.reporter is not None:
            self._epoch_t = self.reporter.epoch()  # the fleet's time, for event stamps meanwhile
            self._epoch_at = self.clock()
        for part in (self.reporter, self.endpoint):
            if part is not None:
                try:
                    part.deinit()  # their tasks end by themselves
                except Exception:  # noqa: BLE001
                    pass
        self.reporter = None
        self.endpoint = None
        self.commands = None
        _forget(*NET_MODULES)
        _forget(*[k for k in sys.modules for p in NET_PACKAGES if k == p or k.startswith(p + ".")])
        port.collect()
        self.net_sheds += 1
        # a passing shortage should not silence the device for long: 30 s, 60 s, ... up to
        # net_retry_s between tries
        wait_s = min(self.s.net_retry_s, NET_RETRY_FIRST_S << min(self.net_sheds - 1, 8))
        _log("reporting paused: no memory (%d); retry in %d s" % (self.net_sheds, wait_s))
        self.tasks.append(asyncio.create_task(self._net_retry(wait_s)))

    async def _net_retry(self, wait_s):
        await port.sleep_ms(2000)  # the network tasks end by themselves meanwhile
        self.tasks = [t for t in self.tasks if not t.done()]  # done tasks hold their coroutines
        port.collect()
        await port.sleep_ms(wait_s * 1000)
        if self._dead or self.endpoint is not None:
            return
        self._net_oom = 0
        self._start_network()
        self._spawn_network()

    def _spawn_network(self):
        if self.endpoint is not None:
            spawn = asyncio.create_task
            try:
                self.tasks.append(spawn(self._supervise("coap", self.endpoint.run)))
                self.tasks.append(spawn(self._supervise("report", self.reporter.run)))
            except MemoryError:
                self._shed_network()  # no room for even the tasks: pause, as after a crash

    def _start_network(self):
        s = self.s
        if not s.fleet_host:
            _log("no fleet configured: detection only")
            return
        port.collect()  # the reporting stack is the largest import: start it on a tidy heap
        sock = None
        try:
            from firmware.coapnet import Endpoint
            from firmware.reporter import Commands, Reporter
            from firmware.resources import site
            from protocol.coap_numbers import TransmissionParameters

            self._wifi()
            remote = port.resolve(s.fleet_host, s.fleet_port)
            sock = port.udp_socket("0.0.0.0", s.bind_port)
            self.commands = Commands(self.dev, {"close_valve": self._cmd_close,
                                                "selftest": self._cmd_selftest,
                                                "reboot": self._cmd_reboot},
                                     epoch=lambda: self._times()[1])
            params = TransmissionParameters(**s.coap) if s.coap else None
            self.endpoint = Endpoint(sock, site(self.health, self.commands), params,
                                     clock=self.clock, log=_log, oscore=self._oscore())
            self.reporter = Reporter(self.endpoint, self.outbox, remote, self.registration,
                                     self.health, self.commands, s.heartbeat_s, self.clock,
                                     log=_log)
        except MemoryError:
            # reporting does not fit beside detection now: pause it, as after a crash. A socket
            # left bound would take the next try's datagrams: the endpoint closes its own
            # (in _shed_network), a bare one is closed here
            if self.endpoint is None and sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
            self._shed_network()
        except Exception as e:  # noqa: BLE001 - no network: detection goes on without it
            _log("network not started: %r" % (e,))
            if hasattr(sys, "print_exception"):
                sys.print_exception(e)
            self.endpoint = None
            self.reporter = None

    def _oscore(self):
        # the OSCORE context from /config.json's "oscore" section (docs/oscore.md), or None
        if not self.s.oscore:
            return None
        from firmware.oscore import FileSeqStore, from_config

        try:
            return from_config(self.s.oscore, FileSeqStore(store.join(self.root, "oscore.seq")),
                               self._oscore_event)
        except ValueError as e:
            # never fall back to plain CoAP when keys were provisioned: report nothing instead
            self.s.problems.append("config.json: %s" % (e,))
            self.detector.extra_faults |= F_CONFIG
            raise

    def _oscore_event(self, kind, detail):
        _log("oscore: %s %s" % (kind, detail))
        if kind in ("oscore_store_failed", "oscore_context_lost", "oscore_seq_exhausted"):
            self.detector.extra_faults |= F_STORAGE if kind == "oscore_store_failed" else F_CONFIG

    def _wifi(self):
        if not self.s.wifi_ssid:
            return
        try:
            import network

            w = network.WLAN(network.STA_IF)
            w.active(True)
            if not w.isconnected():
                w.connect(self.s.wifi_ssid, self.s.wifi_key)
        except (ImportError, OSError) as e:
            _log("wifi: %r" % (e,))

    async def main(self):
        loop = asyncio.get_event_loop()
        if hasattr(loop, "set_exception_handler"):
            loop.set_exception_handler(self._loop_error)
        if not self.maint:
            self.wdt = port.wdt(self.s.wdt_ms, self.m)
        # detection first: its tasks exist before reporting takes any memory
        spawn = asyncio.create_task
        self.tasks.append(spawn(self._supervise("sample", self._sample)))
        self.tasks.append(spawn(self._supervise("indicate", self._indicate)))
        self.tasks.append(spawn(self._supervise("valve", self.valve.run)))
        if self.wdt is not None:
            self.tasks.append(spawn(self._feed()))
        if self.s.compensation and "th_sda" in self.s.pins and "th_scl" in self.s.pins:
            self.tasks.append(spawn(self._supervise("climate", self._climate)))
        self._start_network()
        self._spawn_network()
        while not self._dead:
            await port.sleep_ms(500)

    def _loop_error(self, loop, context):
        # the last resort: record it; the watchdog resets the board if detection stopped
        self.crashes["loop"] = self.crashes.get("loop", 0) + 1
        _log("unhandled: %r" % (context.get("exception"),))

    def deinit(self):
        self._dead = True
        self.valve.deinit()
        if self.reporter is not None:
            self.reporter.deinit()
        if self.endpoint is not None:
            self.endpoint.deinit()
        for t in self.tasks:
            try:
                t.cancel()
            except Exception:  # noqa: BLE001
                pass
        self.tasks = []
        self.life.save()


def _forget(*names):
    # drop modules from sys.modules and from their package, so the collector can free them
    for name in names:
        sys.modules.pop(name, None)
        pkg, _, short = name.rpartition(".")
        parent = sys.modules.get(pkg)
        if parent is not None and hasattr(parent, short):
            try:
                delattr(parent, short)
            except (AttributeError, TypeError):
                pass


def maintenance_requested(root="/", machine=None):
    """Maintenance boot: the flag file /maint exists, or the button is held at boot."""
    if store.exists(store.join(root, "maint")):
        return True
    m = machine if machine is not None else port.machine
    if m is None or not hasattr(m, "Pin"):
        return False
    try:
        from firmware import config as config_mod

        b = config_mod.load(root).pins.get("button")
        if b is None:
            return False
        pin = m.Pin(b, m.Pin.IN, getattr(m.Pin, "PULL_UP", None))
        return pin.value() == 0
    except Exception:  # noqa: BLE001 - a broken board file must not block the boot
        return False


def run(root="/"):
    maint = maintenance_requested(root)
    if maint:
        _log("maintenance boot: watchdog not armed")
    app = App(root, maint=maint)
    if hasattr(asyncio, "new_event_loop"):
        asyncio.new_event_loop()
    try:
        asyncio.run(app.main())
    finally:
        app.deinit()
