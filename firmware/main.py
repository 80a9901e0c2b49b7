# gasguard: MicroPython runs this after boot.py (in the friendly REPL only; mpremote's raw REPL
# skips it, which is how an installer gets a quiet board). Everything lives in firmware.app.
from firmware import app

app.run("/")
