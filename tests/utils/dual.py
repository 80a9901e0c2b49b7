# Helpers for test modules that run on both MicroPython and CPython.
# Kept to the common subset: no pytest import at module level on MicroPython.
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"

if IS_MICROPYTHON:

    class SkipTest(Exception):
        """Raised by a dual test to skip itself on this interpreter."""

else:
    import pytest

    SkipTest = pytest.skip.Exception


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception it raised; fail if it raised none or another kind."""
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        return e
    raise AssertionError("expected %s from %r" % (exc_type.__name__, fn))
