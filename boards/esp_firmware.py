"""Checks on a MicroPython firmware file before it goes into a factory image or onto a board.

What this module is: reading the ESP image header (and the partition table behind it) of the
`.bin` that MicroPython publishes per board (for example ESP32_GENERIC-v1.29.bin), so that a
wrong file is refused with a message a maker can act on, before anything is merged or flashed.
What it is not: a full image verifier; esptool's own loader (`LoadFirmwareImage`) parses the
segments and is used for that.

The published `.bin` is written at the chip's bootloader offset (0x1000 on ESP32, 0x0 on C3/S3)
and holds the second-stage bootloader, the partition table (at flash 0x8000) and the app (at
0x10000). Its first bytes are the bootloader's image header: magic 0xE9, then, in the extended
header at byte 12, the chip id (little-endian uint16) the image was built for.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from esptool.bin_image import LoadFirmwareImage
from esptool.targets import CHIP_DEFS

ESP_IMAGE_MAGIC = 0xE9
PARTITION_MAGIC = b"\xaa\x50"
PARTITION_ENTRY = struct.Struct("<2sBBII16sI")  # magic, type, subtype, offset, size, label, flags
APP_PARTITION_TYPE = 0x00
DATA_PARTITION_TYPE = 0x01

# Chip ids as ESP images record them, from esptool's target classes (IMAGE_CHIP_ID).
CHIP_BY_ID: dict[int, str] = {
    cls.IMAGE_CHIP_ID: name
    for name, cls in CHIP_DEFS.items()
    if getattr(cls, "IMAGE_CHIP_ID", None) is not None
}


class FirmwareError(ValueError):
    """The firmware file cannot be used; the message names the file and what to do."""


@dataclass(frozen=True)
class Partition:
    label: str
    type: int
    subtype: int
    offset: int
    size: int


@dataclass(frozen=True)
class FirmwareInfo:
    """What the header and partition table of a MicroPython firmware file say."""

    path: str
    size: int
    chip: str
    chip_id: int
    segments: int
    partitions: tuple[Partition, ...]

    @property
    def app(self) -> Partition | None:
        """The first app partition (MicroPython's `factory`)."""
        return next((p for p in self.partitions if p.type == APP_PARTITION_TYPE), None)


def chip_name(chip: str) -> str:
    """Espressif's spelling of a chip variant: esp32c3 -> ESP32-C3."""
    cls = CHIP_DEFS.get(chip)
    return cls.CHIP_NAME if cls is not None else chip


def _partitions(table: bytes) -> tuple[Partition, ...]:
    out = []
    for i in range(0, len(table) - PARTITION_ENTRY.size + 1, PARTITION_ENTRY.size):
        magic, ptype, subtype, offset, size, label, _flags = PARTITION_ENTRY.unpack_from(table, i)
        if magic != PARTITION_MAGIC:
            break  # 0xEBEB marks the MD5 entry, 0xFFFF the end
        out.append(Partition(label.rstrip(b"\0").decode("ascii", "replace"), ptype, subtype, offset, size))
    return tuple(out)


def read_firmware(path: str | Path, *, chip: str, bootloader_offset: int,
                  partition_table_offset: int, app_offset: int, vfs_offset: int) -> FirmwareInfo:
    """Read and check a MicroPython firmware file for a board of the given chip and layout.

    Raises FirmwareError when the file is missing, is not an ESP image, was built for another
    chip, is the app alone instead of the full image, or would overlap the vfs partition.
    """
    p = Path(path)
    if not p.is_file():
        raise FirmwareError(
            f"{p}: no such file; download the MicroPython firmware for your board from "
            "https://micropython.org/download/ (for example ESP32_GENERIC-v1.29.0.bin)"
        )
    data = p.read_bytes()
    if len(data) < 24 or data[0] != ESP_IMAGE_MAGIC:
        first = f"0x{data[0]:02X}" if data else "nothing (the file is empty)"
        raise FirmwareError(
            f"{p}: not an ESP firmware image: the first byte is {first}, expected 0xE9; "
            "use the .bin MicroPython publishes for the board, not a .elf, .uf2 or .hex"
        )
    chip_id = int.from_bytes(data[12:14], "little")
    built_for = CHIP_BY_ID.get(chip_id)
    if built_for != chip:
        built = chip_name(built_for) if built_for else f"an unknown chip (id {chip_id})"
        raise FirmwareError(
            f"{p}: built for {built}, but the board is an {chip_name(chip)}; use the MicroPython "
            f"firmware for {chip_name(chip)}"
        )
    try:
        image = LoadFirmwareImage(chip, data)
    except Exception as e:  # esptool raises FatalError, struct.error, RuntimeError...
        raise FirmwareError(f"{p}: esptool cannot read the image header: {e}") from None

    table_at = partition_table_offset - bootloader_offset
    partitions = _partitions(data[table_at : table_at + 0xC00]) if len(data) > table_at else ()
    if not partitions:
        raise FirmwareError(
            f"{p}: no partition table at flash 0x{partition_table_offset:X}: this looks like the "
            f"app alone (written at 0x{app_offset:X}); use the full firmware .bin MicroPython "
            f"publishes, which is written at 0x{bootloader_offset:X} and holds bootloader, "
            "partition table and app"
        )
    end = bootloader_offset + len(data)
    if end > vfs_offset:
        raise FirmwareError(
            f"{p}: {len(data)} bytes written at 0x{bootloader_offset:X} end at 0x{end:X}, past "
            f"the vfs partition at 0x{vfs_offset:X}; the firmware and the app filesystem would "
            "overlap. Use a smaller firmware build or a board whose vfs starts later"
        )
    for part in partitions:
        if part.offset < vfs_offset < part.offset + part.size:
            raise FirmwareError(
                f"{p}: its partition table puts {part.label!r} at 0x{part.offset:X}..0x"
                f"{part.offset + part.size:X}, across the vfs at 0x{vfs_offset:X}; the board "
                "file's offsets.vfs does not match this firmware"
            )
    return FirmwareInfo(str(p), len(data), chip, chip_id, len(image.segments), partitions)
