"""fleet/serve.py: `gasguard serve` as a subprocess (ready file, both sides answer, clean stop)
and in-process (`serving`)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiocoap
import httpx
from aiocoap.numbers.codes import Code

from fleet.serve import serving
from fleet.store.db import Database
from utils.fleet_runtime import make_settings
from utils.security_auth import auth_headers

REPO = Path(__file__).resolve().parents[2]


def _wkc(port: int) -> bytes:
    async def main() -> bytes:
        ctx = await aiocoap.Context.create_client_context()
        try:
            r = await ctx.request(aiocoap.Message(code=Code.GET, uri=f"coap://127.0.0.1:{port}/.well-known/core")).response
            return r.payload
        finally:
            await ctx.shutdown()

    return asyncio.run(main())


def _serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], dict]:
    """`gasguard serve` on free ports; returns the process and its ready file once written."""
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "serve", "--db", str(tmp_path / "fleet.db"), "--coap-port", "0",
         "--http-port", "0", "--ready-file", str(ready), "--log-level", "WARNING", *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"gasguard serve did not become ready in 30 s: {out}{err}")
        time.sleep(0.1)
    return proc, json.loads(ready.read_text())


def test_serve__subprocess_ready_file_and_sigterm(tmp_path: Path) -> None:
    proc, info = _serve(tmp_path)
    try:
        health = httpx.get(f"{info['http_url']}/api/v1/health", headers=auth_headers(str(tmp_path / "fleet.db"))).json()
        assert health["status"] == "ok" and health["coap_port"] == info["coap_port"]
        assert _wkc(info["coap_port"]).startswith(b"</gg/reg>;ct=60")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"dashboard {info['http_url']}/" in out


def test_serve__bad_config__exit_2_with_message(tmp_path: Path) -> None:
    cfg = tmp_path / "fleet.toml"
    cfg.write_text("[fleet]\ncoap_prot = 5683\n")
    proc = subprocess.run([sys.executable, "-m", "fleet.cli", "serve", "--config", str(cfg)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"error: {cfg}: unknown setting(s) coap_prot; known: " in proc.stderr


def test_serving__in_process(sqlite_db: Database) -> None:
    async def main() -> tuple[int, int | None]:
        async with serving(make_settings(sqlite_db.url)) as handle:
            async with httpx.AsyncClient() as client:
                r = await client.get(f"{handle.http_url}/api/v1/health", headers=auth_headers(sqlite_db))
            return r.status_code, handle.coap_port

    status, port = asyncio.run(main())
    assert status == 200 and port


def test_serve__database_unreachable__exit_1_with_message(tmp_path: Path) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    proc = subprocess.run(
        [sys.executable, "-m", "fleet.cli", "serve", "--db", f"postgresql+psycopg://postgres@127.0.0.1:{port}/x",
         "--coap-port", "0", "--http-port", "0"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**__import__("os").environ, "GASGUARD_DB_CONNECT_ATTEMPTS": "2"})
    assert proc.returncode == 1, proc.stderr
    assert f"error: database postgresql+psycopg://postgres@127.0.0.1:{port}/x not reachable after 2 attempts: " in proc.stderr
    assert "check --db / GASGUARD_DB and that the server is running" in proc.stderr


def test_serve__coap_port_taken__exit_1_with_message(tmp_path: Path) -> None:
    import socket

    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", 0))
    port = s.getsockname()[1]
    try:
        proc = subprocess.run([sys.executable, "-m", "fleet.cli", "serve", "--db", str(tmp_path / "f.db"),
                               "--coap-port", str(port), "--http-port", "0"],
                              cwd=REPO, capture_output=True, text=True, timeout=60)
    finally:
        s.close()
    assert proc.returncode == 1, proc.stderr
    assert f"error: [Errno 98] cannot listen for CoAP on 127.0.0.1:{port}: " in proc.stderr
    assert "choose another --coap-port (0 picks a free one)" in proc.stderr


def test_serve__ingest_workers_in_health__main_killed__workers_exit(tmp_path: Path) -> None:
    """A worker must not outlive its main process: it would hold the CoAP port and relay to nobody."""
    proc, info = _serve(tmp_path, "--ingest-workers", "1")
    try:
        health = httpx.get(f"{info['http_url']}/api/v1/health", headers=auth_headers(str(tmp_path / "fleet.db"))).json()
        workers = health["ingest"]["workers"]
        assert workers["workers"] == 1 and workers["restarts"] == 0 and len(workers["pids"]) == 1
        worker = int(next(iter(workers["pids"].values())))
        assert Path(f"/proc/{worker}").exists()
    finally:
        proc.kill()  # SIGKILL: no clean stop; the worker sees its stdin close
        proc.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{worker}").exists() and _state(worker) != "Z":
        assert time.monotonic() < deadline, "the ingest worker outlived its main process by 10 s"
        time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
