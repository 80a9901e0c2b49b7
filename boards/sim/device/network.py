# `network` stand-in for the virtual board: a WLAN that connects at once and follows the sim's
# network state (`machine.sim.net_cut()` / `net_restore()`, or the launcher's `net cut`).
# Packet delay and loss are done by the launcher's UDP proxy on the host, not here.
import machine

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202


class WLAN:
    def __init__(self, interface_id=STA_IF):
        self._if = interface_id
        self._active = False
        self._ssid = None

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        self._active = bool(is_active)

    def connect(self, ssid=None, key=None, bssid=None):
        if not self._active:
            raise OSError("Wifi Not Started")
        self._ssid = ssid

    def disconnect(self):
        self._ssid = None

    def isconnected(self):
        return self._active and self._ssid is not None and machine.sim.net_up

    def status(self, param=None):
        if param == "rssi":
            return -55 if self.isconnected() else 0
        if self.isconnected():
            return STAT_GOT_IP
        return STAT_CONNECTING if self._ssid else STAT_IDLE

    def ifconfig(self, cfg=None):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")

    def ipconfig(self, name):
        return ("127.0.0.1", "255.0.0.0") if name == "addr4" else None

    def config(self, name=None, **kw):
        if name == "mac":
            return b"\x24\x0a" + bytes(machine.sim.uid[-4:])
        if name == "essid":
            return self._ssid or ""
        return None

    def scan(self):
        return [(b"gasguard-sim", b"\x24\x0a\xc4\x00\x00\x01", 6, -55, 3, False)]


def hostname(name=None):
    return "gasguard-sim"
