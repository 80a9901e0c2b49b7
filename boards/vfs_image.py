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


# littlefs metadata tags (littlefs SPEC.md "Metadata tags"): 1 invalid bit, 11 type bits,
# 10 id bits, 10 length bits, stored big-endian and XORed with the previous tag.
_TAG_INVALID = 0x8000_0000
_TYPE_INLINESTRUCT = 0x201  # id 0 in the superblock pair: version, block size, block count...
_TYPE_CRC_MASK = 0x700
_TYPE_CRC = 0x500
_LEN_DELETED = 0x3FF
_BLOCK_SIZES = (4096, 512, 1024, 2048, 8192, 16384, 32768, 65536, 256, 128)


def _superblock(block: bytes) -> tuple[int, int, int, int] | None:
    """(revision, version, block_size, block_count) from one block of the superblock pair, or None.

    Walks the block's tags from the start, as littlefs does when it fetches a metadata pair:
    after MicroPython has compacted the pair, other entries' tags can sit between the
    "littlefs" name tag and the superblock's inline struct, so no fixed offset holds it.
    """
    if len(block) < 8:
        return None
    revision = int.from_bytes(block[0:4], "little")
    found: tuple[int, int, int] | None = None
    ptag = 0xFFFF_FFFF
    off = 4
    while off + 4 <= len(block):
        tag = int.from_bytes(block[off : off + 4], "big") ^ ptag
        if tag & _TAG_INVALID:
            break
        kind = (tag >> 20) & 0x7FF
        ident = (tag >> 10) & 0x3FF
        length = tag & 0x3FF
        size = 0 if length == _LEN_DELETED else length
        if off + 4 + size > len(block):
            break
        if kind == _TYPE_INLINESTRUCT and ident == 0 and size >= 12:
            body = block[off + 4 : off + 16]
            version = int.from_bytes(body[0:4], "little")
            bsize = int.from_bytes(body[4:8], "little")
            bcount = int.from_bytes(body[8:12], "little")
            if bsize >= 128 and not bsize & (bsize - 1) and bcount >= 2:
                found = (version, bsize, bcount)
        ptag = tag
        if kind & _TYPE_CRC_MASK == _TYPE_CRC:
            # A CRC tag ends a commit; the next commit's first tag flips the invalid bit's sense.
            ptag ^= ((kind & 1) << 31) & 0xFFFF_FFFF
        off += 4 + size
    if found is None:
        return None
    return revision, found[0], found[1], found[2]


def _newer(a: int, b: int) -> bool:
    """littlefs revision counts wrap: a is newer than b when (a - b) is positive as int32."""
    diff = (a - b) & 0xFFFF_FFFF
    return diff != 0 and diff < 0x8000_0000


def geometry(image: bytes) -> tuple[int, int]:
    """(block_size, block_count) recorded in the image's superblock."""
    _version, block_size, block_count = _find_superblock(image)
    return block_size, block_count


def _find_superblock(image: bytes) -> tuple[int, int, int]:
    """(disk version, block_size, block_count) from the newer block of the superblock pair.

    The superblock lives in the metadata pair of blocks 0 and 1; each commit appends to one of
    them and a compaction rewrites the other with a higher revision count. The newer block
    that holds a superblock entry wins (block 0 alone when block 1 is blank, as in a fresh image).
    """
    for block_size in _BLOCK_SIZES:
        first = _superblock(image[:block_size])
        if first is not None and first[2] != block_size:
            continue  # block 0 read with the wrong bound; try the size it records
        second = _superblock(image[block_size : 2 * block_size])
        if second is not None and second[2] != block_size:
            second = None
        newest = first
        if second is not None and (first is None or _newer(second[0], first[0])):
            newest = second
        if newest is not None:
            return newest[1], newest[2], newest[3]
    raise VfsImageError("no littlefs superblock found: this is not a littlefs2 image")


def read(image: bytes) -> VfsContents:
    """Mount an image as MicroPython would and return its geometry and files.

    Raises VfsImageError when the image is not littlefs2, or when its byte length differs from
    the size its superblock records (such an image would not mount on the board either).
    """
    version, block_size, block_count = _find_superblock(image)
    if len(image) != block_size * block_count:
        raise VfsImageError(
            f"the image is {len(image)} bytes but its superblock says {block_count} blocks of "
            f"{block_size} ({block_size * block_count} bytes): it would not mount on a board"
        )
    # Mount with the on-disk version the image records: MicroPython's newer littlefs raises a
    # 2.0 image to 2.1 when it first writes, and a driver pinned to 2.0 refuses to mount that.
    config = _config(block_size, block_count)
    config["disk_version"] = version
    fs = LittleFS(mount=False, **config)
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
