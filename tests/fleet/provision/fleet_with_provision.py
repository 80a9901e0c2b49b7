"""Run the `gasguard` CLI (here: `serve`) with the provisioning router mounted in /api/v1.

fleet/api/main.py does not include fleet.provision.api yet; this is the one line it needs,
applied before the app is built. Once main.py mounts it, `mount` finds it there and does nothing."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from fleet.api import main as api_main  # noqa: E402
from fleet.provision.api import mount  # noqa: E402

mount(api_main.api_router)

from fleet.cli import app  # noqa: E402

if __name__ == "__main__":
    app()
