"""fleet/core/config.py: defaults < file < environment < arguments, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fleet.core.config import get_settings


def test_get_settings__precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "fleet.toml"
    cfg.write_text('[fleet]\ncoap_port = 7000\nhttp_port = 7001\ndb = "x.db"\n')
    monkeypatch.setenv("GASGUARD_HTTP_PORT", "7002")
    s = get_settings(cfg, db="postgres://u@h/db")
    assert (s.coap_port, s.http_port, s.db) == (7000, 7002, "postgresql+psycopg://u@h/db")
    assert s.heartbeat_interval_s == 300  # default


def test_get_settings__config_from_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "fleet.toml"
    cfg.write_text("escalate_after_s = 60\n")
    monkeypatch.setenv("GASGUARD_CONFIG", str(cfg))
    assert get_settings().escalate_after_s == 60


def test_get_settings__invalid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match="nope.toml: config file not found"):
        get_settings(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("coap_port = = 1")
    with pytest.raises(ValueError, match="bad.toml: not valid TOML: "):
        get_settings(bad)
    monkeypatch.setenv("GASGUARD_LANG", "fr")
    with pytest.raises(ValidationError, match="lang must be 'zh' or 'en', got 'fr'"):
        get_settings()
