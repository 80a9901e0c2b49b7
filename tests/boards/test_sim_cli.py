"""`gasguard sim` as a person uses it: `sim up` in the foreground, control by name or port from
other processes, clean shutdown on SIGTERM; the control client's errors; the network relay."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from boards.sim.control import ControlError, connect
from boards.sim.netproxy import NetProxy
from utils.virtual_board import mpremote

GASGUARD = str(Path(sys.executable).with_name("gasguard"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sim_up__port_first_control_and_sigterm(tmp_path, monkeypatch):
    monkeypatch.setenv("GASGUARD_SIM_DIR", str(tmp_path / "reg"))
    env = dict(os.environ)
    proc = subprocess.Popen([GASGUARD, "sim", "up", "--board", "sim", "--name", "cli-board"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert first.startswith("port: /dev/pts/"), first
        port = first.split(" ", 1)[1].strip()
        assert proc.stdout.readline() == "name: cli-board\n"
        r = subprocess.run([GASGUARD, "sim", "gas", "cli-board", "methane", "40"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        read = "import machine; print(machine.ADC(machine.Pin(34), atten=3).read_uv())"
        assert int(mpremote(port, "exec", read).stdout) > 2000000
        r = subprocess.run([GASGUARD, "sim", "sensor", "cli-board", "open"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert mpremote(port, "exec", read).stdout == "0\n"
        assert connect(port).state()["sensor_fault"] == "open"
        r = subprocess.run([GASGUARD, "sim", "sensor", "cli-board", "loose"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stderr.strip()) == (1, "error: sensor 'loose': expected open, short or ok")
        connect(port).sensor_fault(None)
        r = subprocess.run([GASGUARD, "sim", "valve", port, "reopen"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1
        assert r.stderr.strip() == "error: board cli-board: the valve is already open"
        client = connect(port)
        st = client.state()
        client.power_cut()
        assert client.state()["running"] is False
        client.power_restore()
        assert [b["cause"] for b in client.state()["boots"]] == [1, 1]
        assert client.events(kind="power")[-1]["v"] == 1
        child = client.state()["pid"]
        assert st["name"] == "cli-board" and _alive(child)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert out.rstrip().endswith("stopped cli-board")
        assert not _alive(child)
        assert list((tmp_path / "reg").glob("*.json")) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_control__errors_name_the_problem(virtual_boards, monkeypatch, tmp_path):
    b = virtual_boards(name="err-board")
    with pytest.raises(ControlError) as e:
        connect("no-such-board")
    assert str(e.value) == "no running virtual board 'no-such-board'; running: err-board (%s)" % b.port
    c = connect("err-board")
    with pytest.raises(ControlError) as e:
        c.set_gas("radon", 10)
    assert str(e.value) == ("board err-board: gas 'radon': expected one of methane, lpg, propane, "
                            "butane, alcohol, cooking")
    with pytest.raises(ControlError) as e:
        c.net_degrade(loss=0.5)
    assert str(e.value) == ("board err-board: board err-board has no network relay: start it with "
                            "a fleet address (--fleet HOST:PORT)")
    with pytest.raises(ControlError) as e:
        c.call("fly")
    assert str(e.value).startswith("board err-board: unknown operation 'fly'; known: set_gas")
    c.press_button(200)
    c.set_climate(temp_c=30, rh_pct=50)
    assert [e["n"] for e in c.events(kind="control")] == ["press_button", "set_climate"]


class _Echo:
    """A UDP echo server standing in for the fleet."""

    def __init__(self) -> None:
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(0.2)
        self.seen: list[tuple[bytes, tuple[str, int]]] = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                data, addr = self.s.recvfrom(2048)
            except OSError:
                continue
            self.seen.append((data, addr))
            self.s.sendto(b"echo:" + data, addr)

    def close(self) -> None:
        self.stop.set()
        self.t.join(2)
        self.s.close()


def _ask(proxy: NetProxy, msg: bytes, timeout: float = 1.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(timeout)
        c.sendto(msg, proxy.board_addr)
        try:
            return c.recv(2048)
        except TimeoutError:
            return None


def test_netproxy__delay_cut_loss():
    echo = _Echo()
    proxy = NetProxy(echo.s.getsockname(), seed=1)
    try:
        assert _ask(proxy, b"a") == b"echo:a"
        assert echo.seen[-1][1] == proxy.fleet_side  # the fleet sees the relay as the device
        proxy.degrade(delay_ms=300)
        t = time.monotonic()
        assert _ask(proxy, b"b") == b"echo:b"
        assert time.monotonic() - t >= 0.55  # delayed both ways
        proxy.degrade(delay_ms=0, cut=True)
        assert _ask(proxy, b"c", timeout=0.3) is None
        proxy.degrade(cut=False, loss=1.0)
        assert _ask(proxy, b"d", timeout=0.3) is None
        assert proxy.counts["dropped"] == 2
        with pytest.raises(ValueError, match="loss 1.5: expected a probability 0..1"):
            proxy.degrade(loss=1.5)
    finally:
        proxy.close()
        echo.close()


def test_board_network__through_the_relay(virtual_boards):
    echo = _Echo()
    try:
        b = virtual_boards(net_upstream=echo.s.getsockname())
        host, port = b.net.board_addr
        code = (
            "import socket, boardnet\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.sendto(b'hb', boardnet.addr(%r, %d))\n"
            "data, a = s.recvfrom(64)\n"
            "print(data, boardnet.peer(a) == (%r, %d))\n" % (host, port, host, port)
        )
        assert mpremote(b.port, "exec", code).stdout == "b'echo:hb' True\n"
        assert json.dumps(b.handle("net_degrade", {"delay_ms": 50})) == '{"cut": false, "delay_ms": 50, "loss": 0.0}'
    finally:
        echo.close()
