# gasguard device app: freeze manifest (MicroPython's manifest.py format).
#
# Makers who build their own MicroPython with the app frozen in:
#
#     cd micropython/ports/esp32
#     make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/gasguard/firmware/manifest.py
#
# The same file decides what `gasguard image build` compiles into a factory image's vfs (it runs
# this file with the same functions, see boards/app_bundle.py), so a frozen build and a factory
# image carry the same modules. Host-only code stays out: a module whose first five lines hold
# "# gasguard: host-only", or that imports at its top level something MicroPython does not have
# (typer, pathlib, __future__, ... see _HOST_IMPORTS), is never frozen nor copied to a board.
#
# Bump the version when the device bytecode changes, not for comments (micropython-lib habit).

import os

metadata(description="gasguard: gas-leak alarm with a linked shutoff valve", version="0.1.0")

# FROZEN_MANIFEST replaces the board's own manifest: keep the port's frozen modules (asyncio,
# _boot, ...). `gasguard image build` skips this line: the MicroPython firmware has them already.
include("$(PORT_DIR)/boards/manifest.py")

# MicroPython runs these two by name at boot; in a factory image they stay source files at "/".
_ENTRY = ("boot.py", "main.py")
_NOT_APP = _ENTRY + ("manifest.py",)
_HOST_ONLY_MARK = "# gasguard: host-only"
# Modules MicroPython does not have: a module that imports one of these at its top level can
# only run on a host, so it is left out even without the mark.
_HOST_IMPORTS = {
    "__future__", "typing", "pathlib", "dataclasses", "enum", "abc", "functools", "itertools",
    "pprint", "subprocess", "shutil", "tempfile", "argparse", "tomllib", "importlib", "inspect",
    "concurrent", "typer", "click", "rich", "cbor2", "aiocoap", "fastapi", "starlette",
    "sqlalchemy", "alembic", "pydantic", "pydantic_settings", "httpx", "serial", "esptool",
    "littlefs", "mpremote", "pytest", "hypothesis",
}
# (file, why) for every module left out; `gasguard image build` reports them.
LEFT_OUT = []


def _host_only_reason(path):
    import ast

    with open(path, encoding="utf-8") as f:
        source = f.read()
    if any(line.strip() == _HOST_ONLY_MARK for line in source.splitlines()[:5]):
        return "marked host-only"
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None  # mpy-cross will name the error
    for node in tree.body:  # top level only: imports inside try/if are the module's own business
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        else:
            continue
        for name in names:
            if name.split(".")[0] in _HOST_IMPORTS:
                return "imports " + name.split(".")[0]
    return None


def _device_modules(package_dir):
    # Every .py under package_dir (relative to this file's folder, where the manifest runs),
    # minus entry points, this manifest and host-only modules; sorted so builds are repeatable.
    found = []
    for root, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, package_dir).replace(os.sep, "/")
            if rel in _NOT_APP:
                continue
            why = _host_only_reason(path)
            if why:
                LEFT_OUT.append((os.path.normpath(path).replace(os.sep, "/"), why))
                continue
            found.append(rel)
    return found


for _name in _ENTRY:
    if os.path.exists(_name):
        module(_name)

package("firmware", files=_device_modules("."), base_path="..")
package("protocol", files=_device_modules("../protocol"), base_path="..")
