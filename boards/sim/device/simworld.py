# The world around the virtual board: clock, wiring, gas, valve, power, network, logs.
#
# Common subset of MicroPython and CPython. One World per board; the simulated `machine`
# module (machine.py) exposes it as `machine.sim`. Test code drives it directly:
#
#   sim = machine.sim
#   sim.set_gas("methane", 30.0)             # step to 30 %LEL now (unit="ppm" for ppm)
#   sim.set_gas("methane", 0, ramp_s=10)     # ramp to 0 over 10 s
#   sim.set_gas("alcohol", 2000, unit="ppm") # interfering gases: alcohol, cooking (ppm only)
#   sim.set_climate(temp_c=35, rh_pct=90)
#   sim.press_button(ms=300)                 # active low, released after 300 ms
#   sim.set_input(gpio, level)               # drive any input pin (None releases it)
#   sim.sensor_fault("open")                 # the gas sensor broken ("open") or shorted
#                                            #   ("short"); None wires it again (simphys)
#   sim.advance(1000)                        # move the world clock 1 s (10 ms steps):
#                                            #   runs due Timer callbacks, pin IRQs, the valve, the WDT
#   sim.freeze()                             # stop real time: only advance() moves the clock
#   sim.valve.state                          # "open" / "closing" / "closed"; sim.valve.pulses
#   sim.valve_reopen()                       # manual reopen on site (ValueError says why not)
#   sim.leds()                               # {"red": 0, "yellow": 0, "green": 1}
#   sim.led_log, sim.buzzer_log, sim.valve_log, sim.events   # [(t_ms, name, value), ...]
#   sim.adc_uv()                             # what the gas ADC pin sees now, µV
#   sim.power_cut(); sim.power_restore()     # in-process: valve/outputs react, reset cause PWRON
#   sim.net_cut(); sim.net_restore()         # network.WLAN().isconnected() follows
#   sim.resets                               # [(t_ms, cause)], e.g. WDT_RESET when not fed
#   sim.sensor.noise = 0                     # deterministic readings; sim.sensor.warmup_s = 0
#
# Times are world milliseconds (`sim.now_ms()`): real elapsed time plus whatever advance() added;
# on the launched board they are aligned with the host launcher's clock.
# Pin IRQ handlers and Timer callbacks run as scheduled (soft) callbacks, as on ESP32; the
# when the Unix port's schedule queue is full a callback is dropped and counted in
# `sim.irq_dropped` (ESP32's queue is 8 deep and drops silently).
try:
    import time
    _ticks = time.ticks_ms
    _tdiff = time.ticks_diff
except AttributeError:  # CPython
    import time

    def _ticks():
        return int(time.monotonic() * 1000)

    def _tdiff(a, b):
        return a - b

import gc

try:
    import micropython
    _schedule = micropython.schedule
except (ImportError, AttributeError):
    _schedule = None

try:
    import simphys
except ImportError:  # imported as boards.sim.device.simworld on the host
    from . import simphys

# machine.reset_cause() values, as on ESP32 (and protocol.md's reset causes 1-5)
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
IRQ_RISING = 1   # ESP32's values (GPIO_INTR_POSEDGE / NEGEDGE)
IRQ_FALLING = 2
BROWNOUT = 6  # reported by the sim only (sim.reset_detail); ESP32's machine says PWRON_RESET

LED_ROLES = {"led_red": "red", "led_yellow": "yellow", "led_green": "green"}
LOG_MAX = 2000
LINKED_LOG_MAX = 64

# The `sim` board's /board.json (boards/defs/sim.toml); a test checks they agree.
DEFAULT_BOARD = {
    "name": "sim", "chip": "esp32", "virtual": True, "flash_size": 0x400000,
    "vfs": {"offset": 0x200000, "size": 0x200000, "block_size": 4096, "block_count": 512},
    "pins": {"gas_adc": 34, "gas_comparator": 35, "valve_drive": 25, "valve_feedback": 33,
             "buzzer": 26, "led_red": 27, "led_yellow": 14, "led_green": 13, "button": 4,
             "th_sda": 21, "th_scl": 22},
    "sensor": {"kind": "mq4", "gas": "methane", "rl_ohm": 20000.0, "r0_ohm": 20000.0, "vc_v": 5.0,
               "adc_divider": 0.6, "warmup_s": 5},
    "valve": {"kind": "pulse", "normally": "open", "close_on_power_loss": True, "pulse_ms": 200,
              "closing_ms": 1500, "feedback_closed_level": 0},
    "power": {"source": "mains", "battery_mv": None},
    "network": {"wifi": True},
}


def _num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


class BoardReset(BaseException):
    """Raised by machine.reset()/soft_reset() and a watchdog reset: the board restarts.

    A BaseException, so firmware's `except Exception` does not swallow it (nothing does on a
    real board). The launched board's runtime turns it into a reboot; in-process tests catch it.
    """

    def __init__(self, cause):
        super().__init__(cause)
        self.cause = cause


class World:
    def __init__(self, board=None, uid=b"\x24\x0a\xc4\x5e\xd1\x01"):
        self.board = board or DEFAULT_BOARD
        b = self.board
        self.pins = b["pins"]
        self.role_of = {}
        for role in self.pins:
            self.role_of[self.pins[role]] = role
        s = b["sensor"]
        self.sensor = simphys.MQSensor(s["kind"], s["rl_ohm"], s["r0_ohm"], s["vc_v"],
                                       s["adc_divider"], s["warmup_s"])
        self.target_gas = s["gas"]
        v = b["valve"]
        self.valve = simphys.Valve(v["kind"], v["normally"], v["close_on_power_loss"],
                                   v.get("pulse_ms"), v["closing_ms"], v.get("feedback_closed_level", 0))
        self.uid = uid
        self._last_raw = _ticks()
        self._elapsed = 0
        self._offset = 0
        self._frozen = False
        self._gas = {}          # gas -> [(t_ms, ppm), ...] piecewise linear, held after the last point
        self._inputs = {}       # gpio -> forced level
        self._button_until = -1
        self._button_from = -1
        self._out = {}          # gpio -> level driven by the firmware
        self._pull = {}         # gpio -> 1 pull-up / 0 pull-down
        self._irqs = {}         # gpio -> [pin, handler, trigger, last_level]
        self.timers = []
        self.events = []
        self.resets = []
        self.reset_cause = PWRON_RESET
        self.reset_detail = "power-on"
        self.irq_dropped = 0
        self.wdt_timeout = 0    # 0 = not armed
        self.wdt_fed = 0
        self.powered = True
        self.net_up = True
        self.freq = 160000000
        self.on_reset = None    # callable(cause) run before a reset is raised
        self.link = None        # launched board: the launcher's control link
        self._polled = 0
        self.adc_extra = {}     # gpio -> µV for ADC pins other than the gas sensor
        # the board's outputs, allocated up front so writing them never allocates
        self._out_t = {}        # gpio -> world ms of the last write
        self._logged = {}       # gpio -> level last written to the log
        for role in ("valve_drive", "buzzer", "led_red", "led_yellow", "led_green"):
            g = self.pins.get(role)
            if g is not None:
                self._out[g] = 0
                self._out_t[g] = 0
                self._logged[g] = 0
        self._drive_pin = self.pins.get("valve_drive")
        self._valve_logged = self.valve.state
        self._dirty = False
        self.comparator_v = self.sensor.pin_v({self.target_gas: simphys.to_ppm(self.target_gas, 20, "lel")}, 10 ** 9, False)
        self.sensor.heater_on_at = self.now_ms()

    # -- clock ---------------------------------------------------------------------------
    def now_ms(self):
        if not self._frozen:
            raw = _ticks()
            self._elapsed += _tdiff(raw, self._last_raw)
            self._last_raw = raw
        return self._elapsed + self._offset

    def freeze(self):
        self.now_ms()
        self._frozen = True

    def unfreeze(self):
        self._last_raw = _ticks()
        self._frozen = False

    def align(self, world_now):
        """Shift the clock so now_ms() == world_now (the launcher aligns boards with its clock)."""
        self._offset += world_now - self.now_ms()

    def advance(self, ms, step_ms=10):
        """Move the world clock by ms, polling every step_ms so edges and timers are not missed."""
        while ms > 0:
            d = step_ms if ms > step_ms else ms
            self._offset += d
            ms -= d
            self.poll()

    # -- inputs --------------------------------------------------------------------------
    def set_gas(self, gas, value, unit="lel", ramp_s=0, after_s=0):
        """Concentration of one gas: a step (ramp_s=0) or a linear ramp, starting after_s from now."""
        ppm = simphys.to_ppm(gas, value, unit)
        if not _num(ramp_s) or not _num(after_s) or ramp_s < 0 or after_s < 0:
            raise ValueError("ramp_s and after_s must not be negative (got %r, %r)" % (ramp_s, after_s))
        now = self.now_ms()
        t0 = now + int(after_s * 1000)
        cur = self.gas_ppm(gas, t0)
        pts = [p for p in self._gas.get(gas, []) if p[0] < t0]
        pts.append((t0, cur))
        pts.append((t0 + int(ramp_s * 1000), ppm))
        self._gas[gas] = pts

    def gas_ppm(self, gas, t=None):
        if t is None:
            t = self.now_ms()
        pts = self._gas.get(gas)
        if not pts:
            return 0.0
        prev = None
        for p in pts:
            if p[0] > t:
                if prev is None:
                    return 0.0
                span = p[0] - prev[0]
                if span <= 0:
                    return p[1]
                return prev[1] + (p[1] - prev[1]) * (t - prev[0]) / span
            prev = p
        return prev[1]

    def gas_lel(self, gas, t=None):
        return self.gas_ppm(gas, t) / (simphys.LEL_PCT_VOL[gas] * 100.0)

    def mixture(self, t=None):
        if t is None:
            t = self.now_ms()
        out = {}
        for gas in self._gas:
            out[gas] = self.gas_ppm(gas, t)
        return out

    def set_climate(self, temp_c=None, rh_pct=None):
        if temp_c is not None:
            if not _num(temp_c) or not -40 <= temp_c <= 85:
                raise ValueError("temp_c %r: expected -40..85" % (temp_c,))
            self.sensor.temp_c = float(temp_c)
        if rh_pct is not None:
            if not _num(rh_pct) or not 0 <= rh_pct <= 100:
                raise ValueError("rh_pct %r: expected 0..100" % (rh_pct,))
            self.sensor.rh_pct = float(rh_pct)

    def press_button(self, ms=300, after_s=0):
        if not _num(ms) or ms <= 0:
            raise ValueError("ms %r: a press lasts more than 0 ms" % (ms,))
        self._button_from = self.now_ms() + int(after_s * 1000)
        self._button_until = self._button_from + ms

    def set_input(self, gpio, level):
        if level is None:
            self._inputs.pop(gpio, None)
        else:
            self._inputs[gpio] = 1 if level else 0

    def sensor_fault(self, kind):
        """The gas sensor's wiring: "open", "short" or None (normal). The ADC and the comparator
        then read what that wiring gives (simphys.MQSensor.pin_v); it survives power cuts."""
        self.sensor.set_fault(kind)

    def valve_reopen(self):
        t = self.now_ms()
        self.valve.manual_reopen(t)
        self._sync_valve(t)

    # -- the pins, as the firmware sees them --------------------------------------------
    def level(self, gpio, t=None):
        if gpio in self._inputs:
            return self._inputs[gpio]
        role = self.role_of.get(gpio)
        if t is None:
            t = self.now_ms()
        if role == "button":
            return 0 if self._button_from <= t < self._button_until else 1
        if role == "valve_feedback":
            self.valve.update(t)
            return self.valve.feedback()
        if role == "gas_comparator":
            return 0 if self.adc_uv(t, False) > self.comparator_v * 1e6 else 1
        if gpio in self._out:
            return self._out[gpio]
        return self._pull.get(gpio, 0)

    def set_pull(self, gpio, pull):
        if pull is None:
            self._pull.pop(gpio, None)
        else:
            self._pull[gpio] = pull

    def write(self, gpio, level):
        # Pin handlers call this, and tests run them under micropython.heap_lock(): for the
        # board's own output pins nothing here allocates; a log entry that would allocate is
        # written later, by the next poll (with the time of the write).
        level = 1 if level else 0
        if self._out.get(gpio, 0) == level:
            if gpio not in self._out:
                self._out[gpio] = level  # first write of 0: an output starts low, nothing to log
            return
        self._out[gpio] = level
        t = self.now_ms()
        if gpio in self._out_t:
            self._out_t[gpio] = t
        if gpio == self._drive_pin:
            self.valve.set_drive(level, t)
            self.valve.update(t)
        try:
            if gpio in self._logged:
                self._log_outputs()
            else:
                self._log("out", "gpio%d" % gpio, level, t)
        except MemoryError:
            self._dirty = True

    def _log_outputs(self):
        for gpio in self._logged:
            level = self._out[gpio]
            if self._logged[gpio] == level:
                continue
            t = self._out_t[gpio]
            role = self.role_of[gpio]
            if role == "valve_drive":
                self._log("out", "valve_drive", level, t)
                if self.link is not None:  # the launcher mirrors the coil's state too
                    self.link.send({"ev": "valve_state", "valve": self.valve.to_dict(), "t": t})
            elif role == "buzzer":
                self._log("buzzer", "buzzer", level, t)
            else:
                self._log("led", LED_ROLES[role], level, t)
            self._logged[gpio] = level
        self._sync_valve(self.now_ms())

    def pwm(self, gpio, freq, duty_u16):
        role = self.role_of.get(gpio)
        on = 1 if (freq and duty_u16) else 0
        if role == "buzzer":
            self._log("buzzer", "buzzer", freq if on else 0, self.now_ms())
        elif role in LED_ROLES:
            self._log("led", LED_ROLES[role], duty_u16, self.now_ms())

    def adc_uv(self, t=None, noisy=True):
        if t is None:
            t = self.now_ms()
        if not self.powered:
            return 0
        return int(self.sensor.pin_v(self.mixture(t), t, noisy) * 1e6)

    def leds(self):
        out = {}
        for role in LED_ROLES:
            out[LED_ROLES[role]] = self._out.get(self.pins.get(role), 0)
        return out

    def buzzer_on(self):
        return self._out.get(self.pins.get("buzzer"), 0)

    # -- logs ----------------------------------------------------------------------------
    def _log(self, kind, name, value, t):
        ev = (t, kind, name, value)
        self.events.append(ev)
        # a launched board's log lives on the host (sent below): keep only a little here, so
        # the sim's own bookkeeping does not eat the heap the app would have on a board
        limit = LINKED_LOG_MAX if self.link is not None else LOG_MAX
        if len(self.events) > limit:
            del self.events[: limit // 4]
        if self.link is not None:
            self.link.send({"ev": kind, "n": name, "v": value, "t": t})

    def _filter(self, kind):
        return [(e[0], e[2], e[3]) for e in self.events if e[1] == kind]

    @property
    def led_log(self):
        return self._filter("led")

    @property
    def buzzer_log(self):
        return self._filter("buzzer")

    @property
    def valve_log(self):
        return self._filter("valve")

    def _valve_tick(self, t):
        self.valve.update(t)
        self._sync_valve(t)

    def _sync_valve(self, t):
        # log each change of the valve's state once, whoever caused it
        if self.valve.state == self._valve_logged:
            return
        self._log("valve", "valve", self.valve.state, t)
        self._valve_logged = self.valve.state
        if self.link is not None:
            self.link.send({"ev": "valve_state", "valve": self.valve.to_dict(), "t": t})

    # -- the scheduler: timers, IRQs, watchdog, control link ---------------------------
    def schedule(self, fn, arg):
        if _schedule is None:
            fn(arg)
            return
        try:
            _schedule(fn, arg)
        except RuntimeError:  # queue full: dropped silently on ESP32; counted here
            self.irq_dropped += 1

    def maybe_poll(self):
        """poll() at most every 5 ms of world time: machine calls use this."""
        t = self.now_ms()
        if t - self._polled >= 5 or t < self._polled:
            self._polled = t
            try:
                self.poll()
            except MemoryError:
                # under heap_lock (a handler test), or the app filled the heap: the world is not
                # the app's memory on a board, so collect and try once more, else poll later
                try:
                    gc.collect()
                    self.poll()
                except MemoryError:
                    self._polled = t - 5

    def poll(self):
        """Bring the world up to now: control messages, valve, IRQ edges, timers, watchdog."""
        if self._dirty:
            self._dirty = False
            self._log_outputs()
        if self.link is not None:
            self.link.poll(self)
        t = self.now_ms()
        self._valve_tick(t)
        for gpio in self._irqs:
            rec = self._irqs[gpio]
            lvl = self.level(gpio, t)
            if lvl != rec[3]:
                rec[3] = lvl
                edge = IRQ_RISING if lvl else IRQ_FALLING
                if rec[2] & edge and rec[1] is not None:
                    self.schedule(rec[1], rec[0])
        for tm in self.timers:
            if tm.period and t >= tm.due:
                if tm.periodic:
                    tm.due += tm.period
                    if tm.due <= t:
                        tm.due = t + tm.period
                else:
                    tm.period = 0
                if tm.callback is not None:
                    self.schedule(tm.callback, tm)
        if self.wdt_timeout and t - self.wdt_fed > self.wdt_timeout:
            self.wdt_timeout = 0
            self.reset(WDT_RESET, "watchdog", raise_=False)

    def irq(self, gpio, pin, handler, trigger):
        if handler is None:
            self._irqs.pop(gpio, None)
        else:
            self._irqs[gpio] = [pin, handler, trigger, self.level(gpio)]

    def wdt_arm(self, timeout):
        t = self.now_ms()
        self.wdt_timeout = timeout  # ESP32: a new WDT() changes the timeout; nothing stops it
        self.wdt_fed = t
        if self.link is not None:
            self.link.send({"ev": "wdt", "timeout": self.wdt_timeout, "t": t})

    def wdt_feed(self):
        t = self.now_ms()
        self.wdt_fed = t
        if self.link is not None:
            self.link.feed(t)

    # -- resets, power, network ----------------------------------------------------------
    def reset(self, cause, detail="", raise_=True):
        """Record a reset; raise BoardReset (launched: the runtime reboots the board)."""
        t = self.now_ms()
        self.resets.append((t, cause))
        self._log("reset", detail or str(cause), cause, t)
        if self.on_reset is not None:
            self.on_reset(cause)
        if cause != SOFT_RESET:
            self.wdt_timeout = 0
            self.timers = []
            self._irqs = {}
        if cause != SOFT_RESET:  # as on ESP32: a soft reset is not a chip reset
            self.reset_cause = cause
            self.reset_detail = detail
        if raise_:
            raise BoardReset(cause)

    def power_cut(self):
        t = self.now_ms()
        self.powered = False
        self._log("power", "power", 0, t)
        for gpio in list(self._out):
            self.write(gpio, 0)
        self.valve.power_loss(t)
        self._sync_valve(t)
        self.wdt_timeout = 0
        self.timers = []
        self._irqs = {}
        return t

    def power_restore(self, brownout=False):
        t = self.now_ms()
        self.powered = True
        self.sensor.age_h += 0  # powered hours are counted from heater_on_at
        self.sensor.heater_on_at = t
        self.reset_cause = PWRON_RESET
        self.reset_detail = "brown-out" if brownout else "power-on"
        self._log("power", "power", 1, t)

    def net_cut(self):
        self.net_up = False
        self._log("net", "net", 0, self.now_ms())

    def net_restore(self):
        self.net_up = True
        self._log("net", "net", 1, self.now_ms())

    # -- state carried across power cycles by the launcher ------------------------------
    def export_state(self):
        return {"now": self.now_ms(), "valve": self.valve.to_dict(), "gas": self._gas,
                "temp_c": self.sensor.temp_c, "rh_pct": self.sensor.rh_pct,
                "heater_on_at": self.sensor.heater_on_at, "age_h": self.sensor.age_h,
                "net_up": self.net_up, "reset_cause": self.reset_cause,
                "reset_detail": self.reset_detail, "sensor_fault": self.sensor.fault}

    def import_state(self, st):
        if "now" in st:
            self.align(st["now"])
        if "valve" in st:
            self.valve.load(st["valve"])
            self._valve_logged = self.valve.state
        if "gas" in st:
            g = {}
            for gas in st["gas"]:
                g[gas] = [(p[0], p[1]) for p in st["gas"][gas]]
            self._gas = g
        self.sensor.temp_c = st.get("temp_c", self.sensor.temp_c)
        self.sensor.rh_pct = st.get("rh_pct", self.sensor.rh_pct)
        self.sensor.heater_on_at = st.get("heater_on_at", self.sensor.heater_on_at)
        self.sensor.age_h = st.get("age_h", self.sensor.age_h)
        self.net_up = st.get("net_up", True)
        self.sensor.set_fault(st.get("sensor_fault"))
        self.reset_cause = st.get("reset_cause", PWRON_RESET)
        self.reset_detail = st.get("reset_detail", "")

    # -- the control operations the launcher forwards, by name ---------------------------
    def apply(self, op, args):
        """Run one control operation (dict args); ValueError for an unknown op or bad args."""
        fn = _OPS.get(op)
        if fn is None:
            raise ValueError("unknown operation %r; known: %s" % (op, ", ".join(sorted(_OPS))))
        return fn(self, **args)


_OPS = {
    "set_gas": World.set_gas,
    "set_climate": World.set_climate,
    "press_button": World.press_button,
    "set_input": World.set_input,
    "sensor_fault": World.sensor_fault,
    "valve_reopen": World.valve_reopen,
    "net_cut": World.net_cut,
    "net_restore": World.net_restore,
}
