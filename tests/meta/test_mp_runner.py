# runs-on: micropython cpython
"""The runner itself: these run on both interpreters, and the plugin test below checks that a
failing MicroPython test is reported as a failure with MicroPython's traceback."""
import sys

from utils.dual import IS_MICROPYTHON


def test_interpreter_is_reported():
    if IS_MICROPYTHON:
        assert sys.implementation.name == "micropython"
    else:
        assert sys.implementation.name == "cpython"


def test_heap_is_limited_on_micropython():
    if not IS_MICROPYTHON:
        return
    import gc

    gc.collect()
    # The plugin's default heap (160k) is what an ESP32 without PSRAM offers.
    assert gc.mem_free() < 200 * 1024
