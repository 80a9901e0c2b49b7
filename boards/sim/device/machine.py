# Simulated `machine` module of the virtual ESP32 board (runs inside MicroPython; also on CPython).
#
# Firmware imports it exactly as on ESP32 (`import machine`): the launched board puts it in
# sys.modules['machine'] before boot.py runs; a firmware unit test installs it in-process:
#
#   from boards.sim.device import install
#   machine = install.install()            # or install.install(board_dict) for another board
#   sim = machine.sim                        # the World (simworld.py): drive it from the test
#   sim.freeze(); sim.sensor.noise = 0
#   sim.set_gas("methane", 30.0)             # %LEL (unit="ppm" for ppm)
#   sim.advance(2000)                        # 2 s of world time: timers, IRQs, valve, watchdog
#   sim.valve.state, sim.led_log, sim.leds(), sim.buzzer_log, sim.resets
#
# What behaves like ESP32 (MicroPython 1.2x esp32 port):
# - Pin(id, mode, pull, value=): invalid GPIOs, the SPI-flash pins and (ESP32) output on GPIO34-39
#   raise ValueError. value()/on()/off()/__call__; irq(handler, trigger, hard=False): handlers run
#   as scheduled (soft) callbacks with the Pin as argument; hard=True is refused (ValueError).
#   IRQ_RISING = 1, IRQ_FALLING = 2 as on ESP32.
# - ADC(pin, atten=): read_u16(), read_uv(), read() (width bits), atten(), width(). Default
#   attenuation ATTN_0DB (about 1.0 V full scale): set ATTN_11DB (about 3.55 V) for the MQ sensor.
# - PWM(pin, freq=, duty_u16=/duty=): drives the buzzer (or an LED) in the sim's logs.
# - Timer(id).init(mode=Timer.PERIODIC|ONE_SHOT, period= or freq=, callback=): soft callbacks.
# - WDT(timeout=ms).feed(): cannot be stopped; when not fed in time the board resets with
#   WDT_RESET (launched board: the launcher kills and reboots the MicroPython process).
# - reset() (HARD_RESET), soft_reset() (SOFT_RESET), deepsleep(ms) (DEEPSLEEP_RESET): raise
#   simworld.BoardReset, a BaseException; reset_cause(), unique_id(), freq(), idle(),
#   disable_irq()/enable_irq(), lightsleep(), Signal, I2C/SoftI2C with an AHT20 T/RH sensor at 0x38
#   on the board's th_sda/th_scl.
# Differences: IRQs and timers are delivered when the world is polled (every machine call, at
# most every 5 ms of world time, and by the launched board's sleep/poll wrappers, about every
# 20 ms), not by hardware.
import simworld
from simworld import (DEEPSLEEP_RESET, HARD_RESET, PWRON_RESET, SOFT_RESET,  # noqa: F401
                      WDT_RESET, BoardReset)

try:
    import time
    _sleep_ms = time.sleep_ms
except AttributeError:  # CPython
    import time

    def _sleep_ms(ms):
        time.sleep(ms / 1000)

sim = simworld.World()

# GPIO tables (see boards/chips.py for the sources)
_VALID = {
    "esp32": set(list(range(0, 6)) + list(range(12, 20)) + [21, 22, 23, 25, 26, 27] + list(range(32, 40))),
    "esp32c3": set(list(range(0, 12)) + list(range(18, 22))),
    "esp32s3": set(list(range(0, 22)) + list(range(33, 49))),
}
_INPUT_ONLY = {"esp32": set(range(34, 40)), "esp32c3": set(), "esp32s3": set()}
_ADC = {
    "esp32": set([32, 33, 34, 35, 36, 37, 38, 39, 0, 2, 4, 12, 13, 14, 15, 25, 26, 27]),
    "esp32c3": set([0, 1, 2, 3, 4, 5]),
    "esp32s3": set(range(1, 21)),
}


def _chip():
    return sim.board.get("chip", "esp32")


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_DOWN = 1
    PULL_UP = 2
    PULL_HOLD = 4
    IRQ_RISING = 1
    IRQ_FALLING = 2
    WAKE_LOW = 4
    WAKE_HIGH = 5
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3

    def __init__(self, id, mode=-1, pull=-1, value=None, drive=None, hold=None):
        if not isinstance(id, int) or id not in _VALID.get(_chip(), _VALID["esp32"]):
            raise ValueError("invalid pin")
        self._id = id
        self._mode = None
        self._pull = None
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None, drive=None, hold=None):
        if mode != -1 and mode is not None:
            if mode in (Pin.OUT, Pin.OPEN_DRAIN) and self._id in _INPUT_ONLY.get(_chip(), ()):
                raise ValueError("pin can only be input")
            if mode not in (Pin.IN, Pin.OUT, Pin.OPEN_DRAIN):
                raise ValueError("invalid pin mode")
            self._mode = mode
        if pull != -1:
            self._pull = pull
            sim.set_pull(self._id, None if pull is None else (1 if pull == Pin.PULL_UP else 0))
        if value is not None:
            self.value(value)

    def value(self, x=None):
        if x is None:
            sim.maybe_poll()
            if self._mode == 3:  # OUT
                return sim._out.get(self._id, 0)
            return sim.level(self._id)
        m = self._mode
        if m == 3 or m == 7:  # OUT, OPEN_DRAIN (no tuple: handlers call this under heap_lock)
            sim.write(self._id, 1 if x else 0)
        sim.maybe_poll()
        return None

    def __call__(self, x=None):
        return self.value(x)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def mode(self, m=None):
        if m is None:
            return self._mode
        self.init(m)

    def pull(self, p=-1):
        if p == -1:
            return self._pull
        self.init(pull=p)

    def irq(self, handler=None, trigger=3, hard=False, wake=None):
        # ESP32 has no hard pin interrupts: every handler is a scheduled callback.
        if hard:
            raise ValueError("hard IRQ not supported on ESP32: handlers run as soft (scheduled) callbacks")
        sim.irq(self._id, self, handler, trigger)
        return _Irq(self, trigger)

    def __repr__(self):
        return "Pin(%d)" % self._id


class _Irq:
    def __init__(self, pin, trigger):
        self._pin = pin
        self._trigger = trigger

    def trigger(self, t=None):
        return self._trigger

    def flags(self):
        return 0


class Signal:
    def __init__(self, pin, invert=False):
        self._pin = pin
        self._invert = invert

    def value(self, x=None):
        if x is None:
            return self._pin.value() ^ (1 if self._invert else 0)
        self._pin.value((1 if x else 0) ^ (1 if self._invert else 0))

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_9BIT = 0
    WIDTH_10BIT = 1
    WIDTH_11BIT = 2
    WIDTH_12BIT = 3
    # approximate full-scale input per attenuation, µV (MicroPython esp32 quickref)
    _FULL_UV = (1000000, 1340000, 2000000, 3550000)

    def __init__(self, pin, atten=None):
        gpio = pin._id if isinstance(pin, Pin) else pin
        if gpio not in _ADC.get(_chip(), _ADC["esp32"]):
            raise ValueError("invalid Pin for ADC")
        self._gpio = gpio
        self._atten = ADC.ATTN_0DB if atten is None else atten
        self._bits = 12

    def atten(self, a):
        if a not in (0, 1, 2, 3):
            raise ValueError("invalid attenuation")
        self._atten = a

    def width(self, w):
        if w not in (0, 1, 2, 3):
            raise ValueError("invalid width")
        self._bits = 9 + w

    def init(self, atten=None):
        if atten is not None:
            self.atten(atten)

    def read_uv(self):
        sim.maybe_poll()
        if self._gpio == sim.pins.get("gas_adc"):
            uv = sim.adc_uv()
        else:
            uv = sim.adc_extra.get(self._gpio, 0)
        fs = ADC._FULL_UV[self._atten]
        if uv > fs:
            uv = fs
        return (uv * 4095 // fs) * fs // 4095  # the 12-bit converter's steps

    def read_u16(self):
        raw = self.read_uv() * 4095 // ADC._FULL_UV[self._atten]
        return raw * 65535 // 4095

    def read(self):
        return (self.read_uv() * ((1 << self._bits) - 1)) // ADC._FULL_UV[self._atten]


class PWM:
    def __init__(self, pin, freq=5000, duty_u16=None, duty=None, duty_ns=None):
        self._pin = pin if isinstance(pin, Pin) else Pin(pin, Pin.OUT)
        self._freq = freq
        self._duty = 0
        if duty is not None:
            duty_u16 = duty * 65535 // 1023
        self.duty_u16(duty_u16 or 0)

    def init(self, freq=None, duty_u16=None, duty=None):
        if freq is not None:
            self.freq(freq)
        if duty is not None:
            self.duty(duty)
        if duty_u16 is not None:
            self.duty_u16(duty_u16)

    def freq(self, f=None):
        if f is None:
            return self._freq
        if not 1 <= f <= 40000000:
            raise ValueError("frequency must be from 1Hz to 40MHz")
        self._freq = f
        sim.pwm(self._pin._id, self._freq, self._duty)

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        self._duty = max(0, min(65535, d))
        sim.pwm(self._pin._id, self._freq, self._duty)

    def duty(self, d=None):
        if d is None:
            return self._duty * 1023 // 65535
        self.duty_u16(d * 65535 // 1023)

    def deinit(self):
        self._duty = 0
        sim.pwm(self._pin._id, self._freq, 0)


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=0, mode=PERIODIC, period=-1, freq=-1, callback=None):
        if id not in (0, 1, 2, 3):
            raise ValueError("Timer %r does not exist (ESP32 has 0-3)" % (id,))
        self._id = id
        self.period = 0
        self.periodic = True
        self.due = 0
        self.callback = None
        if period != -1 or freq != -1 or callback is not None:
            self.init(mode=mode, period=period, freq=freq, callback=callback)

    def init(self, mode=PERIODIC, period=-1, freq=-1, callback=None, tick_hz=1000):
        if freq != -1 and freq is not None:
            period = max(1, 1000 // freq)
        if period is None or period < 1:
            raise ValueError("period must be >= 1 ms")
        self.period = period
        self.periodic = mode == Timer.PERIODIC
        self.callback = callback
        self.due = sim.now_ms() + period
        if self not in sim.timers:
            sim.timers.append(self)

    def deinit(self):
        self.period = 0
        if self in sim.timers:
            sim.timers.remove(self)

    def value(self):
        return max(0, self.due - sim.now_ms()) if self.period else 0


class WDT:
    def __init__(self, id=0, timeout=5000):
        if timeout < 1:
            raise ValueError("WDT timeout too short")
        sim.wdt_arm(timeout)

    def feed(self):
        sim.wdt_feed()
        sim.maybe_poll()


class _AHT20:
    """An AHT20 temperature/humidity sensor at 0x38 reading the sim's climate."""

    ADDR = 0x38

    def __init__(self):
        self.pending = False

    def write(self, buf):
        if len(buf) and buf[0] == 0xAC:
            self.pending = True

    def read(self, n):
        s = sim.sensor
        h = int(s.rh_pct / 100.0 * 1048576) & 0xFFFFF
        t = int((s.temp_c + 50.0) / 200.0 * 1048576) & 0xFFFFF
        b = bytearray(7)
        b[0] = 0x1C
        b[1] = h >> 12
        b[2] = (h >> 4) & 0xFF
        b[3] = ((h & 0xF) << 4) | (t >> 16)
        b[4] = (t >> 8) & 0xFF
        b[5] = t & 0xFF
        crc = 0xFF
        for i in range(6):
            crc ^= b[i]
            for _ in range(8):
                crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        b[6] = crc
        return bytes(b[:n])


class I2C:
    def __init__(self, id=0, scl=None, sda=None, freq=400000, timeout=50000):
        p = sim.pins
        self._dev = None
        pins = []
        for x in (scl, sda):
            if x is not None:
                pins.append(x._id if isinstance(x, Pin) else x)
        if "th_sda" in p and (not pins or set(pins) == set([p["th_sda"], p["th_scl"]])):
            self._dev = _AHT20()

    def scan(self):
        return [_AHT20.ADDR] if self._dev else []

    def _check(self, addr):
        if self._dev is None or addr != _AHT20.ADDR:
            raise OSError(19)  # ENODEV, as ESP32's I2C reports a missing device

    def writeto(self, addr, buf, stop=True):
        self._check(addr)
        self._dev.write(buf)
        return len(buf)

    def readfrom(self, addr, n, stop=True):
        self._check(addr)
        return self._dev.read(n)

    def readfrom_into(self, addr, buf, stop=True):
        data = self.readfrom(addr, len(buf))
        for i in range(len(buf)):
            buf[i] = data[i]


SoftI2C = I2C


def reset():
    sim.reset(HARD_RESET, "machine.reset")


def soft_reset():
    sim.reset(SOFT_RESET, "machine.soft_reset")


def deepsleep(ms=0):
    sim.reset(DEEPSLEEP_RESET, "deepsleep")


def lightsleep(ms=0):
    _sleep_ms(ms)
    sim.poll()


def reset_cause():
    return sim.reset_cause


def wake_reason():
    return 0


def unique_id():
    return sim.uid


def freq(hz=None):
    if hz is None:
        return sim.freq
    if hz not in (20000000, 40000000, 80000000, 160000000, 240000000):
        raise ValueError("frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or 240MHz")
    sim.freq = hz


def idle():
    _sleep_ms(1)
    sim.maybe_poll()


_irq_state = [1]


def disable_irq():
    s = _irq_state[0]
    _irq_state[0] = 0
    return s


def enable_irq(state=1):
    _irq_state[0] = state


def bootloader():
    raise NotImplementedError("the virtual board has no ROM bootloader")
