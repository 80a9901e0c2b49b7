# Put the simulated board modules in place of the real ones, in-process (MicroPython or CPython).
#
#   from boards.sim.device import install
#   machine = install.install()          # the `sim` board; install.install(board_dict) for another
#   machine.sim.set_gas("methane", 30.0)
#
# After this, `import machine`, `import network` and `import boardnet` anywhere give the sim's
# modules. Each call builds a fresh World (a fresh board), so tests do not leak state.
import sys

_DIR = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."


def install(board=None, uid=None):
    if _DIR not in sys.path:
        sys.path.insert(0, _DIR)
    import simworld
    import machine as _m

    m = sys.modules.get("machine")
    if m is None or not hasattr(m, "sim"):
        m = _m
    if not hasattr(m, "sim"):
        # The builtin `machine` of the Unix port was found first: load ours by path.
        m = _load("machine")
    if uid is None:
        w = simworld.World(board)
    else:
        w = simworld.World(board, uid)
    m.sim = w
    sys.modules["machine"] = m
    import network
    import boardnet

    sys.modules["network"] = network
    sys.modules["boardnet"] = boardnet
    return m


def _load(name):
    # Import this folder's module of that name even when the builtin one was imported first.
    sys.modules.pop(name, None)
    path = sys.path[:]
    sys.path[:] = [_DIR]
    try:
        return __import__(name)
    finally:
        sys.path[:] = path
