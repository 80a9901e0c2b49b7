"""Processes of a benchmark run: servers pinned to one core, the generator to the other, and the
/proc readings taken from outside them (memory, kernel UDP drops).

Everything binds to 127.0.0.1 on ports picked free at the time, so runs and tests in parallel do
not collide; every process started here is stopped here, by its own pid."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port the kernel says is free now (UDP or TCP)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def free_ports() -> tuple[int, int]:
    """A UDP port for CoAP and a TCP port for HTTP."""
    return free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)


def pin_cpus() -> tuple[int | None, int | None]:
    """(server CPU, generator CPU): the first two usable CPUs, or None where there is only one."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


def coap_ping(port: int, host: str = HOST, timeout: float = 0.2) -> bool:
    """CoAP ping (RFC 7252 §4.3): an empty CON is answered with RST by any live endpoint."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        mid = int(time.monotonic() * 1000) & 0xFFFF
        try:
            s.sendto(bytes((0x40, 0x00, mid >> 8, mid & 0xFF)), (host, port))
            data, _ = s.recvfrom(64)
        except OSError:
            return False
        return len(data) >= 4 and (data[0] >> 4) & 3 == 3 and data[2:4] == bytes((mid >> 8, mid & 0xFF))


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body) of a GET; an HTTP error status is returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback only
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Server:
    """A server process (fleet or baseline), pinned to `cpu`, its output in `log`."""

    def __init__(self, name: str, argv: list[str], coap_port: int, http_port: int | None = None,
                 cpu: int | None = None, env: dict[str, str] | None = None, log: Path | None = None) -> None:
        self.name = name
        self.argv = argv
        self.coap_port = coap_port
        self.http_port = http_port
        self.cpu = cpu
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, ready_timeout: float = 60.0) -> float:
        """Start and wait until CoAP (and HTTP, when there is one) answer; returns seconds taken."""
        cpu = self.cpu
        env = {**os.environ, **(self.env or {})}
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        t0 = time.monotonic()

        def pin() -> None:
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})

        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=pin, start_new_session=True)  # noqa: PLW1509
        if out is not subprocess.DEVNULL:
            out.close()
        self.starts += 1
        while time.monotonic() - t0 < ready_timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s while starting; see %s:\n%s" % (
                    self.name, self.proc.returncode, self.log, self.log_tail()))
            if coap_ping(self.coap_port) and (self.http_port is None or self._http_up()):
                return time.monotonic() - t0
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("%s did not answer within %.0f s; see %s:\n%s" % (self.name, ready_timeout, self.log, self.log_tail()))

    def _http_up(self) -> bool:
        try:
            http_get("http://%s:%d/" % (HOST, self.http_port), timeout=1.0)
            return True
        except OSError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        if not self.log or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    @property
    def pid(self) -> int:
        assert self.proc is not None, "server not started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a power cut or OOM kill would: nothing gets to flush."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(10)  # type: ignore[union-attr]

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def rss_kb(pid: int) -> int | None:
    """Resident memory of a process, KiB (VmRSS)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, all its threads (/proc/<pid>/stat)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15 of stat)


def children(pid: int) -> list[int]:
    """The direct child processes of `pid` (/proc/<pid>/task/*/children): a fleet's ingest workers."""
    out: list[int] = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            continue
    return out


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU time of a process and its children that are still running (main process + workers)."""
    own = cpu_seconds(pid)
    if own is None:
        return None
    return own + sum(cpu_seconds(c) or 0.0 for c in children(pid))


def udp_drops(port: int) -> int | None:
    """Kernel receive drops of the UDP socket(s) bound to `port` (/proc/net/udp `drops` column).

    None when no socket has that port (the server is not running)."""
    total = None
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if int(cols[1].rsplit(":", 1)[1], 16) == port:
                        total = (total or 0) + int(cols[-1])
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    return total


def run_loadgen(cfg: dict[str, Any], workdir: Path, name: str, cpu: int | None) -> dict[str, Any]:
    """Run the generator in its own process with `cfg`; returns its JSON report."""
    cfg = {**cfg, "cpu": cpu}
    cfg_path = workdir / ("%s.loadgen.json" % name)
    out_path = workdir / ("%s.loadgen.out.json" % name)
    cfg_path.write_text(json.dumps(cfg))
    limit = float(cfg.get("duration", 10)) + float(cfg.get("drain", 5)) + float(cfg.get("register_timeout", 120)) + 60
    proc = subprocess.run([sys.executable, "-m", "bench.perf.loadgen", str(cfg_path), str(out_path)],
                          capture_output=True, text=True, timeout=limit, cwd=str(Path(__file__).resolve().parents[2]))
    if proc.returncode != 0:
        raise RuntimeError("load generator %s failed (exit %d):\n%s" % (name, proc.returncode, proc.stderr[-3000:]))
    return json.loads(out_path.read_text())


def start_loadgen(cfg: dict[str, Any], workdir: Path, name: str, cpu: int | None) -> tuple[subprocess.Popen[str], Path]:
    """Start the generator without waiting (for scenarios that act during the run)."""
    cfg = {**cfg, "cpu": cpu}
    cfg_path = workdir / ("%s.loadgen.json" % name)
    out_path = workdir / ("%s.loadgen.out.json" % name)
    cfg_path.write_text(json.dumps(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "bench.perf.loadgen", str(cfg_path), str(out_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(Path(__file__).resolve().parents[2]))
    return proc, out_path


def finish_loadgen(proc: subprocess.Popen[str], out_path: Path, name: str, timeout: float) -> dict[str, Any]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise RuntimeError("load generator %s did not stop within %.0f s" % (name, timeout)) from None
    if proc.returncode != 0:
        raise RuntimeError("load generator %s failed (exit %d):\n%s" % (name, proc.returncode, err[-3000:]))
    return json.loads(out_path.read_text())
