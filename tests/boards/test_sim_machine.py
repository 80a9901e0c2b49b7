# runs-on: micropython cpython
# The simulated `machine` in-process, as firmware unit tests use it: the same file runs on the
# real MicroPython interpreter and on CPython.
from boards.sim.device import install
from utils.dual import raises


def _board():
    m = install.install()
    m.sim.freeze()
    m.sim.sensor.noise = 0
    m.sim.sensor.warmup_s = 0
    return m


def test_machine_is_the_sim():
    m = _board()
    import machine

    assert machine is m and hasattr(machine, "sim")
    assert m.reset_cause() == m.PWRON_RESET
    assert len(m.unique_id()) == 6
    assert m.freq() == 160000000


def test_adc__concentration_step_raises_reading():
    m = _board()
    adc = m.ADC(m.Pin(34), atten=m.ADC.ATTN_11DB)
    clean = adc.read_uv()
    m.sim.set_gas("methane", 25.0)
    gas = adc.read_uv()
    assert 300000 < clean < 900000, clean
    assert gas > clean * 3, (clean, gas)
    assert adc.read_u16() > 30000
    # the comparator output (active low) trips above the default 20 %LEL threshold
    assert m.Pin(35, m.Pin.IN).value() == 0
    m.sim.set_gas("methane", 0)
    assert m.Pin(35, m.Pin.IN).value() == 1


def test_adc__ramp_and_interferents():
    m = _board()
    adc = m.ADC(m.Pin(34), atten=m.ADC.ATTN_11DB)
    base = adc.read_uv()
    m.sim.set_gas("methane", 40.0, ramp_s=10)
    m.sim.advance(5000)
    half = adc.read_uv()
    m.sim.advance(5000)
    full = adc.read_uv()
    assert base < half < full
    m.sim.set_gas("methane", 0)
    m.sim.set_gas("alcohol", 2000, unit="ppm")
    alc = adc.read_uv()
    assert base < alc < half  # MQ-4 is far less sensitive to alcohol
    e = raises(ValueError, m.sim.set_gas, "cooking", 10)
    assert str(e) == "gas cooking has no lower explosive limit; give it in ppm (unit='ppm')"
    e = raises(ValueError, m.sim.set_gas, "radon", 10)
    assert "expected one of" in str(e)


def test_adc__default_attenuation_clips_like_esp32():
    m = _board()
    m.sim.set_gas("methane", 60.0)
    assert m.ADC(m.Pin(34)).read_uv() == 1000000
    assert raises(ValueError, m.ADC, m.Pin(5)) is not None


def test_adc__warmup_reads_high_then_settles():
    m = install.install()
    m.sim.freeze()
    m.sim.sensor.noise = 0
    adc = m.ADC(m.Pin(34), atten=m.ADC.ATTN_11DB)
    early = adc.read_uv()
    m.sim.advance(20000)
    late = adc.read_uv()
    assert early > late * 1.5, (early, late)


def test_adc__sensor_open_and_short_read_the_wiring():
    m = _board()
    adc = m.ADC(m.Pin(34), atten=m.ADC.ATTN_11DB)
    cmp = m.Pin(35, m.Pin.IN)
    m.sim.set_gas("methane", 10.0)
    m.sim.apply("sensor_fault", {"kind": "open"})  # RL pulls the output to ground
    assert adc.read_uv() == 0 and cmp.value() == 1
    m.sim.sensor_fault("short")  # Vc across RL: 5 V x 0.6 divider on the sim board
    assert abs(adc.read_uv() - 3000000) < 2000, adc.read_uv()
    assert adc.read_u16() > 55000 and cmp.value() == 0  # the module's comparator trips too
    st = m.sim.export_state()
    m = install.install()  # a broken wire stays broken across a power cycle
    m.sim.freeze()
    m.sim.import_state(st)
    assert m.sim.sensor.fault == "short"
    m.sim.sensor.noise = 0
    m.sim.sensor_fault(None)  # wired again: the reading is the gas's once more
    assert abs(adc.read_uv() - m.sim.adc_uv(None, False)) < 2000
    assert m.sim.export_state()["sensor_fault"] is None
    e = raises(ValueError, m.sim.sensor_fault, "loose")
    assert str(e) == "sensor fault 'loose': expected 'open', 'short' or None"


def test_adc__climate_moves_reading():
    m = _board()
    adc = m.ADC(m.Pin(34), atten=m.ADC.ATTN_11DB)
    m.sim.set_gas("methane", 10.0)
    normal = adc.read_uv()
    m.sim.set_climate(temp_c=45, rh_pct=90)
    hot = adc.read_uv()
    assert hot > normal * 1.05, (normal, hot)


def test_pin__irq_soft_and_hard_refused():
    m = _board()
    seen = []
    b = m.Pin(4, m.Pin.IN, m.Pin.PULL_UP)
    b.irq(lambda p: seen.append(p.value()), trigger=m.Pin.IRQ_FALLING)
    m.sim.press_button(ms=100)
    m.sim.advance(300)
    assert seen == [0]
    e = raises(ValueError, b.irq, lambda p: None, m.Pin.IRQ_FALLING, True)
    assert "hard IRQ not supported" in str(e)
    assert raises(ValueError, m.Pin, 36, m.Pin.OUT) is not None
    assert raises(ValueError, m.Pin, 7) is not None


def test_valve__pulse_closes_and_only_manual_reopen():
    m = _board()
    drive = m.Pin(25, m.Pin.OUT, value=0)
    fb = m.Pin(33, m.Pin.IN, m.Pin.PULL_UP)
    assert m.sim.valve.state == "open" and fb.value() == 1
    drive.on()
    m.sim.advance(200)
    drive.off()
    assert m.sim.valve.state == "closing"
    m.sim.advance(1500)
    assert m.sim.valve.state == "closed" and fb.value() == 0
    drive.on()
    m.sim.advance(200)
    drive.off()
    assert m.sim.valve.pulses == 2 and m.sim.valve.closes == 1
    m.sim.valve_reopen()
    assert m.sim.valve.state == "open" and fb.value() == 1
    e = raises(ValueError, m.sim.valve_reopen)
    assert str(e) == "the valve is already open"
    assert [x[2] for x in m.sim.valve_log] == ["closing", "closed", "open"]


def test_valve__power_cut_closes_with_stored_energy():
    m = _board()
    m.sim.power_cut()
    assert m.sim.valve.state == "closing"
    m.sim.advance(2000)
    assert m.sim.valve.state == "closed"
    m.sim.power_restore()
    assert m.reset_cause() == m.PWRON_RESET


def test_leds_buzzer_logs_with_timestamps():
    m = _board()
    red = m.Pin(27, m.Pin.OUT, value=0)
    red.on()
    m.sim.advance(250)
    red.off()
    pwm = m.PWM(m.Pin(26), freq=3000, duty_u16=32768)
    pwm.deinit()
    log = m.sim.led_log
    assert [(x[1], x[2]) for x in log] == [("red", 1), ("red", 0)]
    assert log[1][0] - log[0][0] == 250
    assert [x[2] for x in m.sim.buzzer_log] == [3000, 0]
    assert m.sim.leds() == {"red": 0, "yellow": 0, "green": 0}


def test_timer_and_wdt_reset():
    m = _board()
    ticks = []
    t = m.Timer(0)
    t.init(mode=m.Timer.PERIODIC, period=100, callback=lambda tm: ticks.append(1))
    m.sim.advance(1000)
    t.deinit()
    assert 9 <= len(ticks) <= 10, len(ticks)
    w = m.WDT(timeout=1000)
    m.sim.advance(800)
    w.feed()
    m.sim.advance(800)
    assert m.sim.resets == []
    m.sim.advance(400)
    assert [r[1] for r in m.sim.resets] == [m.WDT_RESET]
    assert m.reset_cause() == m.WDT_RESET


def test_reset_raises_board_reset():
    m = _board()
    import simworld
    e = raises(simworld.BoardReset, m.reset)
    assert e.cause == m.HARD_RESET
    e = raises(simworld.BoardReset, m.soft_reset)
    assert e.cause == m.SOFT_RESET


def test_i2c_aht20_reads_climate():
    m = _board()
    m.sim.set_climate(temp_c=30, rh_pct=40)
    i2c = m.SoftI2C(scl=m.Pin(22), sda=m.Pin(21))
    assert i2c.scan() == [0x38]
    i2c.writeto(0x38, b"\xac\x33\x00")
    d = i2c.readfrom(0x38, 7)
    rh = ((d[1] << 12) | (d[2] << 4) | (d[3] >> 4)) * 100 / 1048576
    tc = (((d[3] & 0xF) << 16) | (d[4] << 8) | d[5]) * 200 / 1048576 - 50
    assert abs(rh - 40) < 0.1 and abs(tc - 30) < 0.1, (rh, tc)


def test_network_and_boardnet():
    m = _board()
    import network
    import boardnet
    w = network.WLAN(network.STA_IF)
    w.active(True)
    w.connect("x", "y")
    assert w.isconnected()
    m.sim.net_cut()
    assert not w.isconnected()
    m.sim.net_restore()
    assert boardnet.peer(boardnet.addr("127.0.0.1", 5683)) == ("127.0.0.1", 5683)


def _c3():
    b = {
        "name": "c3", "chip": "esp32c3", "virtual": False, "flash_size": 0x400000,
        "vfs": {"offset": 0x200000, "size": 0x200000, "block_size": 4096, "block_count": 512},
        "pins": {"gas_adc": 0, "gas_comparator": 1, "valve_drive": 6, "valve_feedback": 7,
                 "buzzer": 10, "led_red": 3, "led_yellow": 4, "led_green": 5, "button": 9},
        "sensor": {"kind": "mq5", "gas": "lpg", "rl_ohm": 10000.0, "r0_ohm": 10000.0, "vc_v": 5.0,
                   "adc_divider": 0.6, "warmup_s": 0},
        "valve": {"kind": "hold", "normally": "closed", "close_on_power_loss": True, "pulse_ms": None,
                  "closing_ms": 800, "feedback_closed_level": 0},
        "power": {"source": "mains", "battery_mv": None}, "network": {"wifi": True},
    }
    m = install.install(b)
    m.sim.freeze()
    m.sim.sensor.noise = 0
    return m


def test_valve__hold_opens_only_energised_and_by_hand():
    m = _c3()
    assert m.sim.valve.state == "closed"
    e = raises(ValueError, m.sim.valve_reopen)
    assert str(e) == "a hold valve opens only while energised (board powered and driving it)"
    drive = m.Pin(6, m.Pin.OUT, value=1)
    m.sim.advance(100)
    assert m.sim.valve.state == "closed"  # energising alone never opens it
    m.sim.valve_reopen()
    assert m.sim.valve.state == "open" and m.Pin(7, m.Pin.IN).value() == 1
    drive.off()
    m.sim.advance(800)
    assert m.sim.valve.state == "closed" and m.Pin(7, m.Pin.IN).value() == 0
    # ESP32-C3 pin rules: no GPIO12-17 (flash), ADC on GPIO0-5 only
    assert raises(ValueError, m.Pin, 13) is not None
    assert raises(ValueError, m.ADC, m.Pin(6)) is not None
    m.sim.set_gas("lpg", 20.0)
    assert m.ADC(m.Pin(0), atten=m.ADC.ATTN_11DB).read_uv() > 1500000


def test_set_gas__ramp_after_delay_and_schedule_survives_export():
    m = _board()
    m.sim.set_gas("methane", 20.0, ramp_s=2, after_s=1)
    m.sim.advance(1000)
    assert m.sim.gas_lel("methane") == 0
    m.sim.advance(1000)
    assert abs(m.sim.gas_lel("methane") - 10.0) < 0.01
    st = m.sim.export_state()
    m2 = install.install()
    m2.sim.freeze()
    m2.sim.import_state(st)
    m2.sim.advance(1000)
    assert abs(m2.sim.gas_lel("methane") - 20.0) < 0.01
    e = raises(ValueError, m.sim.set_climate, 120)
    assert str(e) == "temp_c 120: expected -40..85"


def test_handler_path__allocates_nothing_under_heap_lock():
    import sys

    from utils.dual import SkipTest

    if sys.implementation.name != "micropython":
        raise SkipTest("heap_lock exists on MicroPython only")
    import micropython

    m = _board()
    drive = m.Pin(25, m.Pin.OUT, value=0)
    red = m.Pin(27, m.Pin.OUT, value=0)
    fb = m.Pin(33, m.Pin.IN, m.Pin.PULL_UP)
    m.sim.advance(10)
    err = None
    micropython.heap_lock()
    try:
        lvl = fb.value()  # what a valve handler does: read, drive, light
        drive.value(1)
        red.value(1)
    except MemoryError as e:
        err = e
    finally:
        micropython.heap_unlock()
    assert err is None, "the sim allocated in a handler's path"
    m.sim.advance(300)  # the next poll writes the log entries, with the handler's times
    drive.off()
    assert lvl == 1
    assert [(x[1], x[2]) for x in m.sim.led_log] == [("red", 1)]
    assert m.sim.led_log[0][0] == m.sim.valve_log[0][0] - 100  # closing starts pulse_ms/2 later
    assert m.sim.valve.state == "closing"


def test_control__bad_values_say_what_is_wrong():
    m = _board()
    assert str(raises(ValueError, m.sim.set_gas, "methane", "lots")) == "gas methane: concentration 'lots' is not a number"
    assert str(raises(ValueError, m.sim.set_gas, "methane", -1)) == "gas methane: concentration -1 is negative"
    assert str(raises(ValueError, m.sim.set_gas, "methane", 5, "pct")) == "unit 'pct': expected 'lel' or 'ppm'"
    assert "ramp_s and after_s must not be negative" in str(raises(ValueError, m.sim.set_gas, "methane", 5, "lel", -1))
    assert str(raises(ValueError, m.sim.press_button, 0)) == "ms 0: a press lasts more than 0 ms"
    assert str(raises(ValueError, m.sim.set_climate, None, "wet")) == "rh_pct 'wet': expected 0..100"
    assert "unknown operation 'fly'" in str(raises(ValueError, m.sim.apply, "fly", {}))
