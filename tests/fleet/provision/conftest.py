"""Fixtures for provisioning tests: a real fleet process (`gasguard serve`, SQLite in tmp_path,
free ports), enrolment tokens, the factory vfs image, virtual boards,
and `provision_cli` to run the real `gasguard provision` as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from provision_support import BOARD_HEAP, provision_cli  # noqa: F401  (for the tests)
from utils.virtual_board import virtual_boards  # noqa: F401  (the fixture)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


class FleetProcess:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.db = f"sqlite:///{workdir / 'fleet.db'}"
        self.ready = workdir / "ready.json"
        self.log = workdir / "fleet.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def start(self, timeout: float = 30.0) -> FleetProcess:
        self.ready.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "fleet.cli", "serve", "--db", self.db,
               "--coap-port", "0", "--http-port", "0", "--ready-file", str(self.ready), "--log-level", "WARNING"]
        self.proc = subprocess.Popen(cmd, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + timeout
        while not self.ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the fleet did not start:\n" + self.log.read_text(errors="replace"))
            time.sleep(0.05)
        self.info = json.loads(self.ready.read_text())
        return self

    @property
    def url(self) -> str:
        return str(self.info["http_url"])

    @property
    def coap_port(self) -> int:
        return int(self.info["coap_port"])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, self.url + "/api/v1" + path, timeout=10, **kw)

    def token(self, installer: str = "Wang Wei", ttl_s: int = 3600) -> str:
        """An enrolment token, issued straight into the fleet's database (the HTTP route for it
        is an operator's, behind the security layer's sign-in)."""
        from fleet.provision.service import issue_token
        from fleet.store.db import Database

        db = Database(self.db)
        try:
            with db.session() as s:
                token, _row = issue_token(s, installer=installer, issued_by="test operator", ttl_s=ttl_s)
                s.commit()
        finally:
            db.dispose()
        return token

    def status(self, device_id: str, token: str) -> dict[str, Any]:
        r = self.api("GET", f"/provision/devices/{device_id}/status", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def query(self, sql: str, **params: Any) -> list[Any]:
        """Rows straight from the fleet's database (for what only an operator's route shows)."""
        import sqlalchemy as sa

        eng = sa.create_engine(self.db)
        try:
            with eng.connect() as conn:
                return list(conn.execute(sa.text(sql), params))
        finally:
            eng.dispose()


@pytest.fixture
def fleet_process(tmp_path: Path) -> Iterator[FleetProcess]:
    fp = FleetProcess(tmp_path / "fleet")
    fp.workdir.mkdir()
    fp.start()
    try:
        yield fp
    finally:
        fp.stop()


@pytest.fixture(scope="session")
def factory_vfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vfs image a factory image carries (compiled app, /board.json, /app.json), built once."""
    from boards.image import build_vfs_image

    path = tmp_path_factory.mktemp("factory") / "vfs-sim.img"
    path.write_bytes(build_vfs_image("sim"))
    return path
