"""What the device's reporting stack loads (docs/firmware.md s10): encoding every message the
device sends and decoding what it receives never loads the registry names and the fleet's
helpers kept in protocol/*_more.py, on MicroPython and on CPython."""
import os
import subprocess
import sys
from pathlib import Path

from utils.micropython import micropython_binary

REPO = Path(__file__).resolve().parents[2]

_SCRIPT = """
import sys
from firmware import coapnet, reporter, resources
from protocol import messages, vectors
for name, kind, obj in vectors.VECTORS:
    if kind in ("registration", "heartbeat", "event", "command_result"):
        messages.encode(kind, obj)
    if kind in ("ack", "command"):
        messages.decode(kind, messages.encode(kind, obj))
from protocol.cbor import dumps
try:
    messages.decode("ack", dumps({"st": 1, "pc": 0, "cmds": [{}] * 5}))
except messages.MessageError as e:
    print("refused", e)
print("more:", sorted(m for m in sys.modules if m.endswith("_more")))
"""


def _run(cmd: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_device_paths__load_no_rest_module_on_micropython():
    env = {"MICROPYPATH": str(REPO), "PATH": os.environ.get("PATH", "")}
    out = _run([micropython_binary(), "-X", "heapsize=512k", "-c", _SCRIPT], env)
    assert "more: []" in out, out
    assert "refused ack.cmds: expected at most 4 items, got 5" in out, out


def test_device_paths__load_no_rest_module_on_cpython():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = _run([sys.executable, "-c", _SCRIPT], env)
    assert "more: []" in out, out
