"""The app on the real MicroPython interpreter from its compiled .mpy files in the heap of an
ESP32 without PSRAM (160 KB to itself): detection, the alarm and the valve always work in it;
whether the reporting part fits too is what `python -m firmware.footprint --min` measures
(docs/firmware.md, section 10)."""

import pytest

from firmware import footprint

pytestmark = pytest.mark.slow


def test_detection_runs_in_a_160k_heap_through_an_alarm():
    out = footprint.run("160k", seconds=10.0)
    assert out["app_heap"] <= 160 * 1024  # usable GC heap of a 160k MicroPython heap, no more
    assert out["alarm"] == 1 and out["valve"] == 1  # the leak alarmed and the valve closed
    assert out["events"] >= 3  # boot, alarm, valve_closed
    assert out["samples"] >= 15
    # no detection task crashed, whatever else did not fit: the network tasks may fail for lack
    # of memory and then pause, the T/RH reading retries (docs/firmware.md, "Memory: reporting
    # never starves detection")
    assert not {k: n for k, n in out["crashes"].items() if k in ("sample", "indicate", "valve", "loop")}
    assert out["mpy_firmware"] > 10000 and out["mpy_protocol"] > 10000
