# Small durable files on the board's littlefs: write to a temporary name, then rename over
# the real one. littlefs renames atomically, so after a power cut a reader sees either the
# whole old file or the whole new one, never a torn write. The same holds on the host's POSIX
# filesystem, where the virtual board and the CPython tests run.
#
# What this is not: a database. Files are small (a few hundred bytes) and written rarely
# (events, valve state, powered-hours ticks), so wear stays far below littlefs' limits.
import json
import os


class StoreError(Exception):
    """A file could not be read or written; the message names the file and the reason."""


def join(root, name):
    if not root or root == "/":
        return "/" + name.lstrip("/")
    return root.rstrip("/") + "/" + name.lstrip("/")


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def mkdir(path):
    try:
        os.mkdir(path)
    except OSError:
        if not exists(path):
            raise


def write_atomic(path, data):
    """Write bytes/str so that `path` holds either the old or the new content, whole."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data if isinstance(data, (bytes, bytearray)) else data.encode())
            if hasattr(f, "flush"):
                f.flush()
        try:
            os.rename(tmp, path)
        except OSError:
            # Some filesystems refuse to rename over an existing file: remove it first
            # (littlefs and POSIX do not need this; it is the fallback).
            remove(path)
            os.rename(tmp, path)
    except OSError as e:
        raise StoreError("%s: write failed (%s)" % (path, e))


def read_bytes(path):
    """Content of `path`, or None when it does not exist. A leftover `.tmp` is ignored: it
    may be a write that a power cut tore, and the rename never happened."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def read_json(path):
    """Parsed JSON object of `path`, None when missing; StoreError when it is not valid JSON."""
    data = read_bytes(path)
    if data is None:
        return None
    try:
        obj = json.loads(data)
    except ValueError as e:
        raise StoreError("%s: not valid JSON (%s)" % (path, e))
    return obj


def write_json(path, obj):
    write_atomic(path, json.dumps(obj))


def listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []
