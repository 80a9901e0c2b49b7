"""A pretend ESP32 serial bootloader on a pseudo-terminal, so real esptool can flash without a board.

It speaks esptool's SLIP protocol (the command set in esptool's `ESPLoader.ESP_CMDS`) well enough
for `detect_chip`, `read_mac`, `run_stub`, `change_baud`, flash-size detection, compressed
`write_flash` and its MD5 check: SYNC answered eight times, GET_SECURITY_INFO refused as the
ESP32 ROM refuses it, READ_REG from a small register table (chip magic, eFuse MAC words, the SPI
W0 register holding a JEDEC id), MEM_* for the stub upload followed by the stub's "OHAI", the
FLASH_DEFL_* commands inflated into a bytearray flash, SPI_FLASH_MD5 over that flash. Anything
else is acknowledged and logged in `commands`.

It is a test double for the wire protocol, not a chip: no timing, no reset lines (esptool warns
that a pty has no RTS/DTR and carries on).
"""

from __future__ import annotations

import hashlib
import os
import pty
import select
import struct
import threading
import tty
import zlib

END, ESC, ESC_END, ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD
ESP32_MAGIC_REG = 0x40001000
ESP32_MAGIC = 0x00F01D83
EFUSE_BASE = 0x3FF5A000
SPI_BASE = 0x3FF42000
UART_CLKDIV_REG = 0x3FF40014
JEDEC_IDS = {0x200000: 0x1540EF, 0x400000: 0x1640EF, 0x800000: 0x1740EF, 0x1000000: 0x1840EF}


def slip(frame: bytes) -> bytes:
    body = frame.replace(bytes([ESC]), bytes([ESC, ESC_ESC])).replace(bytes([END]), bytes([ESC, ESC_END]))
    return bytes([END]) + body + bytes([END])


class FakeEsp32:
    """Run with `with FakeEsp32(mac=...) as rom:` and flash `rom.port`; `rom.flash` is the result."""

    def __init__(self, mac: str = "24:0a:c4:12:34:56", flash_size: int = 0x400000) -> None:
        self.flash = bytearray(b"\xff" * flash_size)
        self.commands: list[int] = []
        self.stub = False
        m = bytes(int(x, 16) for x in mac.split(":"))
        self.regs = {
            ESP32_MAGIC_REG: ESP32_MAGIC,
            EFUSE_BASE + 4: int.from_bytes(m[2:6], "big"),      # eFuse word 1: MAC bytes 2..5
            EFUSE_BASE + 8: int.from_bytes(m[0:2], "big"),      # eFuse word 2: CRC (0) + bytes 0..1
            SPI_BASE + 0x80: JEDEC_IDS[flash_size],             # SPI W0 after RDID
            UART_CLKDIV_REG: 347,                               # 115200 * 347 ~ 40 MHz crystal
        }
        self._leader, self._follower = pty.openpty()
        tty.setraw(self._follower)
        self.port = os.ttyname(self._follower)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._inflate: zlib._Decompress | None = None
        self._write_at = 0

    def __enter__(self) -> FakeEsp32:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self._leader)
        os.close(self._follower)

    # --- transport ---

    def _serve(self) -> None:
        buf = bytearray()
        frame: bytearray | None = None
        escaped = False
        while not self._stop.is_set():
            ready, _, _ = select.select([self._leader], [], [], 0.05)
            if not ready:
                continue
            try:
                buf = bytearray(os.read(self._leader, 65536))
            except OSError:
                continue
            for b in buf:
                if frame is None:
                    if b == END:
                        frame = bytearray()
                    continue
                if escaped:
                    frame.append(END if b == ESC_END else ESC)
                    escaped = False
                elif b == ESC:
                    escaped = True
                elif b == END:
                    if frame:
                        self._handle(bytes(frame))
                        frame = None
                    # an empty frame is a delimiter pair: keep waiting in the same frame
                else:
                    frame.append(b)

    def _reply(self, op: int, value: int = 0, data: bytes = b"", error: int = 0) -> None:
        status = bytes([1 if error else 0, error]) + (b"" if self.stub else b"\0\0")
        body = data + status
        os.write(self._leader, slip(struct.pack("<BBHI", 1, op, len(body), value) + body))

    # --- commands ---

    def _handle(self, pkt: bytes) -> None:
        if len(pkt) < 8 or pkt[0] != 0:
            return
        _, op, size, _chk = struct.unpack_from("<BBHI", pkt)
        data = pkt[8 : 8 + size]
        self.commands.append(op)
        if op == 0x08:  # SYNC: the ROM answers several times
            for _ in range(8):
                self._reply(op, 0 if self.stub else 0x20120707)
        elif op == 0x14 and not self.stub:  # GET_SECURITY_INFO: not in the ESP32 ROM
            self._reply(op, error=0x05)
        elif op == 0x0A:  # READ_REG
            (addr,) = struct.unpack_from("<I", data)
            self._reply(op, self.regs.get(addr, 0))
        elif op == 0x06:  # MEM_END: the stub starts and greets
            self._reply(op)
            self.stub = True
            os.write(self._leader, slip(b"OHAI"))
        elif op == 0x10:  # FLASH_DEFL_BEGIN: erase size, blocks, block size, offset
            _erase, _blocks, _bs, offset = struct.unpack_from("<IIII", data)
            self._inflate = zlib.decompressobj()
            self._write_at = offset
            self._reply(op)
        elif op == 0x11:  # FLASH_DEFL_DATA: length, sequence, 0, 0, then the deflate stream
            length, _seq = struct.unpack_from("<II", data)
            assert self._inflate is not None
            chunk = self._inflate.decompress(data[16 : 16 + length])
            self.flash[self._write_at : self._write_at + len(chunk)] = chunk
            self._write_at += len(chunk)
            self._reply(op)
        elif op == 0x13:  # SPI_FLASH_MD5: address, size
            addr, n = struct.unpack_from("<II", data)
            digest = hashlib.md5(self.flash[addr : addr + n]).digest()  # noqa: S324 (esptool's check)
            self._reply(op, data=digest if self.stub else digest.hex().encode())
        else:  # SPI_ATTACH, SPI_SET_PARAMS, CHANGE_BAUDRATE, WRITE_REG, MEM_BEGIN/DATA, FLASH_DEFL_END...
            self._reply(op)
