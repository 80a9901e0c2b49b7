"""Board definitions: one TOML file per board in `boards/defs/`, loaded and validated here.

A board is data (chip variant, flash layout, pins by role, sensor, valve, power); the firmware
reads the same facts on the device from `/board.json` (`Board.to_device_dict()`), because
MicroPython has json but no TOML.

Validation runs in three passes, like ESPHome's: (1) fields — types, ranges, enums (pydantic);
(2) each part's combinations — a pin against the chip's tables in `boards.chips`, the valve's
kind against its options, the flash layout against itself; (3) the whole board — one pin used
twice, the gas sensor on ADC2 while Wi-Fi is on. Every problem names the file, the field, the
value, the rule and the fix, for example::

    boards/defs/x.toml: pins.valve_drive = 35: GPIO34–39 are input-only on ESP32; choose an output pin

A pin that is legal but risky (a strapping pin) is a warning, kept on `Board.warnings`; list the
pin in `[pin_options] ignore_strapping_warning` to silence it (listing a pin that is not a
strapping pin in use is an error).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from boards.chips import ChipFacts, chip_facts

DEFS_DIR = Path(__file__).resolve().parent / "defs"
REPO = Path(__file__).resolve().parents[1]

GASES = ("methane", "lpg", "propane", "butane")
# Which gases each MQ sensor is specified for (Hanwei/Winsen datasheets' sensitivity curves).
SENSOR_GASES: dict[str, tuple[str, ...]] = {
    "mq2": ("methane", "lpg", "propane", "butane"),
    "mq4": ("methane",),
    "mq5": ("methane", "lpg", "propane", "butane"),
    "mq6": ("lpg", "propane", "butane"),
}
FLASH_SIZES = (0x200000, 0x400000, 0x800000, 0x1000000)
OUTPUT_ROLES = ("valve_drive", "buzzer", "led_red", "led_yellow", "led_green")
INPUT_ROLES = ("gas_comparator", "valve_feedback", "button")
PULLUP_ROLES = ("valve_feedback", "button")  # switches to GND: they need a pull-up
PIN_ROLES = (
    "gas_adc", "gas_comparator", "valve_drive", "valve_feedback", "buzzer",
    "led_red", "led_yellow", "led_green", "button", "th_sda", "th_scl",
)
HEX_FIELDS = ("flash_size", "offsets.", "vfs.size")


class BoardError(ValueError):
    """A board file that cannot be used; `problems` holds one line per fault."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Pin = Field(ge=0, le=48)


class Offsets(_Part):
    bootloader: int = Field(ge=0)
    partition_table: int = Field(ge=0)
    app: int = Field(ge=0)
    vfs: int = Field(ge=0)


class Vfs(_Part):
    size: int = Field(gt=0)
    block_size: Literal[4096] = 4096
    block_count: int | None = Field(default=None, gt=0)


class Pins(_Part):
    gas_adc: int = Pin
    gas_comparator: int | None = Pin
    valve_drive: int = Pin
    valve_feedback: int | None = Pin
    buzzer: int = Pin
    led_red: int = Pin
    led_yellow: int = Pin
    led_green: int = Pin
    button: int = Pin
    th_sda: int | None = Pin
    th_scl: int | None = Pin

    def used(self) -> dict[str, int]:
        """Role -> GPIO for every pin the board wires."""
        return {r: getattr(self, r) for r in PIN_ROLES if getattr(self, r) is not None}


class PinOptions(_Part):
    ignore_strapping_warning: tuple[int, ...] = ()


class Sensor(_Part):
    kind: Literal["mq2", "mq4", "mq5", "mq6"]
    gas: Literal["methane", "lpg", "propane", "butane"]
    rl_ohm: float = Field(ge=1000, le=100000)
    r0_ohm: float = Field(ge=1000, le=1000000)
    vc_v: float = Field(ge=3.0, le=5.5)
    adc_divider: float = Field(gt=0, le=1)
    warmup_s: int = Field(default=180, ge=0, le=172800)


class Valve(_Part):
    kind: Literal["pulse", "hold"]
    normally: Literal["open", "closed"]
    close_on_power_loss: bool
    pulse_ms: int | None = Field(default=None, ge=20, le=5000)
    closing_ms: int = Field(ge=50, le=30000)
    feedback_closed_level: Literal[0, 1] = 0


class Power(_Part):
    source: Literal["mains", "battery"]
    battery_mv: int | None = Field(default=None, ge=2000, le=13000)


class Network(_Part):
    wifi: bool = True


class Board(_Part):
    """One validated board. `warnings` and `path` are not part of the device's view."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    description: str = ""
    chip: Literal["esp32", "esp32c3", "esp32s3"]
    virtual: bool = False
    flash_size: int
    offsets: Offsets
    vfs: Vfs
    pins: Pins
    pin_options: PinOptions = PinOptions()
    sensor: Sensor
    valve: Valve
    power: Power
    network: Network = Network()
    warnings: tuple[str, ...] = ()
    path: str = ""

    @property
    def vfs_size(self) -> int:
        return self.vfs.size

    @property
    def block_size(self) -> int:
        return self.vfs.block_size

    @property
    def block_count(self) -> int:
        return self.vfs.size // self.vfs.block_size

    def to_device_dict(self) -> dict[str, Any]:
        """The JSON-able dict the firmware reads from `/board.json` on the device."""
        return {
            "name": self.name,
            "chip": self.chip,
            "virtual": self.virtual,
            "flash_size": self.flash_size,
            "vfs": {
                "offset": self.offsets.vfs,
                "size": self.vfs.size,
                "block_size": self.vfs.block_size,
                "block_count": self.block_count,
            },
            "pins": self.pins.used(),
            "sensor": self.sensor.model_dump(),
            "valve": self.valve.model_dump(),
            "power": self.power.model_dump(),
            "network": self.network.model_dump(),
        }


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _fmt(field: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str):
            return '"%s"' % value
        return repr(value)
    if any(field == h or (h.endswith(".") and field.startswith(h)) for h in HEX_FIELDS):
        return "0x%X" % value
    return str(value)


def _problem(where: str, field: str, value: Any, rule: str, fix: str) -> str:
    return "%s: %s = %s: %s; %s" % (where, field, _fmt(field, value), rule, fix)


def _dig(data: dict[str, Any], loc: tuple[Any, ...]) -> Any:
    cur: Any = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


def _field_errors(where: str, data: dict[str, Any], err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not isinstance(p, int) or e["type"] != "union_tag_invalid")
        field = ".".join(str(p) for p in loc)
        if e["type"] == "missing":
            out.append("%s: %s: missing; add it (see boards/defs/sim.toml for an example)" % (where, field))
        elif e["type"] == "extra_forbidden":
            out.append(
                "%s: %s: unknown field; remove it or check its spelling (docs/boards.md lists the fields)"
                % (where, field)
            )
        else:
            out.append(_problem(where, field, _dig(data, e["loc"]), e["msg"], "fix the value"))
    return out


def _check_pins(where: str, b: Board, chip: ChipFacts) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    warnings: list[str] = []
    cname = chip.name.upper().replace("ESP32C3", "ESP32-C3").replace("ESP32S3", "ESP32-S3")
    used = b.pins.used()
    for role, gpio in used.items():
        field = "pins." + role
        if gpio not in chip.gpios:
            errors.append(_problem(where, field, gpio, "%s has no GPIO%d" % (cname, gpio),
                                   "choose a GPIO the chip has"))
            continue
        if gpio in chip.flash_pins:
            errors.append(_problem(
                where, field, gpio,
                "GPIO%d-%d are wired to the SPI flash on %s"
                % (min(chip.flash_pins), max(chip.flash_pins), cname),
                "choose another pin"))
            continue
        if gpio in chip.console_pins:
            errors.append(_problem(where, field, gpio,
                                   "GPIO%d is %s on %s" % (gpio, chip.console_pins[gpio], cname),
                                   "choose another pin; mpremote needs the console"))
            continue
        if gpio in chip.input_only and role in OUTPUT_ROLES + ("th_sda", "th_scl"):
            errors.append(_problem(
                where, field, gpio,
                "GPIO%d–%d are input-only on %s" % (min(chip.input_only), max(chip.input_only), cname),
                "choose an output pin"))
        if role in PULLUP_ROLES and gpio in chip.no_pull:
            warnings.append(_problem(
                where, field, gpio,
                "GPIO%d has no internal pull-up on %s" % (gpio, cname),
                "fit an external pull-up resistor (10 kΩ to 3.3 V)"))
        if gpio in chip.strapping and gpio not in b.pin_options.ignore_strapping_warning:
            warnings.append(_problem(
                where, field, gpio,
                "strapping pin: %s" % chip.strapping[gpio],
                "make sure the circuit cannot hold it at the wrong level during reset, then list "
                "it in [pin_options] ignore_strapping_warning"))
    adc = b.pins.gas_adc
    if adc in chip.adc2 and b.network.wifi:
        errors.append(_problem(
            where, "pins.gas_adc", adc,
            "GPIO%d is ADC2 (channel %d) on %s, and ADC2 cannot be read while Wi-Fi is on"
            % (adc, chip.adc2[adc], cname),
            "choose an ADC1 pin (%s)" % ", ".join(str(p) for p in sorted(chip.adc1))))
    elif adc not in chip.adc1 and adc not in chip.adc2 and adc in chip.gpios:
        errors.append(_problem(where, "pins.gas_adc", adc,
                               "GPIO%d has no ADC on %s" % (adc, cname),
                               "choose an ADC1 pin (%s)" % ", ".join(str(p) for p in sorted(chip.adc1))))
    by_pin: dict[int, list[str]] = {}
    for role, gpio in used.items():
        by_pin.setdefault(gpio, []).append(role)
    for gpio, roles in sorted(by_pin.items()):
        if len(roles) > 1:
            errors.append(_problem(where, "pins." + roles[1], gpio,
                                   "GPIO%d is already pins.%s" % (gpio, roles[0]),
                                   "give each role its own pin"))
    if (b.pins.th_sda is None) != (b.pins.th_scl is None):
        errors.append("%s: pins.th_sda/th_scl: only one is set; set both (I2C needs SDA and SCL) or neither"
                      % where)
    for gpio in b.pin_options.ignore_strapping_warning:
        if gpio not in chip.strapping or gpio not in by_pin:
            errors.append(_problem(
                where, "pin_options.ignore_strapping_warning", gpio,
                "GPIO%d is not a strapping pin this board uses" % gpio,
                "remove it from the list"))
    return errors, warnings


def _check_layout(where: str, b: Board, chip: ChipFacts) -> list[str]:
    errors = []
    if b.flash_size not in FLASH_SIZES:
        errors.append(_problem(where, "flash_size", b.flash_size,
                               "not a flash size ESP32 modules ship with",
                               "use one of " + ", ".join("0x%X" % s for s in FLASH_SIZES)))
        return errors
    o = b.offsets
    if o.bootloader != chip.bootloader_offset:
        errors.append(_problem(where, "offsets.bootloader", o.bootloader,
                               "the %s ROM loads the bootloader from 0x%X" % (chip.name, chip.bootloader_offset),
                               "set it to 0x%X" % chip.bootloader_offset))
    for field in ("partition_table", "app", "vfs"):
        v = getattr(o, field)
        if v % 0x1000:
            errors.append(_problem(where, "offsets." + field, v, "not on a 4 KiB flash sector boundary",
                                   "round it to a multiple of 0x1000"))
    if not (o.bootloader < o.partition_table < o.app < o.vfs):
        errors.append(_problem(where, "offsets", "%X/%X/%X/%X" % (o.bootloader, o.partition_table, o.app, o.vfs),
                               "regions must come in the order bootloader < partition_table < app < vfs",
                               "fix the offsets"))
    end = o.vfs + b.vfs.size
    if end != b.flash_size:
        errors.append(_problem(
            where, "vfs.size", b.vfs.size,
            "MicroPython makes the vfs partition run from offsets.vfs (0x%X) to the end of flash (0x%X)"
            % (o.vfs, b.flash_size),
            "set it to 0x%X" % max(0, b.flash_size - o.vfs)))
    if b.vfs.size % b.vfs.block_size:
        errors.append(_problem(where, "vfs.size", b.vfs.size, "not a whole number of %d-byte blocks"
                               % b.vfs.block_size, "round it to a multiple of the block size"))
    elif b.vfs.block_count is not None and b.vfs.block_count != b.vfs.size // b.vfs.block_size:
        errors.append(_problem(where, "vfs.block_count", b.vfs.block_count,
                               "size / block_size is %d" % (b.vfs.size // b.vfs.block_size),
                               "remove block_count or set it to %d" % (b.vfs.size // b.vfs.block_size)))
    return errors


def _check_parts(where: str, b: Board) -> list[str]:
    errors = []
    s, v = b.sensor, b.valve
    if s.gas not in SENSOR_GASES[s.kind]:
        errors.append(_problem(where, "sensor.gas", s.gas,
                               "%s is not specified for %s" % (s.kind.upper(), s.gas),
                               "use one of %s, or another sensor kind" % ", ".join(SENSOR_GASES[s.kind])))
    peak = s.vc_v * s.adc_divider
    if peak > 3.6:
        errors.append(_problem(where, "sensor.adc_divider", s.adc_divider,
                               "the sensor output can reach %.2f V at the pin; ESP32 pins take at most 3.6 V" % peak,
                               "use a divider of at most %.2f" % (3.3 / s.vc_v)))
    if v.kind == "pulse" and v.pulse_ms is None:
        errors.append("%s: valve.pulse_ms: missing; a pulse-latched valve needs its release pulse length "
                      "(for example 200)" % where)
    if v.kind == "hold" and v.pulse_ms is not None:
        errors.append(_problem(where, "valve.pulse_ms", v.pulse_ms, "a hold valve takes no pulse",
                               "remove pulse_ms or set valve.kind = \"pulse\""))
    if v.kind == "hold" and v.normally == "open" and v.close_on_power_loss:
        errors.append(_problem(where, "valve.close_on_power_loss", True,
                               "a normally-open hold valve opens when power fails",
                               "use valve.normally = \"closed\" or a pulse valve with stored energy"))
    if v.kind == "hold" and v.normally == "closed" and not v.close_on_power_loss:
        errors.append(_problem(where, "valve.close_on_power_loss", False,
                               "a normally-closed hold valve always closes when power fails",
                               "set it to true"))
    if b.power.source == "battery" and b.power.battery_mv is None:
        errors.append("%s: power.battery_mv: missing; a battery board needs its nominal voltage in mV" % where)
    return errors


def parse_board(data: dict[str, Any], where: str) -> Board:
    """Validate already-parsed TOML data; `where` names the file in messages."""
    data = dict(data)
    for k in ("warnings", "path"):
        if k in data:
            raise BoardError(["%s: %s: unknown field; remove it" % (where, k)])
    try:
        board = Board.model_validate(data)
    except ValidationError as e:
        raise BoardError(_field_errors(where, data, e)) from None
    chip = chip_facts(board.chip)
    errors = _check_layout(where, board, chip)
    errors += _check_parts(where, board)
    pin_errors, warnings = _check_pins(where, board, chip)
    errors += pin_errors
    if errors:
        raise BoardError(errors)
    return board.model_copy(update={"warnings": tuple(warnings), "path": where})


def load_board(name_or_path: str | Path) -> Board:
    """A board by name (`boards/defs/<name>.toml`) or by file path, validated."""
    p = Path(name_or_path)
    if p.suffix != ".toml" and not p.exists():
        p = DEFS_DIR / ("%s.toml" % name_or_path)
        if not p.exists():
            raise BoardError(["unknown board %r; known boards: %s (or give a .toml file path)"
                              % (str(name_or_path), ", ".join(list_boards()))])
    where = _shown_path(p)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BoardError(["%s: no such file" % where]) from None
    except tomllib.TOMLDecodeError as e:
        raise BoardError(["%s: not valid TOML: %s" % (where, e)]) from None
    board = parse_board(data, where)
    if board.name != p.stem:
        raise BoardError([_problem(where, "name", board.name,
                                   "the name must match the file name",
                                   'rename the file to %s.toml or set name = "%s"' % (board.name, p.stem))])
    return board


def list_boards() -> list[str]:
    """Names of the boards shipped in boards/defs."""
    return sorted(p.stem for p in DEFS_DIR.glob("*.toml"))
