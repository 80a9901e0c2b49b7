"""What the provisioning tests import by name. It lives here, not in conftest.py: several
conftest.py files are on sys.path in one test run, and `from conftest import ...` takes
whichever was imported first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from boards.sim.board import DEFAULT_HEAP

REPO = Path(__file__).resolve().parents[3]
# the launcher's default heap: what make test checks is what a board is given by default
BOARD_HEAP = DEFAULT_HEAP


def provision_cli(*args: str, timeout: float = 180.0, env: dict[str, str] | None = None,
                  input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real `gasguard provision` in a child process (wide terminal so lines do not wrap)."""
    e = dict(os.environ)
    e.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    e.pop("GASGUARD_ENROL_TOKEN", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "fleet.cli", "provision", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=e, input=input)
