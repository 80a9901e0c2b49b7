"""Keys for the OSCORE benchmark: N devices' credentials written into a fresh fleet database
(sealed under a credential key made for the run, as the fleet keeps them), and the devices' side
of the same keys in a JSON file for the load generator (`"oscore": PATH`).

Written straight into `device_credentials` rather than through the provisioning API: 1,000 HTTP
round trips with enrolment tokens would measure provisioning, not ingest."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from bench.perf import payloads


def write_keys(url: str, n: int, workdir: Path, name: str) -> tuple[Path, dict[str, str]]:
    """(key file for the generator, environment for the fleet process naming the credential key)."""
    from fleet.coap.oscore_vault import SecretBox, new_key_text, parse_key
    from fleet.core.clock import now
    from fleet.provision.models import DeviceCredential
    from fleet.store.db import Database

    key_text = new_key_text()
    key_file = workdir / ("%s.credential.key" % name)
    key_file.write_text(key_text + "\n")
    key_file.chmod(0o600)
    box = SecretBox(parse_key(key_text, str(key_file)), str(key_file))
    devices: list[dict[str, Any]] = []
    rows = []
    t = now()
    for i in range(n):
        dev = payloads.device_id(i)
        secret = secrets.token_bytes(16).hex()
        key = {"master_secret": secret, "master_salt": secrets.token_bytes(8).hex(),
               "sender_id": (i + 1).to_bytes(4, "big").hex(), "recipient_id": "",
               "id_context": secrets.token_bytes(8).hex()}
        devices.append(key)
        rows.append(DeviceCredential(device_id=dev, uid=None, sender_id=key["sender_id"], recipient_id="",
                                     master_secret=box.seal(dev, secret), master_salt=key["master_salt"],
                                     id_context=key["id_context"], version=1, issued_at=t, issued_to="bench",
                                     seq_limit=0, replay_state="new"))
    db = Database(url)
    try:
        with db.session() as session:
            session.add_all(rows)
            session.commit()
    finally:
        db.dispose()
    path = workdir / ("%s.oscore-keys.json" % name)
    path.write_text(json.dumps({"devices": devices}))
    path.chmod(0o600)
    return path, {"GASGUARD_CREDENTIAL_KEY_FILE": str(key_file), "GASGUARD_OSCORE_ENABLED": "true"}
