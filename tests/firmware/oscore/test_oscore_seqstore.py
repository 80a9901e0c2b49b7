# runs-on: micropython
"""The sequence-number record on a real littlefs (vfs.VfsLfs2 on a RAM block device), with a
power cut after every single block write or erase of a save: the record read after the cut is
always the old limit or the new one, whole; a context booted on it never reuses a number."""
import gc
import os

import vfs

from firmware.oscore.context import SecurityContext
from firmware.oscore.seqstore import FileSeqStore

BS = 512
NBLOCKS = 32
SECRET = b"\x5a" * 16


class RecordingBlockDevice:
    """littlefs' extended block interface over a bytearray; logs every write and erase."""

    def __init__(self, data):
        self.data = data
        self.log = None

    def readblocks(self, block, buf, offset=0):
        a = block * BS + offset
        buf[:] = self.data[a:a + len(buf)]

    def writeblocks(self, block, buf, offset=0):
        a = block * BS + (offset or 0)
        self.data[a:a + len(buf)] = buf
        if self.log is not None:
            self.log.append((a, bytes(buf)))

    def ioctl(self, op, arg):
        if op == 4:
            return NBLOCKS
        if op == 5:
            return BS
        if op == 6:  # erase
            a = arg * BS
            self.data[a:a + BS] = b"\xff" * BS
            if self.log is not None:
                self.log.append((a, b"\xff" * BS))
            return 0
        return 0


def mount(data, where):
    bdev = RecordingBlockDevice(data)
    vfs.mount(vfs.VfsLfs2(bdev), where)
    return bdev


def test_record__power_cut_after_every_write_leaves_old_or_new():
    bdev = RecordingBlockDevice(bytearray(NBLOCKS * BS))
    vfs.VfsLfs2.mkfs(bdev)
    vfs.mount(vfs.VfsLfs2(bdev), "/lfsa")
    try:
        st = FileSeqStore("/lfsa/oscore.seq")
        for limit in (256, 512, 768):  # some history, so the save below overwrites a file
            st.save(limit, "00112233aabbccdd")
        before = bytearray(bdev.data)
        bdev.log = []
        st.save(1024, "00112233aabbccdd")
        ops = bdev.log
        bdev.log = None
    finally:
        vfs.umount("/lfsa")
    assert len(ops) >= 2, ops
    outcomes = {}
    image = bytearray(len(before))
    for k in range(len(ops) + 1):  # the cut comes after the first k operations
        gc.collect()
        image[:] = before
        for a, data in ops[0:k]:
            image[a:a + len(data)] = data
        mount(image, "/lfsb")
        try:
            rec = FileSeqStore("/lfsb/oscore.seq").load()
            leftovers = [n for n in os.listdir("/lfsb") if n != "oscore.seq"]
        finally:
            vfs.umount("/lfsb")
        assert rec in ((768, "00112233aabbccdd"), (1024, "00112233aabbccdd")), (k, rec)
        outcomes[rec[0]] = outcomes.get(rec[0], 0) + 1
        assert leftovers in ([], ["oscore.seq.tmp"]), leftovers
    assert outcomes.get(768) and outcomes.get(1024), outcomes  # both sides of the rename seen


def test_context__reboots_on_littlefs_without_reuse():
    bdev = RecordingBlockDevice(bytearray(NBLOCKS * BS))
    vfs.VfsLfs2.mkfs(bdev)
    used = []
    for boot in range(4):
        vfs.mount(vfs.VfsLfs2(bdev), "/lfsc")
        try:
            ctx = SecurityContext(SECRET, b"\x2a", b"", store=FileSeqStore("/lfsc/oscore.seq"),
                                  seq_block=3)
            for _ in range(boot + 2):
                used.append(bytes(ctx.protect_request(2, [], b"hb")[1]))
        finally:
            vfs.umount("/lfsc")
    assert len(used) == len(set(used)) == 2 + 3 + 4 + 5
