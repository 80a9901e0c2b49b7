# Powered hours of the sensor, counted across reboots (GB 15322.2-2019 s3.3.1.3: count powered
# time in non-volatile storage and show end of life when it reaches the sensor's rated life).
#
# /life.json holds {"min": powered minutes}. The count is written every `save_min` minutes
# (default 10), atomically, so a power cut loses at most that much and never the whole count;
# at 10 minutes that is 52,560 small writes in 5 years, which littlefs' wear levelling spreads.
from firmware import store
from firmware.port import ticks_add, ticks_diff

F_EOL = 64


class Life:
    """Constructor: `path` (or None), `rated_h`, `save_min`, `start_ms`. `tick(now_ms)` counts
    whole minutes and saves; `eol` is True once the rated life is reached."""

    def __init__(self, path, rated_h=43800, save_min=10, start_ms=0):
        self.path = path
        self.rated_min = rated_h * 60
        self.save_min = save_min
        self.minutes = 0
        self._mark = start_ms
        self._unsaved = 0
        self.storage_ok = True
        if path:
            try:
                rec = store.read_json(path)
            except store.StoreError:
                rec = None
                self.storage_ok = False
            if isinstance(rec, dict) and isinstance(rec.get("min"), int) and rec["min"] >= 0:
                self.minutes = rec["min"]

    @property
    def hours(self):
        return self.minutes // 60

    @property
    def eol(self):
        return self.minutes >= self.rated_min

    def tick(self, now_ms):
        while ticks_diff(now_ms, self._mark) >= 60000:
            self._mark = ticks_add(self._mark, 60000)
            self.minutes += 1
            self._unsaved += 1
        if self._unsaved >= self.save_min:
            self.save()

    def save(self):
        if not self.path:
            return
        try:
            store.write_json(self.path, {"min": self.minutes})
            self._unsaved = 0
            self.storage_ok = True
        except store.StoreError:
            self.storage_ok = False
