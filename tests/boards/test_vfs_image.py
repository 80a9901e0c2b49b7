"""boards.vfs_image reads images that MicroPython's own littlefs has written to.

After MicroPython compacts the superblock pair, block 0 no longer holds the superblock struct
at a fixed offset (other entries' tags sit between the "littlefs" name and the struct), and its
littlefs raises the on-disk version to 2.1. These tests write with the real driver (the
`micropython` binary's VfsLfs2 on a RAM block device) and read the result back.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from littlefs import LittleFS

from boards import vfs_image
from utils.micropython import micropython_binary

BS, BC = 4096, 512

# Mounts the image from argv[1] on a RAM block device, writes /config.json and renames it
# to /c.json argv[3] times (each write a littlefs commit), and saves the image to argv[2].
_WRITER = """
import sys, os, vfs
class RamBlocks:
    def __init__(self, data):
        self.data = data
    def readblocks(self, n, buf, off=0):
        s = n * 4096 + off
        buf[:] = self.data[s:s + len(buf)]
    def writeblocks(self, n, buf, off=0):
        s = n * 4096 + off
        self.data[s:s + len(buf)] = buf
    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // 4096
        if op == 5:
            return 4096
        if op == 6:
            self.data[arg * 4096:(arg + 1) * 4096] = b"\\xff" * 4096
        return 0
with open(sys.argv[1], "rb") as f:
    data = bytearray(f.read())
vfs.mount(vfs.VfsLfs2(RamBlocks(data)), "/fs")
for i in range(int(sys.argv[3])):
    with open("/fs/config.json", "w") as f:
        f.write('{"n": %d}' % i)
    os.rename("/fs/config.json", "/fs/c.json")
vfs.umount("/fs")
with open(sys.argv[2], "wb") as f:
    f.write(data)
"""


def _write_on_micropython(tmp_path: Path, image: bytes, commits: int) -> bytes:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    src, dst = tmp_path / "in.img", tmp_path / "out.img"
    src.write_bytes(image)
    subprocess.run([micropython_binary(), "-X", "heapsize=8m", str(script), str(src), str(dst),
                    str(commits)], check=True, timeout=60, capture_output=True)
    return dst.read_bytes()


@pytest.fixture(scope="module")
def mp_written(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    fresh = vfs_image.pack({"/board.json": b"{}", "/main.py": b"x"}, block_size=BS, block_count=BC)
    return _write_on_micropython(tmp_path_factory.mktemp("lfs"), fresh, 50)


def _revision(image: bytes, block: int) -> int:
    return int.from_bytes(image[block * BS : block * BS + 4], "little")


def test_read__image_micropython_wrote_to(mp_written: bytes):
    assert mp_written[BS + 8 : BS + 16] == b"littlefs" or mp_written[8:16] == b"littlefs"
    # The case that failed: block 0 holds "littlefs" but no struct at the fixed offset.
    assert int.from_bytes(mp_written[28:32], "little") != BC
    assert vfs_image.geometry(mp_written) == (BS, BC)
    got = vfs_image.read(mp_written)
    assert (got.block_size, got.block_count) == (BS, BC)
    assert got.files == {"/board.json": b"{}", "/c.json": b'{"n": 49}', "/main.py": b"x"}


def test_read__block_1_newer(mp_written: bytes):
    # The pair is symmetric: the same two blocks swapped are an equally valid image whose
    # newer half is block 1.
    swapped = mp_written[BS : 2 * BS] + mp_written[:BS] + mp_written[2 * BS :]
    assert _revision(swapped, 1) > _revision(swapped, 0)
    assert vfs_image.read(swapped).files["/c.json"] == b'{"n": 49}'


def test_read__block_0_erased(mp_written: bytes):
    # A power cut during a compaction can leave block 0 erased: block 1 still has it all.
    newer_in_1 = b"\xff" * BS + mp_written[:BS] + mp_written[2 * BS :]
    assert vfs_image.geometry(newer_in_1) == (BS, BC)
    assert vfs_image.read(newer_in_1).files["/c.json"] == b'{"n": 49}'


def test_read__littlefs_python_commits_make_block_1_newer():
    image = vfs_image.pack({"/board.json": b"{}"}, block_size=BS, block_count=BC)
    for n in range(40):
        fs = LittleFS(mount=False, block_size=BS, block_count=BC, read_size=32, prog_size=32,
                      lookahead_size=32, block_cycles=100, disk_version=vfs_image.DISK_VERSION)
        fs.context.buffer = bytearray(image)
        fs.mount()
        with fs.open("/n.txt", "wb") as f:
            f.write(b"%d" % n)
        fs.unmount()
        image = bytes(fs.context.buffer)
    assert _revision(image, 1) > _revision(image, 0)
    assert vfs_image.read(image).files == {"/board.json": b"{}", "/n.txt": b"39"}


def test_read__again_after_micropython_writes_to_a_factory_image(tmp_path: Path):
    # The round trip the factory/virtual-board tools do: pack, let the board write, read back,
    # let it write again (MicroPython mounts what vfs_image read).
    fresh = vfs_image.pack({"/main.py": b"x"}, block_size=BS, block_count=BC)
    once = _write_on_micropython(tmp_path, fresh, 7)
    twice = _write_on_micropython(tmp_path, once, 13)
    assert vfs_image.read(twice).files == {"/c.json": b'{"n": 12}', "/main.py": b"x"}


def test_geometry__not_littlefs():
    with pytest.raises(vfs_image.VfsImageError, match="no littlefs superblock found"):
        vfs_image.geometry(b"\xff" * (2 * BS))
