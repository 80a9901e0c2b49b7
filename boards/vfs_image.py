"""littlefs2 images of a board's `vfs` partition, byte for byte what MicroPython's VfsLfs2 mounts.

What this module is: packing a set of files into an image of an exact geometry, and reading an
image back (geometry from the superblock, every file with its bytes). What it is not: it knows
nothing of boards, apps or flash offsets (see boards/image.py).

Design choices:
- The geometry is not negotiable. littlefs records the block count in its superblock, and
  MicroPython on ESP32 creates the vfs partition from 0x200000 to the end of the flash: an image
  of any other size does not mount there and the board reports a corrupted filesystem.
- The small-I/O settings follow MicroPython's `VfsLfs2` defaults (extmod/vfs_lfs.c: read size
  32, program size 32, lookahead 32, 100 block cycles), so the device keeps writing to the
  image with the settings it was made with.
- The on-disk version is pinned to littlefs 2.0: every MicroPython that loads .mpy v6.3 mounts
  it, and newer littlefs drivers read it unchanged.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

from littlefs import LittleFS, LittleFSError

# MicroPython's VfsLfs2 defaults (extmod/vfs_lfs.c, mp_vfs_lfs2_make_new / mkfs).
READ_SIZE = 32
PROG_SIZE = 32
LOOKAHEAD_SIZE = 32
BLOCK_CYCLES = 100
# littlefs on-disk version 2.0 (major << 16 | minor).
DISK_VERSION = 0x0002_0000


class VfsImageError(ValueError):
    """A vfs image cannot be built or read; the message names the file or the size at fault."""


@dataclass(frozen=True)
class VfsContents:
    """What a littlefs image holds: its geometry and every regular file (path -> bytes)."""

    block_size: int
    block_count: int
    used_blocks: int
    files: dict[str, bytes]

    @property
    def size(self) -> int:
        """Bytes the image spans on flash."""
        return self.block_size * self.block_count


def _config(block_size: int, block_count: int) -> dict[str, int]:
    return {
        "block_size": block_size,
        "block_count": block_count,
        "read_size": READ_SIZE,
        "prog_size": PROG_SIZE,
        "lookahead_size": LOOKAHEAD_SIZE,
        "block_cycles": BLOCK_CYCLES,
        "disk_version": DISK_VERSION,
    }


def _check_geometry(block_size: int, block_count: int) -> None:
    if block_size < 128 or block_size & (block_size - 1):
        raise VfsImageError(f"block size {block_size}: expected a power of two of at least 128")
    if block_count < 2:
        raise VfsImageError(f"block count {block_count}: littlefs needs at least 2 blocks")


def pack(files: Mapping[str, bytes], *, block_size: int, block_count: int) -> bytes:
    """Format a fresh littlefs2 image of exactly block_size * block_count bytes holding files.

    Paths are absolute POSIX paths ("/lib/protocol/cbor.mpy"); parent folders are created.
    Raises VfsImageError when the files do not fit, naming how much was asked and what is there.
    """
    _check_geometry(block_size, block_count)
    fs = LittleFS(mount=False, **_config(block_size, block_count))
    fs.format()
    fs.mount()
    for path in sorted(files):
        data = files[path]
        if not path.startswith("/") or path.endswith("/") or "//" in path:
            raise VfsImageError(f"{path!r}: expected an absolute file path such as /lib/x.mpy")
        parent = posixpath.dirname(path)
        try:
            if parent != "/":
                fs.makedirs(parent, exist_ok=True)
            with fs.open(path, "wb") as f:
                f.write(data)
        except LittleFSError as e:
            if e.code == LittleFSError.Error.LFS_ERR_NOSPC:
                total = sum(len(v) for v in files.values())
                raise VfsImageError(
                    f"the files do not fit in the vfs partition: {total} bytes in {len(files)} "
                    f"files, the partition is {block_size * block_count} bytes "
                    f"({block_count} blocks of {block_size}); {path} was the first that did "
                    "not fit. Leave modules out of the app or use a board with more flash"
                ) from None
            raise VfsImageError(f"{path}: littlefs refused it ({e})") from None
    fs.unmount()
    image = bytes(fs.context.buffer)
    if len(image) != block_size * block_count:  # littlefs-python sizes its buffer from the config
        raise VfsImageError(f"littlefs produced {len(image)} bytes, expected {block_size * block_count}")
    return image


def geometry(image: bytes) -> tuple[int, int]:
    """(block_size, block_count) recorded in the image's superblock.

    The superblock sits in block 0 and block 1 with the magic "littlefs" at byte 8; its inline
    struct holds version, block size and block count (little-endian uint32 each).
    """
    for block_size in (4096, 512, 1024, 2048, 8192, 16384, 32768, 65536, 256, 128):
        for start in (0, block_size):
            if len(image) < start + 32:
                continue
            if image[start + 8 : start + 16] == b"littlefs":
                # tag (4 bytes, big-endian) at 16, then version, block_size, block_count.
                size = int.from_bytes(image[start + 24 : start + 28], "little")
                count = int.from_bytes(image[start + 28 : start + 32], "little")
                if size == block_size or start == 0:
                    return size, count
    raise VfsImageError("no littlefs superblock found: this is not a littlefs2 image")


def read(image: bytes) -> VfsContents:
    """Mount an image as MicroPython would and return its geometry and files.

    Raises VfsImageError when the image is not littlefs2, or when its byte length differs from
    the size its superblock records (such an image would not mount on the board either).
    """
    block_size, block_count = geometry(image)
    if len(image) != block_size * block_count:
        raise VfsImageError(
            f"the image is {len(image)} bytes but its superblock says {block_count} blocks of "
            f"{block_size} ({block_size * block_count} bytes): it would not mount on a board"
        )
    fs = LittleFS(mount=False, **_config(block_size, block_count))
    fs.context.buffer = bytearray(image)
    try:
        fs.mount()
    except LittleFSError as e:
        raise VfsImageError(f"the littlefs image does not mount ({e})") from None
    files: dict[str, bytes] = {}
    for root, _dirs, names in fs.walk("/"):
        for name in names:
            path = posixpath.join(root, name)
            with fs.open(path, "rb") as f:
                files[path] = f.read()
    used = fs.used_block_count
    fs.unmount()
    return VfsContents(block_size, block_count, used, dict(sorted(files.items())))
