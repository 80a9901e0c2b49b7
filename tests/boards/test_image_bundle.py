"""The app bundle (boards/app_bundle.py): firmware/manifest.py run as MicroPython's build runs it,
host-only modules left out, entry points kept as source, mpy-cross errors naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from boards.app_bundle import (
    MANIFEST,
    AppBundleError,
    build_app_files,
    device_path,
    read_manifest,
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small copy of the repo layout with the real firmware/manifest.py."""
    fw = tmp_path / "firmware"
    proto = tmp_path / "protocol"
    (fw / "drivers").mkdir(parents=True)
    proto.mkdir()
    shutil.copy(MANIFEST, fw / "manifest.py")
    (fw / "__init__.py").write_text("")
    (fw / "main.py").write_text("import firmware.app\nfirmware.app.run()\n")
    (fw / "boot.py").write_text("# boot\n")
    (fw / "app.py").write_text("def run():\n    return 42\n")
    (fw / "drivers" / "__init__.py").write_text("")
    (fw / "drivers" / "valve.py").write_text("CLOSED = 1\n")
    (fw / "tool.py").write_text('"""Host helper."""\n# gasguard: host-only\nimport typer\n')
    (proto / "__init__.py").write_text("")
    (proto / "cbor.py").write_text("def dumps(x):\n    return b''\n")
    (proto / "cli.py").write_text("# gasguard: host-only\nimport typer\napp = typer.Typer()\n")
    (fw / "report.py").write_text('"""Host report."""\nimport typer\n')  # unmarked, but host-only
    (fw / "maybe.py").write_text("try:\n    import typing\nexcept ImportError:\n    pass\n")
    (fw / "__pycache__").mkdir()
    (fw / "__pycache__" / "junk.py").write_text("x = 1\n")
    return tmp_path


def test_read_manifest__device_modules_only(tree: Path):
    m = read_manifest(tree / "firmware" / "manifest.py")
    assert [mod.target for mod in m.modules] == [
        "boot.py", "main.py",
        "firmware/__init__.py", "firmware/app.py", "firmware/maybe.py",
        "firmware/drivers/__init__.py", "firmware/drivers/valve.py",
        "protocol/__init__.py", "protocol/cbor.py",
    ]
    assert m.left_out == [
        (str(tree / "firmware" / "report.py"), "imports typer"),
        (str(tree / "firmware" / "tool.py"), "marked host-only"),
        (str(tree / "protocol" / "cli.py"), "marked host-only"),
    ]
    assert m.version == "0.1.0"
    assert m.skipped_includes == ["$(PORT_DIR)/boards/manifest.py"]


def test_build_app_files__entry_points_source_rest_mpy(tree: Path):
    files = build_app_files(read_manifest(tree / "firmware" / "manifest.py"))
    assert sorted(files) == [
        "/boot.py", "/lib/firmware/__init__.mpy", "/lib/firmware/app.mpy",
        "/lib/firmware/drivers/__init__.mpy", "/lib/firmware/drivers/valve.mpy",
        "/lib/firmware/maybe.mpy", "/lib/protocol/__init__.mpy", "/lib/protocol/cbor.mpy", "/main.py",
    ]
    assert files["/main.py"] == b"import firmware.app\nfirmware.app.run()\n"
    assert files["/lib/firmware/app.mpy"][:2] == b"M\x06"


def test_build_app_files__syntax_error_names_the_file(tree: Path):
    bad = tree / "firmware" / "app.py"
    bad.write_text("def run(:\n    pass\n")
    with pytest.raises(AppBundleError) as e:
        build_app_files(read_manifest(tree / "firmware" / "manifest.py"))
    assert str(e.value) == f"{bad}: mpy-cross cannot compile it: line 1: SyntaxError: invalid syntax"


def test_build_app_files__entry_point_is_compiled_too(tree: Path):
    (tree / "firmware" / "main.py").write_text("while True\n")
    with pytest.raises(AppBundleError) as e:
        build_app_files(read_manifest(tree / "firmware" / "manifest.py"))
    assert str(e.value) == (f"{tree / 'firmware' / 'main.py'}: mpy-cross cannot compile it: "
                            "line 1: SyntaxError: invalid syntax")


def test_read_manifest__require_refused(tmp_path: Path):
    m = tmp_path / "manifest.py"
    m.write_text('require("aioble")\n')
    with pytest.raises(AppBundleError) as e:
        read_manifest(m)
    assert str(e.value) == ("require('aioble'): a factory image cannot fetch micropython-lib "
                            "packages; put the module in firmware/ or use a MicroPython firmware "
                            "that has it frozen")


def test_read_manifest__missing_module(tmp_path: Path):
    m = tmp_path / "manifest.py"
    m.write_text('module("gone.py")\n')
    with pytest.raises(AppBundleError) as e:
        read_manifest(m)
    assert str(e.value) == f"{tmp_path / 'gone.py'}: named by the manifest but not found"


def test_read_manifest__broken_manifest(tmp_path: Path):
    m = tmp_path / "manifest.py"
    m.write_text("package(\n")
    with pytest.raises(AppBundleError, match=r"manifest\.py: the manifest failed: SyntaxError"):
        read_manifest(m)


def test_read_manifest__same_module_twice(tmp_path: Path):
    (tmp_path / "a.py").write_text("")
    m = tmp_path / "manifest.py"
    m.write_text('module("a.py")\nmodule("a.py")\n')
    with pytest.raises(AppBundleError) as e:
        read_manifest(m)
    assert str(e.value) == f"{m}: names a.py more than once"


def test_read_manifest__package_without_files_and_include(tmp_path: Path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "x.py").write_text("")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "manifest.py").write_text('module("y.py")\n')
    (tmp_path / "extra" / "y.py").write_text("")
    m = tmp_path / "manifest.py"
    m.write_text('package("pkg")\ninclude("extra")\ninclude("$(MPY_DIR)/extmod/asyncio")\n')
    got = read_manifest(m)
    assert [x.target for x in got.modules] == ["pkg/__init__.py", "pkg/sub/x.py", "y.py"]
    assert got.skipped_includes == ["$(MPY_DIR)/extmod/asyncio"]


@pytest.mark.parametrize(("target", "path"), [
    ("main.py", "/main.py"),
    ("boot.py", "/boot.py"),
    ("protocol/cbor.py", "/lib/protocol/cbor.mpy"),
    ("firmware/drivers/valve.py", "/lib/firmware/drivers/valve.mpy"),
    ("firmware/main.py", "/lib/firmware/main.mpy"),
])
def test_device_path(target: str, path: str):
    assert device_path(target) == path


def test_real_manifest__every_module_is_in_or_left_out_with_a_reason():
    repo = MANIFEST.parents[1]
    m = read_manifest()
    targets = {mod.target for mod in m.modules}
    left_out = {Path(f).relative_to(repo).as_posix(): why for f, why in m.left_out}
    for tree in ("firmware", "protocol"):
        for p in (repo / tree).rglob("*.py"):
            rel = p.relative_to(repo).as_posix()
            if "__pycache__" in rel or rel in ("firmware/manifest.py", "firmware/main.py",
                                               "firmware/boot.py"):
                continue
            assert (rel in targets) != (rel in left_out), rel
    assert all(why == "marked host-only" or why.startswith("imports ") for why in left_out.values())


def test_check_imports__device_code_importing_a_host_module(tree: Path):
    (tree / "firmware" / "app.py").write_text(
        "from firmware import tool\nimport protocol.cli\nfrom . import drivers\n"
        "from .drivers import valve\nfrom protocol import cbor, nothing_here\n")
    with pytest.raises(AppBundleError) as e:
        build_app_files(read_manifest(tree / "firmware" / "manifest.py"))
    assert str(e.value) == (
        "the app would fail to import on the board: firmware/app.py imports firmware.tool, but "
        "firmware/tool.py is left out of the image (marked host-only); firmware/app.py imports "
        "protocol.cli, but protocol/cli.py is left out of the image (marked host-only). Keep "
        "device modules free of host-only imports, or do not import host-only modules from "
        "device code")


def test_check_imports__missing_module(tree: Path):
    (tree / "firmware" / "main.py").write_text("import firmware.gone\n")
    with pytest.raises(AppBundleError) as e:
        build_app_files(read_manifest(tree / "firmware" / "manifest.py"))
    assert str(e.value).startswith("the app would fail to import on the board: main.py imports "
                                   "firmware.gone, but there is no firmware/gone.py in the app.")
