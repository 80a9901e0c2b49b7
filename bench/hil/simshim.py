"""Boot shim for the virtual rig only: prepended to the firmware's /boot.py on the virtual
board's image. The simulated `machine.ADC` has no open- or short-circuit control, so the shim
makes a level forced on the gas ADC pin (the control socket's `set_input`) read as the sensor's
output tied to GND (open sensor: the load resistor pulls it down) or to Vc (shorted sensor).
With no level forced the ADC reads the world as before. Real boards never get this file."""

SHIM = b"""# bench shim (virtual rig): a forced level on an ADC pin reads as a wire to GND or to Vc
try:
    import machine as _m
    _s = _m.sim
    def _rv(self, _o=_m.ADC.read_uv, _s=_s, _f=_m.ADC._FULL_UV):
        _s.maybe_poll()
        lv = _s._inputs.get(self._gpio)
        if lv is None:
            return _o(self)
        return _f[self._atten] if lv else 0
    _m.ADC.read_uv = _rv
    del _m, _s, _rv
except Exception as _e:
    print("bench shim not installed:", _e)
"""


def boot_py(original: bytes) -> bytes:
    return SHIM + b"\n" + original
