"""What the figures were measured on: CPU, cores, kernel, Python, package versions, load.

A throughput figure without its machine and the machine's load at the time is not a figure."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

PACKAGES = ("aiocoap", "cbor2", "uvloop", "sqlalchemy", "psycopg", "fastapi", "uvicorn", "py-spy")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def describe() -> dict[str, Any]:
    """The machine as the report prints it."""
    mem_kb = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
                    break
    except OSError:
        pass
    return {
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(mem_kb / 1048576, 1) if mem_kb else None,
        "kernel": platform.release(),
        "python": "%s %s" % (platform.python_implementation(), platform.python_version()),
        "executable": sys.executable,
        "packages": versions(),
        "load_average_at_start": load_average(),
    }
