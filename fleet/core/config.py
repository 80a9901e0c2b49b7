"""The fleet's settings: one typed class, read from a TOML file and `GASGUARD_*` variables.

Build it with `get_settings()` (never at import), so tests and `gasguard serve --config` can
choose the file. Precedence, highest first: explicit arguments, environment, the config file,
the defaults below (which work on a laptop with nothing installed)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fleet.store.db import normalise_url

CONFIG_ENV = "GASGUARD_CONFIG"


class Settings(BaseSettings):
    """Every tunable of the fleet service, with the reason for its default."""

    model_config = SettingsConfigDict(env_prefix="GASGUARD_", extra="forbid")

    db: str = Field(default="sqlite:///var/fleet.db", description="database URL or SQLite file path")
    coap_host: str = Field(default="127.0.0.1", description="CoAP bind address")
    coap_port: int = Field(default=5683, ge=0, le=65535, description="CoAP UDP port (0 = any free)")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)

    # Health: used when a device has no model in the catalogue, or the model leaves them empty.
    heartbeat_interval_s: int = Field(default=300, gt=0, description="expected heartbeat interval")
    offline_grace_s: int = Field(default=900, gt=0, description="silence after which a device is polled")
    poll_interval_s: float = Field(default=30.0, gt=0, description="how often the poller looks for silent devices")
    poll_timeout_s: float = Field(default=10.0, gt=0, description="how long a health poll may take")

    # Alarms and notifications.
    escalate_after_s: int = Field(default=300, gt=0, description="unacknowledged alarm age before escalation")
    escalation_repeat_s: int = Field(default=900, gt=0, description="time between further escalations")
    webhook_url: str | None = Field(default=None, description="dispatch webhook (POST JSON); none = off")
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_backoff_s: float = Field(default=2.0, gt=0, description="first retry delay, doubled each time")

    # Commands.
    command_ttl_s: int = Field(default=86400, gt=0, description="a command not confirmed by then expires")
    command_resend_s: int = Field(default=60, gt=0, description="re-offer a sent, unconfirmed command after")
    max_cmds_per_ack: int = Field(default=4, ge=0, le=4, description="protocol.md: up to 4 per ack")

    # Ingest: see docs/fleet.md "Ingest path".
    ingest_batch_max: int = Field(default=512, ge=1, description="messages committed in one transaction")
    ingest_batch_wait_ms: float = Field(default=2.0, ge=0, description="wait for more messages before committing")
    db_connect_attempts: int = Field(default=10, ge=1, description="start-up: tries 1 s apart before giving up")
    sqlite_synchronous: str = Field(default="NORMAL", pattern="^(NORMAL|FULL)$",
                                    description="FULL: SQLite commits also survive a power cut")
    store_readings: bool = Field(default=True, description="keep the heartbeat time series")
    coap_dedup_lifetime_s: float = Field(
        default=15.0,
        gt=0,
        description="how long aiocoap remembers a CON message id for duplicate detection (RFC: 247 s)",
    )
    coap_ingest: str = Field(default="fast", pattern="^(fast|aiocoap)$",
                             description="device uplinks: fast = read off the socket (fleet/coap/fastpath.py), "
                             "aiocoap = through aiocoap's request pipeline")
    ingest_workers: int = Field(default=0, ge=0, le=64,
                                description="extra processes taking plain heartbeats off the CoAP port "
                                "(SO_REUSEPORT; fleet/coap/ingest_worker.py); about one per spare core")

    # OSCORE between devices and the fleet (docs/oscore.md "The fleet's side", docs/security.md).
    oscore_enabled: bool = Field(default=True, description="speak OSCORE with devices; provisioning writes "
                                 "each new device's key into its configuration")
    oscore_required: bool = Field(default=False, description="refuse every plain uplink (else only from devices "
                                  "that have spoken OSCORE)")
    oscore_seq_block: int = Field(default=256, ge=1, le=1_000_000,
                                  description="fleet sender sequence numbers reserved in the database at a time")
    credential_key: SecretStr | None = Field(default=None, description="AES-256 key (base64url, 32 bytes) sealing "
                                             "device secrets in the database")
    credential_key_file: str | None = Field(default=None, description="file holding credential_key")

    lang: str = Field(default="zh", description="dashboard default language: zh or en")
    display_tz: str = Field(default="Asia/Shanghai", description="time zone the dashboard shows times in")

    @field_validator("db")
    @classmethod
    def _db_url(cls, v: str) -> str:
        return normalise_url(v)

    @field_validator("lang")
    @classmethod
    def _lang(cls, v: str) -> str:
        if v not in ("zh", "en"):
            raise ValueError(f"lang must be 'zh' or 'en', got {v!r}")
        return v


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file: top-level keys, or a `[fleet]` table, named as Settings fields."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: config file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{p}: not valid TOML: {e}") from None
    table = data.get("fleet", data)
    if not isinstance(table, dict):
        raise ValueError(f"{p}: [fleet] must be a table")
    unknown = sorted(set(table) - set(Settings.model_fields))
    if unknown:
        raise ValueError(f"{p}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(Settings.model_fields))}")
    return table


def get_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from defaults < config file (`config` or $GASGUARD_CONFIG) < environment < overrides."""
    path = config or os.environ.get(CONFIG_ENV)
    file_values = load_config_file(path) if path else {}
    env_values = Settings().model_dump(exclude_unset=True)  # only what the environment set
    values = {**file_values, **env_values, **{k: v for k, v in overrides.items() if v is not None}}
    return Settings(**values)
