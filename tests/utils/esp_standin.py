"""A stand-in MicroPython firmware file for tests: small, valid, made here, nothing downloaded.

It has the shape of the `.bin` MicroPython publishes per board: a second-stage bootloader image
(esptool's image format, with the chip id in its extended header), the partition table at flash
0x8000 and an app image at flash 0x10000, all relative to the chip's bootloader offset. esptool's
image-info accepts both images.
"""

from __future__ import annotations

import struct

from esptool.bin_image import (
    ESP32C3FirmwareImage,
    ESP32FirmwareImage,
    ESP32S3FirmwareImage,
    ELFSection,
)

IMAGE_CLASSES = {"esp32": ESP32FirmwareImage, "esp32c3": ESP32C3FirmwareImage,
                 "esp32s3": ESP32S3FirmwareImage}
BOOTLOADER_OFFSET = {"esp32": 0x1000, "esp32c3": 0x0, "esp32s3": 0x0}
PARTITION_TABLE = 0x8000
APP = 0x10000


def _dram(cls: type[ESP32FirmwareImage]) -> int:
    for start, _end, name in cls.ROM_LOADER.MEMORY_MAP:
        if name == "DRAM":
            return start
    raise LookupError(cls)


def esp_image(chip: str, payload: bytes, entry: int = 0) -> bytes:
    """One ESP image (header, one RAM segment, checksum, SHA-256) built with esptool's classes."""
    cls = IMAGE_CLASSES[chip]
    img = cls()
    img.entrypoint = entry or _dram(cls)
    img.segments = [ELFSection(b".dram0.data", _dram(cls), payload, flags=0)]
    out = img.save(None)
    assert out is not None
    return out


def partition_table(entries: list[tuple[str, int, int, int, int]]) -> bytes:
    """(label, type, subtype, offset, size) entries in ESP-IDF's binary format, 0xFF padded."""
    rows = b"".join(
        struct.pack("<2sBBII16sI", b"\xaa\x50", t, s, off, size, label.encode(), 0)
        for label, t, s, off, size in entries
    )
    return rows + b"\xff" * (0xC00 - len(rows))


# MicroPython's ESP32 partitions (ports/esp32/partitions-4MiB.csv, 1.26+): nvs, phy_init and
# a factory app ending at 0x200000, where the vfs begins.
MICROPYTHON_PARTITIONS = [
    ("nvs", 0x01, 0x02, 0x9000, 0x6000),
    ("phy_init", 0x01, 0x01, 0xF000, 0x1000),
    ("factory", 0x00, 0x00, 0x10000, 0x1F0000),
]


def standin_firmware(chip: str = "esp32", app_size: int = 4096,
                     partitions: list[tuple[str, int, int, int, int]] | None = None) -> bytes:
    """A complete stand-in firmware `.bin` for chip, written at its bootloader offset."""
    base = BOOTLOADER_OFFSET[chip]
    out = bytearray(esp_image(chip, b"gasguard stand-in bootloader".ljust(64, b"\0")))
    out += b"\xff" * (PARTITION_TABLE - base - len(out))
    out += partition_table(partitions or MICROPYTHON_PARTITIONS)
    out += b"\xff" * (APP - base - len(out))
    out += esp_image(chip, b"MicroPython stand-in app".ljust(app_size, b"\0"))
    return bytes(out)
