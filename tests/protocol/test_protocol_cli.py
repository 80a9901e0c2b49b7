"""`gasguard protocol vectors` and `gasguard protocol decode` (CPython only)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from protocol import cli, vectors

runner = CliRunner()


def test_vectors__prints_every_golden_message() -> None:
    res = runner.invoke(cli.app, ["vectors"])
    assert res.exit_code == 0, res.output
    for name, kind, _ in vectors.VECTORS:
        assert "== %s (%s, " % (name, kind) in res.output
        assert vectors.read(name, "hex") in res.output
    assert "'k': 'alarm'" in res.output


def test_decode__shows_the_dict() -> None:
    res = runner.invoke(cli.app, ["decode", "event", vectors.read("event_alarm", "hex")])
    assert res.exit_code == 0, res.output
    assert "'seq': 18" in res.output
    assert '"k": "alarm"' in res.output


def test_decode__accepts_spaced_hex() -> None:
    res = runner.invoke(cli.app, ["decode", "command", "A2 62 69 64 01 62 6F 70 66 72 65 62 6F 6F 74"])
    assert res.exit_code == 0, res.output
    assert "'op': 'reboot'" in res.output


def test_decode__says_what_is_wrong() -> None:
    res = runner.invoke(cli.app, ["decode", "event", "a1616101"])
    assert res.exit_code == 1
    assert "error: event.dev: missing (required)" in res.output
    res = runner.invoke(cli.app, ["decode", "event", "a161"])
    assert res.exit_code == 1
    assert "error: map length 1 past the end of input (1 byte left) at byte 0" in res.output
    res = runner.invoke(cli.app, ["decode", "event", "zz"])
    assert res.exit_code == 2
    assert "not hex" in res.output


def test_vectors_write__reproduces_the_checked_in_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(vectors, "folder", lambda: str(tmp_path))
    res = runner.invoke(cli.app, ["vectors", "--write"])
    assert res.exit_code == 0, res.output
    real = Path(cli.__file__).with_name("vectors")
    for name, _, _ in vectors.VECTORS:
        for ext in ("hex", "diag"):
            assert (tmp_path / f"{name}.{ext}").read_text() == (real / f"{name}.{ext}").read_text()
