# Runs one test module on the real MicroPython interpreter and reports each test.
# Written for MicroPython (also runs on CPython): the pytest plugin in
# tests/utils/micropython.py starts it and reads the marked lines it prints.
import sys
import time

MARK = "@@gasguard-mptest "


def _run(mod, name):
    fn = getattr(mod, name)
    setup = getattr(mod, "setup_function", None)
    teardown = getattr(mod, "teardown_function", None)
    t0 = time.ticks_ms() if hasattr(time, "ticks_ms") else 0
    try:
        if setup:
            setup()
        try:
            fn()
        finally:
            if teardown:
                teardown()
    except Exception as e:  # noqa: BLE001 - every failure is reported, none escapes
        if type(e).__name__ in ("SkipTest", "Skipped"):
            print(MARK + "SKIP " + name + " " + str(e))
            return
        print(MARK + "FAIL-BEGIN " + name)
        sys.print_exception(e) if hasattr(sys, "print_exception") else _cpython_tb(e)
        print(MARK + "FAIL-END " + name)
        return
    t1 = time.ticks_ms() if hasattr(time, "ticks_ms") else 0
    print(MARK + "PASS " + name + " " + str(t1 - t0))


def _cpython_tb(e):
    import traceback

    traceback.print_exception(e)


def main(argv):
    module_name = argv[1]
    names = argv[2:]
    mod = __import__(module_name)
    for part in module_name.split(".")[1:]:
        mod = getattr(mod, part)
    print(MARK + "BEGIN " + module_name)
    for name in names:
        _run(mod, name)
    print(MARK + "END " + module_name)


main(sys.argv)
