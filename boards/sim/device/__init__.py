# Modules that run inside MicroPython on the virtual board (and in-process in tests).
