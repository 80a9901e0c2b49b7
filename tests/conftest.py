"""Shared pytest set-up: the MicroPython runner plugin and the repo on sys.path."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

pytest_plugins = ["utils.micropython"]
