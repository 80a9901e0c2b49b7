"""The MicroPython plugin reports pass, failure (with MicroPython's traceback) and skip."""

from pathlib import Path

from utils.micropython import run_module


def test_run_module__reports_each_outcome(tmp_path: Path) -> None:
    mod = tmp_path / "test_sample.py"
    mod.write_text(
        "# runs-on: micropython\n"
        "def test_ok():\n    assert 1 + 1 == 2\n"
        "def test_bad():\n    x = {}\n    x['missing']\n"
        "class SkipTest(Exception):\n    pass\n"
        "def test_skip():\n    raise SkipTest('not here')\n"
    )
    res = run_module(mod, ["test_ok", "test_bad", "test_skip", "test_absent"], "64k")
    assert res["test_ok"][0] == "passed"
    assert res["test_bad"][0] == "failed"
    assert "KeyError" in res["test_bad"][1]
    assert res["test_skip"] == ("skipped", "not here")
    assert res["test_absent"][0] == "failed"
    assert "did not report" in res["test_absent"][1]


def test_run_module__heap_limit_applies(tmp_path: Path) -> None:
    mod = tmp_path / "test_heap.py"
    mod.write_text("def test_big():\n    b = bytearray(100 * 1024)\n")
    res = run_module(mod, ["test_big"], "64k")
    assert res["test_big"][0] == "failed"
    assert "MemoryError" in res["test_big"][1]
