"""fleet/api/main.py: plugin routers mounted from the table, missing ones skipped."""

from __future__ import annotations

import pytest

from fleet.api.main import _plugin


def test_plugin__missing_module__skipped() -> None:
    assert _plugin("fleet.not_written_yet.api:router") is None


def test_plugin__error_inside_existing_module__surfaces() -> None:
    with pytest.raises(AttributeError):
        _plugin("fleet.api.deps:no_such_router")


def test_plugin__present__router() -> None:
    from fastapi import APIRouter

    assert isinstance(_plugin("fleet.web.routes:router"), APIRouter)
