# gasguard: runs first on every boot, before main.py (and before mpremote's raw REPL). Keep it
# small and unable to fail: the watchdog is armed later, by main.py, and only in a normal boot
# (a maintenance boot, with /maint present or the button held, leaves it off).
import gc

gc.collect()
