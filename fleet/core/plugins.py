"""Parts mounted by name ("package.module:attribute"): the CLI's subcommands and the API's
routers. One rule for both: a part whose own module does not exist is left out; a missing
dependency inside a module that does exist is a real error and surfaces."""

from __future__ import annotations

import importlib
from typing import Any


def load(target: str) -> Any | None:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            return None
        raise
    return getattr(module, attr)
