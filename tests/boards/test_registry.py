"""Board files: the shipped ones load; broken ones fail with the exact text a person reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from boards.cli import app
from boards.registry import DEFS_DIR, BoardError, list_boards, load_board, parse_board

SIM = (DEFS_DIR / "sim.toml").read_text(encoding="utf-8")


def _write(tmp_path: Path, text: str, name: str = "x") -> Path:
    text = text.replace('name = "sim"', 'name = "%s"' % name)
    p = tmp_path / ("%s.toml" % name)
    p.write_text(text, encoding="utf-8")
    return p


def _set(text: str, key: str, value: str) -> str:
    new, n = re.subn(r"(?m)^%s = .*$" % re.escape(key), "%s = %s" % (key, value), text)
    assert n == 1, key
    return new


def test_list_boards__shipped():
    assert {"esp32-mq4", "esp32c3-mq5", "sim"} <= set(list_boards())


@pytest.mark.parametrize("name", ["esp32-mq4", "esp32c3-mq5", "sim"])
def test_load_board__valid(name):
    b = load_board(name)
    assert b.name == name
    assert b.warnings == ()
    assert b.offsets.vfs + b.vfs_size == b.flash_size
    assert b.block_size == 4096 and b.block_count == b.vfs_size // 4096
    d = b.to_device_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["pins"]["gas_adc"] == b.pins.gas_adc
    assert d["vfs"]["block_count"] == 512


def test_load_board__c3_bootloader_offset():
    assert load_board("esp32c3-mq5").offsets.bootloader == 0
    assert load_board("esp32-mq4").offsets.bootloader == 0x1000


def test_load_board__invalid_input_only_output(tmp_path):
    p = _write(tmp_path, _set(SIM, "valve_drive", "36"))
    with pytest.raises(BoardError) as e:
        load_board(p)
    assert e.value.problems == [
        "%s: pins.valve_drive = 36: GPIO34–39 are input-only on ESP32; choose an output pin" % p
    ]


def test_load_board__invalid_adc2_with_wifi(tmp_path):
    p = _write(tmp_path, _set(SIM, "gas_adc", "26").replace("buzzer = 26", "buzzer = 32"))
    with pytest.raises(BoardError) as e:
        load_board(p)
    assert str(e.value) == (
        "%s: pins.gas_adc = 26: GPIO26 is ADC2 (channel 9) on ESP32, and ADC2 cannot be read "
        "while Wi-Fi is on; choose an ADC1 pin (32, 33, 34, 35, 36, 37, 38, 39)" % p
    )


def test_load_board__invalid_flash_pin_and_duplicate(tmp_path):
    text = _set(_set(SIM, "buzzer", "7"), "led_red", "13")
    p = _write(tmp_path, text)
    with pytest.raises(BoardError) as e:
        load_board(p)
    assert e.value.problems == [
        "%s: pins.buzzer = 7: GPIO6-11 are wired to the SPI flash on ESP32; choose another pin" % p,
        "%s: pins.led_green = 13: GPIO13 is already pins.led_red; give each role its own pin" % p,
    ]


def test_load_board__strapping_warns_and_opt_out(tmp_path):
    p = _write(tmp_path, _set(SIM, "button", "0"))
    b = load_board(p)
    assert b.warnings == (
        "%s: pins.button = 0: strapping pin: GPIO0 low at reset enters the serial bootloader; "
        "make sure the circuit cannot hold it at the wrong level during reset, then list it in "
        "[pin_options] ignore_strapping_warning" % p,
    )
    p2 = _write(tmp_path, _set(SIM, "button", "0") + "\n[pin_options]\nignore_strapping_warning = [0]\n")
    assert load_board(p2).warnings == ()
    p3 = _write(tmp_path, SIM + "\n[pin_options]\nignore_strapping_warning = [15]\n")
    with pytest.raises(BoardError) as e:
        load_board(p3)
    assert e.value.problems == [
        "%s: pin_options.ignore_strapping_warning = 15: GPIO15 is not a strapping pin this board "
        "uses; remove it from the list" % p3
    ]


def test_load_board__invalid_field_range_and_enum(tmp_path):
    text = _set(SIM, "pulse_ms", "5").replace('kind = "mq4"', 'kind = "mq9"')
    p = _write(tmp_path, text)
    with pytest.raises(BoardError) as e:
        load_board(p)
    assert e.value.problems == [
        '%s: sensor.kind = "mq9": Input should be \'mq2\', \'mq4\', \'mq5\' or \'mq6\'; fix the value' % p,
        "%s: valve.pulse_ms = 5: Input should be greater than or equal to 20; fix the value" % p,
    ]


def test_load_board__invalid_vfs_size(tmp_path):
    p = _write(tmp_path, SIM.replace("size = 0x200000", "size = 0x100000"))
    with pytest.raises(BoardError) as e:
        load_board(p)
    assert e.value.problems == [
        "%s: vfs.size = 0x100000: MicroPython makes the vfs partition run from offsets.vfs "
        "(0x200000) to the end of flash (0x400000); set it to 0x200000" % p
    ]


def test_load_board__invalid_valve_combination(tmp_path):
    text = SIM.replace('kind = "pulse"', 'kind = "hold"').replace("pulse_ms = 200\n", "")
    p = _write(tmp_path, text)
    with pytest.raises(BoardError) as e:
        load_board(p)
    assert e.value.problems == [
        "%s: valve.close_on_power_loss = True: a normally-open hold valve opens when power fails; "
        'use valve.normally = "closed" or a pulse valve with stored energy' % p
    ]


def test_load_board__invalid_c3_pins(tmp_path):
    c3 = (DEFS_DIR / "esp32c3-mq5.toml").read_text(encoding="utf-8")
    text = _set(_set(c3, "gas_adc", "5"), "led_red", "18").replace('name = "esp32c3-mq5"', 'name = "c3"')
    p = tmp_path / "c3.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(BoardError) as e:
        load_board(p)
    assert e.value.problems == [
        "%s: pins.led_red = 18: GPIO18 is USB-Serial-JTAG D- (the REPL) on ESP32-C3; choose "
        "another pin; mpremote needs the console" % p,
        "%s: pins.gas_adc = 5: GPIO5 is ADC2 (channel 0) on ESP32-C3, and ADC2 cannot be read "
        "while Wi-Fi is on; choose an ADC1 pin (0, 1, 2, 3, 4)" % p,
        "%s: pins.led_green = 5: GPIO5 is already pins.gas_adc; give each role its own pin" % p,
    ]


def test_load_board__invalid_unknown_and_missing(tmp_path):
    with pytest.raises(BoardError) as e:
        load_board("nope")
    assert str(e.value) == (
        "unknown board 'nope'; known boards: %s (or give a .toml file path)" % ", ".join(list_boards())
    )
    p = _write(tmp_path, SIM.replace("led_green = 13\n", "") + "colour = 1\n")
    with pytest.raises(BoardError) as e:
        load_board(p)
    assert e.value.problems == [
        "%s: pins.led_green: missing; add it (see boards/defs/sim.toml for an example)" % p,
        "%s: network.colour: unknown field; remove it or check its spelling (docs/boards.md lists the fields)" % p,
    ]


def test_load_board__invalid_name_mismatch(tmp_path):
    p = tmp_path / "other.toml"
    p.write_text(SIM, encoding="utf-8")
    with pytest.raises(BoardError) as e:
        load_board(p)
    assert str(e.value) == (
        '%s: name = "sim": the name must match the file name; rename the file to sim.toml '
        'or set name = "other"' % p
    )


def test_cli__list_show_check(tmp_path):
    r = CliRunner()
    res = r.invoke(app, ["list"])
    assert res.exit_code == 0 and "esp32c3-mq5" in res.output
    res = r.invoke(app, ["show", "sim", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.output) == load_board("sim").to_device_dict()
    res = r.invoke(app, ["check", str(DEFS_DIR / "sim.toml")])
    assert res.exit_code == 0 and "ok: boards/defs/sim.toml (sim)" in res.output
    p = _write(tmp_path, _set(SIM, "valve_drive", "35"))
    res = r.invoke(app, ["check", str(p)])
    assert res.exit_code == 1
    assert "error: %s: pins.valve_drive = 35: GPIO34–39 are input-only on ESP32; choose an output pin" % p in res.output


def test_sim_default_board__matches_sim_toml():
    from boards.sim.device.simworld import DEFAULT_BOARD

    assert DEFAULT_BOARD == load_board("sim").to_device_dict()


ROLES = ("gas_adc", "gas_comparator", "valve_drive", "valve_feedback", "buzzer", "led_red",
         "led_yellow", "led_green", "button")


@given(st.fixed_dictionaries({r: st.integers(min_value=0, max_value=48) for r in ROLES}),
       st.sampled_from(["esp32", "esp32c3", "esp32s3"]))
@settings(max_examples=150, deadline=None)
def test_parse_board__any_pins_load_or_explain(pins, chip):
    data = tomllib.loads(SIM)
    data["chip"] = chip
    data["offsets"]["bootloader"] = 0x1000 if chip == "esp32" else 0
    data["pins"] = dict(pins)
    try:
        b = parse_board(data, "p.toml")
    except BoardError as e:
        assert e.problems
        for line in e.problems:
            assert line.startswith("p.toml: pins.") or line.startswith("p.toml: pin_options.")
            assert "; " in line  # every error says how to fix it
        return
    assert b.pins.used() == pins
    assert len(set(pins.values())) == len(pins)
