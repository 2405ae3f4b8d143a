"""What machine a benchmark ran on, so its numbers can be read (and a baseline compared) fairly.

Only cheap reads: /proc/cpuinfo, os, platform and psutil (a core dependency). Runtime versions
come from the benchmark workers, which import the runtimes; this process does not.
"""

from __future__ import annotations

import os
import platform
import sys


def usable_cores() -> int:
    """The cores this process may run on (its affinity), which is what a thread count should follow."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info() -> dict:
    import psutil

    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    return {
        "cpu": cpu_model(),
        "architecture": platform.machine(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": usable_cores(),
        "memory_bytes": psutil.virtual_memory().total,
        "load_average_1min": load,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "hostname": platform.node(),
    }
