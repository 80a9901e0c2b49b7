# Optional temperature/humidity sensor (AHT20 on I2C at 0x38) for the MQ sensor's T/RH
# compensation. Loaded only on boards that name th_sda/th_scl pins, so a board without it
# carries none of this in RAM.
from firmware.port import const

_ADDR = const(0x38)
_MEASURE = b"\xac\x33\x00"


class AHT20Error(OSError):
    pass


class AHT20:
    """Constructor: an I2C bus. `start()` triggers a measurement; `read()` (>= 80 ms later)
    returns (temp_c, rh_pct) or raises AHT20Error (busy, bad CRC, not there)."""

    def __init__(self, i2c):
        self.i2c = i2c
        self._buf = bytearray(7)

    def start(self):
        self.i2c.writeto(_ADDR, _MEASURE)

    def read(self):
        b = self._buf
        self.i2c.readfrom_into(_ADDR, b)
        if b[0] & 0x80:
            raise AHT20Error("aht20: busy")
        crc = 0xFF
        for i in range(6):
            crc ^= b[i]
            for _ in range(8):
                crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        if crc != b[6]:
            raise AHT20Error("aht20: CRC expected %02x, got %02x" % (crc, b[6]))
        h = (b[1] << 12) | (b[2] << 4) | (b[3] >> 4)
        t = ((b[3] & 0x0F) << 16) | (b[4] << 8) | b[5]
        return t * 200.0 / 1048576 - 50.0, h * 100.0 / 1048576
