"""Per-variant chip facts that board files are checked against.

Each table says where it came from. The numbers are the GPIO numbers MicroPython's
`machine.Pin(n)` takes on that chip.

Sources:
- ESP32: Espressif "ESP32 Series Datasheet" v4.x, §2.2 pin description and §4.1.4 strapping pins;
  ESP-IDF `components/soc/esp32/include/soc/adc_channel.h` (ADC1/ADC2 GPIO↔channel);
  ESP-IDF programming guide, "GPIO & RTC GPIO" (GPIO34–39 input-only, no pull resistors;
  GPIO6–11 wired to the SPI flash).
- ESP32-C3: "ESP32-C3 Series Datasheet" v1.x, §2 pins and §3.3 strapping pins; ESP-IDF
  `components/soc/esp32c3/include/soc/adc_channel.h` (ADC1 on GPIO0–4, ADC2 on GPIO5);
  GPIO12–17 go to the in-package/SPI flash, GPIO18/19 are USB-Serial-JTAG D-/D+.
- ESP32-S3: "ESP32-S3 Series Datasheet" v1.x, §2 pins and §3.3 strapping pins; ESP-IDF
  `components/soc/esp32s3/include/soc/adc_channel.h` (ADC1 on GPIO1–10, ADC2 on GPIO11–20);
  GPIO26–32 go to the SPI flash (33–37 as well on octal-flash/PSRAM modules).
- Wi-Fi and ADC2: on ESP32 the Wi-Fi driver owns ADC2, so ADC2 reads fail while Wi-Fi is on
  (ESP-IDF ADC guide, "ADC2 channels cannot be used when Wi-Fi is in use"). Every gasguard board
  runs Wi-Fi, so a gas sensor on ADC2 is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChipFacts:
    """What the board validator needs to know about one chip variant."""

    name: str
    gpios: frozenset[int]
    flash_pins: frozenset[int]          # wired to SPI flash: never usable
    console_pins: dict[int, str]        # the REPL's UART/USB: refused, mpremote needs them
    input_only: frozenset[int]
    no_pull: frozenset[int]             # inputs without internal pull-up/down resistors
    adc1: dict[int, int]                # GPIO -> ADC1 channel
    adc2: dict[int, int]                # GPIO -> ADC2 channel
    strapping: dict[int, str]           # GPIO -> why it is risky
    bootloader_offset: int
    source: str = field(default="")


def _r(a: int, b: int) -> frozenset[int]:
    return frozenset(range(a, b + 1))


ESP32 = ChipFacts(
    name="esp32",
    gpios=_r(0, 19) | _r(21, 23) | _r(25, 27) | _r(32, 39),
    flash_pins=_r(6, 11),
    console_pins={1: "UART0 TX (the REPL)", 3: "UART0 RX (the REPL)"},
    input_only=_r(34, 39),
    no_pull=_r(34, 39),
    adc1={36: 0, 37: 1, 38: 2, 39: 3, 32: 4, 33: 5, 34: 6, 35: 7},
    adc2={4: 0, 0: 1, 2: 2, 15: 3, 13: 4, 12: 5, 14: 6, 27: 7, 25: 8, 26: 9},
    strapping={
        0: "GPIO0 low at reset enters the serial bootloader",
        2: "GPIO2 must be low or floating to enter the serial bootloader",
        5: "GPIO5 sets SDIO slave timing at reset",
        12: "GPIO12 (MTDI) selects the flash voltage at reset; high gives 1.8 V and the board will not boot",
        15: "GPIO15 (MTDO) silences the boot log and sets SDIO timing at reset",
    },
    bootloader_offset=0x1000,
    source="ESP32 Series Datasheet §2.2, §4.1.4; ESP-IDF soc/esp32/include/soc/adc_channel.h",
)

ESP32C3 = ChipFacts(
    name="esp32c3",
    gpios=_r(0, 21),
    flash_pins=_r(12, 17),
    console_pins={18: "USB-Serial-JTAG D- (the REPL)", 19: "USB-Serial-JTAG D+ (the REPL)"},
    input_only=frozenset(),
    no_pull=frozenset(),
    adc1={0: 0, 1: 1, 2: 2, 3: 3, 4: 4},
    adc2={5: 0},
    strapping={
        2: "GPIO2 must be high at reset for a normal boot",
        8: "GPIO8 must be high at reset to enter the serial bootloader",
        9: "GPIO9 low at reset enters the serial bootloader (the BOOT button)",
    },
    bootloader_offset=0x0,
    source="ESP32-C3 Series Datasheet §2, §3.3; ESP-IDF soc/esp32c3/include/soc/adc_channel.h",
)

ESP32S3 = ChipFacts(
    name="esp32s3",
    gpios=_r(0, 21) | _r(26, 48),
    flash_pins=_r(26, 32),
    console_pins={19: "USB D- (the REPL)", 20: "USB D+ (the REPL)"},
    input_only=frozenset(),
    no_pull=frozenset(),
    adc1={n: n - 1 for n in range(1, 11)},
    adc2={n: n - 11 for n in range(11, 21)},
    strapping={
        0: "GPIO0 low at reset enters the serial bootloader",
        3: "GPIO3 selects the JTAG source at reset",
        45: "GPIO45 selects the flash voltage at reset",
        46: "GPIO46 must be low to enter the serial bootloader",
    },
    bootloader_offset=0x0,
    source="ESP32-S3 Series Datasheet §2, §3.3; ESP-IDF soc/esp32s3/include/soc/adc_channel.h",
)

CHIPS: dict[str, ChipFacts] = {c.name: c for c in (ESP32, ESP32C3, ESP32S3)}


def chip_facts(variant: str) -> ChipFacts:
    """The facts for `variant`; an unknown variant is a KeyError naming the known ones."""
    try:
        return CHIPS[variant]
    except KeyError:
        raise KeyError(
            "unknown chip %r; known: %s" % (variant, ", ".join(sorted(CHIPS)))
        ) from None
