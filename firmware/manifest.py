# gasguard device app: freeze manifest (MicroPython's manifest.py format).
#
# Makers who build their own MicroPython with the app frozen in:
#
#     cd micropython/ports/esp32
#     make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/gasguard/firmware/manifest.py
#
# The same file decides what `gasguard image build` compiles into a factory image's vfs (it runs
# this file with the same functions, see boards/app_bundle.py), so a frozen build and a factory
# image carry the same modules. Host-only code stays out: a module whose first lines hold
# "# gasguard: host-only" (the CLI, host tooling) is never frozen nor copied to a board.
#
# Bump the version when the device bytecode changes, not for comments (micropython-lib habit).

import os

metadata(description="gasguard: gas-leak alarm with a linked shutoff valve", version="0.1.0")

# FROZEN_MANIFEST replaces the board's own manifest: keep the port's frozen modules (asyncio,
# _boot, ...). `gasguard image build` skips this line: the MicroPython firmware has them already.
include("$(PORT_DIR)/boards/manifest.py")

# MicroPython runs these two by name at boot; in a factory image they stay source files at "/".
_ENTRY = ("boot.py", "main.py")
_HOST_ONLY_MARK = "# gasguard: host-only"
_NOT_APP = _ENTRY + ("manifest.py",)


def _device_modules(package_dir):
    # Every .py under package_dir (relative to this file's folder, where the manifest runs),
    # minus entry points, this manifest and host-only modules; sorted so builds are repeatable.
    found = []
    for root, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(root, name), package_dir).replace(os.sep, "/")
            if rel in _NOT_APP:
                continue
            with open(os.path.join(root, name), encoding="utf-8") as f:
                head = [f.readline() for _ in range(5)]
            if any(line.strip() == _HOST_ONLY_MARK for line in head):
                continue
            found.append(rel)
    return found


for _name in _ENTRY:
    if os.path.exists(_name):
        module(_name)

package("firmware", files=_device_modules("."), base_path="..")
package("protocol", files=_device_modules("../protocol"), base_path="..")
