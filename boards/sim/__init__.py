"""The virtual board: a host-side launcher (CPython) and, in device/, what runs inside MicroPython."""
