# Configuration: /board.json (the board, written into the factory image), /config.json (the
# site, written at provisioning with mpremote) and /cal.json (the calibration, written by the
# calibration routine or by mpremote). docs/firmware.md gives the exact formats.
#
# Rule: a bad file or a bad value never leaves the device without detection. Each value is
# checked on its own; a bad one is replaced by its safe default, the problem is recorded in
# `Settings.problems` ("config.json: alarm.low: expected 1..25, got 40"), and the app raises
# fault 128 (configuration fell back to defaults) with an event. A missing /config.json is an
# unprovisioned device: defaults, no fault, no reporting until a fleet is configured.
from firmware import store

FAULT_CONFIG = 128


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Settings:
    """Every tunable, with its default. Times in the units their names say."""

    def __init__(self):
        # identity and site
        self.device_id = ""
        self.model = "unknown"
        self.site = ""
        self.fleet_host = ""
        self.fleet_port = 5683
        self.heartbeat_s = 300
        self.net_retry_s = 300  # reporting paused for lack of memory starts again after this
        self.bind_port = 5683
        self.coap = {}
        self.oscore = None
        # detection
        self.gas = "methane"
        self.low = 25.0  # %LEL (GB 15322.1: 25 or lower)
        self.high = 0.0  # %LEL, 0 = single-level
        self.hyst = 5.0  # %LEL
        self.confirm_s = 15.0  # GB 15322.2 new edition: >= 15 s
        self.dip_s = 2.0
        self.clear_s = 10.0
        self.sample_ms = 500
        self.stuck_s = 600
        self.range_ratio = 3.0
        self.life_h = 43800  # ~5 years powered (GB 15322.2-2019 s3.3.1.3; the model says)
        self.warmup_s = 180
        self.comparator = True  # the sensor module's comparator closes the valve at once
        self.comparator_level = 0  # MQ modules pull DO low above their threshold
        self.compensation = True
        # valve
        self.valve_kind = "pulse"
        self.valve_normally = "open"
        self.close_on_power_loss = False
        self.pulse_ms = 200
        self.closing_ms = 1500
        self.feedback_closed_level = 0
        self.selftest_closes_valve = False
        # sensor electrics (board)
        self.rl_ohm = 20000.0
        self.r0_ohm = 20000.0
        self.vc_v = 5.0
        self.adc_divider = 0.6
        self.adc_vref_v = 3.55  # ESP32 ADC full scale at 11 dB attenuation
        self.sensor_kind = "mq4"
        self.curve = {}
        self.wifi_ssid = ""
        self.wifi_key = ""
        # calibration
        self.rs_air = 1.0  # Rs/RL in clean air
        self.span_lel = 0.0
        self.span_ratio = 0.0
        self.cal = {}
        # reporting and robustness
        self.outbox = 64
        self.wdt_ms = 10000
        self.life_save_min = 10
        self.indicate = {}
        self.pins = {}
        self.board_name = "unknown"
        self.power = "mains"
        # outcome
        self.problems = []
        self.provisioned = False


class _Reader:
    def __init__(self, settings, fname):
        self.s = settings
        self.fname = fname

    def bad(self, path, expected, got):
        self.s.problems.append("%s: %s: expected %s, got %r" % (self.fname, path, expected, got))

    def num(self, d, key, path, lo, hi, attr, integer=False):
        if not isinstance(d, dict) or key not in d or d[key] is None:
            return
        v = d[key]
        if not _is_num(v) or v < lo or v > hi or (integer and int(v) != v):
            self.bad(path, "%s %s..%s" % ("an integer" if integer else "a number", lo, hi), v)
            return
        setattr(self.s, attr, int(v) if integer else v)

    def text(self, d, key, path, attr, choices=None, maxlen=64):
        if not isinstance(d, dict) or key not in d or d[key] is None:
            return
        v = d[key]
        if not isinstance(v, str) or len(v) > maxlen or (choices and v not in choices):
            self.bad(path, "one of %s" % ", ".join(choices) if choices else "text", v)
            return
        setattr(self.s, attr, v)

    def flag(self, d, key, path, attr):
        if not isinstance(d, dict) or key not in d or d[key] is None:
            return
        v = d[key]
        if not isinstance(v, bool):
            self.bad(path, "true or false", v)
            return
        setattr(self.s, attr, v)

    def section(self, d, key):
        v = d.get(key) if isinstance(d, dict) else None
        if v is None:
            return {}
        if not isinstance(v, dict):
            self.bad(key, "an object", v)
            return {}
        return v


def _valid_device_id(v):
    if not isinstance(v, str) or not 1 <= len(v) <= 32:
        return False
    for i in range(len(v)):
        c = v[i]
        if not ("a" <= c <= "z" or "0" <= c <= "9" or (c == "-" and i > 0)):
            return False
    return True


def _load(path, settings):
    try:
        obj = store.read_json(path)
    except store.StoreError as e:
        settings.problems.append(str(e))
        return None
    if obj is not None and not isinstance(obj, dict):
        settings.problems.append("%s: expected a JSON object, got %s" % (path, type(obj).__name__))
        return None
    return obj


GASES = ("methane", "lpg", "propane", "butane")


def read_board(s, b, fname="board.json"):
    r = _Reader(s, fname)
    r.text(b, "name", "name", "board_name")
    pins = r.section(b, "pins")
    good = {}
    for role, pin in pins.items():
        if isinstance(pin, int) and not isinstance(pin, bool) and 0 <= pin <= 48:
            good[role] = pin
        elif pin is not None:
            r.bad("pins." + role, "a GPIO number 0..48", pin)
    s.pins = good
    sen = r.section(b, "sensor")
    r.text(sen, "gas", "sensor.gas", "gas", GASES)
    r.text(sen, "kind", "sensor.kind", "sensor_kind", ("mq2", "mq4", "mq5", "mq6"))
    r.num(sen, "rl_ohm", "sensor.rl_ohm", 1, 1e7, "rl_ohm")
    r.num(sen, "r0_ohm", "sensor.r0_ohm", 1, 1e7, "r0_ohm")
    r.num(sen, "vc_v", "sensor.vc_v", 0.5, 24, "vc_v")
    r.num(sen, "adc_divider", "sensor.adc_divider", 0.01, 1, "adc_divider")
    r.num(sen, "adc_vref_v", "sensor.adc_vref_v", 0.5, 5, "adc_vref_v")
    r.num(sen, "warmup_s", "sensor.warmup_s", 0, 172800, "warmup_s", integer=True)
    r.num(sen, "life_h", "sensor.life_h", 1, 200000, "life_h", integer=True)
    curve = r.section(sen, "curve")
    s.curve = {}
    for k in ("lel_vol", "a", "b", "air"):
        if k in curve:
            if _is_num(curve[k]) and curve[k] != 0:
                s.curve[k] = curve[k]
            else:
                r.bad("sensor.curve." + k, "a non-zero number", curve[k])
    from firmware.curves import CHARTS

    air = s.curve.get("air", CHARTS[s.sensor_kind][0])
    s.rs_air = air * s.r0_ohm / s.rl_ohm  # Rs/RL in clean air until a zero calibration
    v = r.section(b, "valve")
    r.text(v, "kind", "valve.kind", "valve_kind", ("pulse", "hold"))
    r.text(v, "normally", "valve.normally", "valve_normally", ("open", "closed"))
    r.flag(v, "close_on_power_loss", "valve.close_on_power_loss", "close_on_power_loss")
    r.num(v, "pulse_ms", "valve.pulse_ms", 10, 5000, "pulse_ms", integer=True)
    r.num(v, "closing_ms", "valve.closing_ms", 0, 60000, "closing_ms", integer=True)
    r.num(v, "feedback_closed_level", "valve.feedback_closed_level", 0, 1,
          "feedback_closed_level", integer=True)
    p = r.section(b, "power")
    r.text(p, "source", "power.source", "power", ("mains", "battery", "mains+battery"))


def read_config(s, c, fname="config.json"):
    r = _Reader(s, fname)
    if "device_id" in c:
        if _valid_device_id(c["device_id"]):
            s.device_id = c["device_id"]
        else:
            r.bad("device_id", "text matching [a-z0-9][a-z0-9-]{0,31}", c["device_id"])
    r.text(c, "model", "model", "model")
    r.text(c, "site", "site", "site")
    r.text(c, "gas", "gas", "gas", GASES)
    f = r.section(c, "fleet")
    r.text(f, "host", "fleet.host", "fleet_host", maxlen=253)
    r.num(f, "port", "fleet.port", 1, 65535, "fleet_port", integer=True)
    r.num(c, "heartbeat_s", "heartbeat_s", 5, 86400, "heartbeat_s", integer=True)
    r.num(c, "net_retry_s", "net_retry_s", 10, 86400, "net_retry_s", integer=True)
    w = r.section(c, "wifi")
    r.text(w, "ssid", "wifi.ssid", "wifi_ssid")
    r.text(w, "key", "wifi.key", "wifi_key")
    r.num(c, "coap_port", "coap_port", 0, 65535, "bind_port", integer=True)
    a = r.section(c, "alarm")
    r.num(a, "low", "alarm.low", 1, 25, "low")
    r.num(a, "high", "alarm.high", 0, 60, "high")
    r.num(a, "hyst", "alarm.hyst", 0, 20, "hyst")
    r.num(a, "confirm_s", "alarm.confirm_s", 0, 60, "confirm_s")
    r.num(a, "dip_s", "alarm.dip_s", 0, 10, "dip_s")
    r.num(a, "clear_s", "alarm.clear_s", 0, 600, "clear_s")
    if s.high and s.high <= s.low:
        r.bad("alarm.high", "0 or above alarm.low (%s)" % s.low, s.high)
        s.high = 0.0
    if s.hyst >= s.low:
        r.bad("alarm.hyst", "below alarm.low (%s)" % s.low, s.hyst)
        s.hyst = 5.0 if s.low > 5.0 else s.low / 2
    r.num(c, "sample_ms", "sample_ms", 100, 2000, "sample_ms", integer=True)
    r.num(c, "outbox", "outbox", 4, 1000, "outbox", integer=True)
    r.num(c, "wdt_ms", "wdt_ms", 2000, 120000, "wdt_ms", integer=True)
    sen = r.section(c, "sensor")
    r.num(sen, "stuck_s", "sensor.stuck_s", 0, 86400, "stuck_s", integer=True)
    r.num(sen, "range_ratio", "sensor.range_ratio", 1.5, 20, "range_ratio")
    r.num(sen, "life_h", "sensor.life_h", 1, 200000, "life_h", integer=True)
    r.num(sen, "warmup_s", "sensor.warmup_s", 0, 172800, "warmup_s", integer=True)
    r.flag(sen, "comparator", "sensor.comparator", "comparator")
    r.num(sen, "comparator_level", "sensor.comparator_level", 0, 1, "comparator_level",
          integer=True)
    r.flag(sen, "compensation", "sensor.compensation", "compensation")
    v = r.section(c, "valve")
    r.flag(v, "selftest_closes", "valve.selftest_closes", "selftest_closes_valve")
    ind = r.section(c, "indicate")
    if ind:
        from firmware.indicate import IndicateError, check_patterns

        try:
            check_patterns(ind)
            s.indicate = ind
        except IndicateError as e:
            s.problems.append("%s: %s" % (fname, e))
    co = r.section(c, "coap")
    if co:
        s.coap = co
    osc = r.section(c, "oscore")
    s.oscore = osc or None


def read_cal(s, c, fname="cal.json"):
    r = _Reader(s, fname)
    r.num(c, "rs_air", "rs_air", 0.01, 1000, "rs_air")
    span = r.section(c, "span")
    if span:
        lel = span.get("lel")
        ratio = span.get("ratio")
        if not (_is_num(lel) and 1 <= lel <= 100):
            r.bad("span.lel", "a number 1..100", lel)
        elif not (_is_num(ratio) and 0 < ratio < 1):
            r.bad("span.ratio", "a number 0 < Rs/R0 < 1", ratio)
        else:
            s.span_lel = lel
            s.span_ratio = ratio
    s.cal = c


def load(root="/"):
    """Settings from the three files under `root`; never raises for bad content."""
    s = Settings()
    b = _load(store.join(root, "board.json"), s)
    if b is None and not s.problems:
        s.problems.append("board.json: missing (the factory image writes it)")
    if b is not None:
        read_board(s, b)
    c = _load(store.join(root, "config.json"), s)
    if c is not None:
        s.provisioned = True
        read_config(s, c)
    cal = _load(store.join(root, "cal.json"), s)
    if cal is not None:
        read_cal(s, cal)
    return s


def save_calibration(root, rs_air=None, span_lel=None, span_ratio=None, by="", date=""):
    """Write /cal.json (zero and/or span) with who and when; keeps the other half."""
    path = store.join(root, "cal.json")
    try:
        cur = store.read_json(path) or {}
    except store.StoreError:
        cur = {}
    if rs_air is not None:
        cur["rs_air"] = rs_air
        cur["zero"] = {"by": by, "date": date}
    if span_lel is not None:
        cur["span"] = {"lel": span_lel, "ratio": span_ratio, "by": by, "date": date}
    store.write_json(path, cur)
    return cur
