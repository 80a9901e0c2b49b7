"""Device Master Secrets encrypted at rest (AES-256-GCM) under the fleet's credential key.

A copy of the database (a backup, a stolen disk, a support dump) must not let anyone read or
forge a device's messages, so `device_credentials.master_secret` holds only a sealed value:

    gg1:<key id, 8 hex>:<base64url(12-byte nonce | ciphertext | 16-byte tag)>

The associated data is the device id, so a sealed secret copied onto another device's row does
not open. The key id (the first 4 bytes of SHA-256 over the key) lets a wrong key be named as
such instead of failing as a "tag mismatch".

Where the key comes from (fleet/core/config.py), first match wins:
1. `credential_key` (env GASGUARD_CREDENTIAL_KEY): 32 bytes as base64url (44 characters);
2. `credential_key_file`: a file holding that text (create it with `gasguard`-less
   `python -m fleet.coap.oscore_vault new-key`);
3. development default: `credential.key` in the data folder (the folder of the SQLite file, or
   `var/` for PostgreSQL), generated on first use with a WARNING. Losing that file loses every
   device key: back it up, or configure one of the above."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from fleet.core.config import Settings

log = logging.getLogger(__name__)

PREFIX = "gg1:"
KEY_BYTES = 32
NONCE_BYTES = 12
DEFAULT_KEY_FILE = "credential.key"


class CredentialKeyError(OSError):
    """The credential key is missing, malformed, or not the one the secrets were sealed under.
    The message names the setting to fix. An OSError, like a CoAP port already taken, so that
    `gasguard serve` reports it as a start-up error in one line (exit status 1)."""


def _b64d(text: str) -> bytes:
    pad = "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text + pad)


def new_key_text() -> str:
    """A fresh credential key as the text `credential_key` takes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def parse_key(text: str, where: str) -> bytes:
    """32 key bytes from base64url text; `where` names the setting in the error."""
    try:
        raw = _b64d(text.strip())
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise CredentialKeyError(
            f"{where}: expected {KEY_BYTES} bytes as base64url (44 characters, e.g. from "
            f"`python -m fleet.coap.oscore_vault new-key`), got {len(text.strip())} characters")
    return raw


@dataclass(frozen=True)
class SecretBox:
    """Seals and opens device secrets with one AES-256-GCM key. `source` says where the key came
    from, for error messages."""

    key: bytes
    source: str

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.key).hexdigest()[:8]

    def seal(self, device_id: str, secret_hex: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        ct = AESGCM(self.key).encrypt(nonce, bytes.fromhex(secret_hex), device_id.encode())
        return f"{PREFIX}{self.key_id}:{base64.urlsafe_b64encode(nonce + ct).decode('ascii').rstrip('=')}"

    def open(self, device_id: str, stored: str) -> str:
        """The secret as hex; CredentialKeyError naming the setting when the key is not the one
        the value was sealed under, or the value was tampered with."""
        if not is_sealed(stored):
            raise CredentialKeyError(f"device_credentials.master_secret of {device_id!r} is not sealed; "
                                     "the fleet seals clear rows at start-up (seal_clear_rows)")
        _, key_id, body = stored.split(":", 2)
        if key_id != self.key_id:
            raise CredentialKeyError(
                f"the secret of {device_id!r} was sealed under credential key {key_id}, but the configured key "
                f"({self.source}) is {self.key_id}: set credential_key (GASGUARD_CREDENTIAL_KEY) or "
                "credential_key_file to the key this database was written with")
        raw = _b64d(body)
        try:
            return AESGCM(self.key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], device_id.encode()).hex()
        except InvalidTag:
            raise CredentialKeyError(f"the sealed secret of {device_id!r} does not open under credential key "
                                     f"{self.key_id} ({self.source}): the row was altered or moved") from None


def is_sealed(stored: str | None) -> bool:
    return bool(stored) and str(stored).startswith(PREFIX)


def data_folder(db_url: str) -> Path:
    """Where development files live: the SQLite file's folder, else `var/`."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().resolve().parent
    return Path("var").resolve()


def _load_or_create(path: Path) -> bytes:
    if path.exists():
        return parse_key(path.read_text(encoding="ascii"), f"credential key file {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = new_key_text()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text + "\n")
    log.warning("!!! generated a NEW credential key in %s: device secrets are encrypted under it. "
                "Back this file up (losing it loses every device key) or set credential_key / "
                "credential_key_file for production (docs/security.md, 'Device secrets at rest') !!!", path)
    return parse_key(text, str(path))


def box_from_settings(settings: "Settings") -> SecretBox:
    if settings.credential_key is not None:
        return SecretBox(parse_key(settings.credential_key.get_secret_value(),
                                   "credential_key (GASGUARD_CREDENTIAL_KEY)"), "credential_key")
    if settings.credential_key_file:
        path = Path(settings.credential_key_file).expanduser()
        if not path.exists():
            raise CredentialKeyError(f"credential_key_file: {path} does not exist; create it with "
                                     "`python -m fleet.coap.oscore_vault new-key > FILE` or fix the setting")
        return SecretBox(parse_key(path.read_text(encoding="ascii"), f"credential_key_file {path}"),
                         f"credential_key_file {path}")
    path = data_folder(settings.db) / DEFAULT_KEY_FILE
    return SecretBox(_load_or_create(path), f"development key file {path}")


# The box of each database this process serves, so store functions that only hold a Session
# (fleet/provision/service.py) seal and open with the same key as the CoAP side.
_boxes: dict[str, SecretBox] = {}
_lock = threading.Lock()


def _url_of(session: "Session") -> str:
    return session.get_bind().url.render_as_string(hide_password=False)


def register(db_url: str, box: SecretBox) -> None:
    with _lock:
        _boxes[make_url(db_url).render_as_string(hide_password=False)] = box


def box_for(session: "Session") -> SecretBox:
    """The box registered for the session's database, else the one the settings give."""
    url = _url_of(session)
    with _lock:
        box = _boxes.get(url)
    if box is None:
        from fleet.core.config import get_settings

        box = box_from_settings(get_settings(db=url))
        register(url, box)
    return box


def main(argv: list[str]) -> int:
    if argv[1:] == ["new-key"]:
        print(new_key_text())
        return 0
    print("usage: python -m fleet.coap.oscore_vault new-key", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
