"""What the workers used (CPU seconds, the largest peak RSS), reported by each worker and summed
by the process that started them.

Why: under the sandbox each worker runs in a PID namespace of its own (bubblewrap), and its CPU
time and peak RSS no longer reach the parent's getrusage(RUSAGE_CHILDREN) (measured:
`modelport convert fixtures/models.py:mlp --to onnx` showed 0.33 s of CPU and 39 MB under
/usr/bin/time, against 7.7 s and 906 MB with the sandbox off). So each worker takes its own
getrusage (itself and its waited-for children) as it ends and puts it in its result
(modelport/workers/shell.py); the parent adds up what its RUSAGE_CHILDREN cannot see
(modelport/workers/spawn.py; a batch job reports its confined workers), and with
MODELPORT_USAGE_FILE set a command writes those totals there as it exits: a benchmark adds them
to what getrusage gives it (benchmarks/bench_convert.py).
"""

from __future__ import annotations

import atexit
import json
import os
import resource

ENV_FILE = "MODELPORT_USAGE_FILE"

# What getrusage cannot see from here: the usage of confined workers (and of the workers they started).
_hidden = {"workers": 0, "cpu_seconds": 0.0, "max_rss_bytes": 0}
_registered = False


def own_usage() -> dict:
    """What a worker reports as it ends: its own CPU time and peak RSS with its waited-for
    children's (which its parent sees only when the worker is not confined), and apart from it
    what its own confined workers used (which no getrusage above them sees)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu_seconds": round(me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, 3),
            "max_rss_bytes": max(me.ru_maxrss, kids.ru_maxrss) * 1024,  # Linux reports KiB
            "hidden": dict(_hidden)}


def add(usage: dict | None, confined: bool) -> None:
    """Count one finished worker's report: all of it when it ran confined, else only what its own
    confined workers used (the rest reaches this process's RUSAGE_CHILDREN already)."""
    global _registered
    if not usage:
        return
    hidden = usage.get("hidden") or {}
    _hidden["workers"] += 1 if confined else 0
    _hidden["workers"] += int(hidden.get("workers") or 0)
    _hidden["cpu_seconds"] += float(hidden.get("cpu_seconds") or 0.0)
    _hidden["max_rss_bytes"] = max(_hidden["max_rss_bytes"], int(hidden.get("max_rss_bytes") or 0))
    if confined:
        _hidden["cpu_seconds"] += float(usage.get("cpu_seconds") or 0.0)
        _hidden["max_rss_bytes"] = max(_hidden["max_rss_bytes"], int(usage.get("max_rss_bytes") or 0))
    if not _registered and os.environ.get(ENV_FILE):
        atexit.register(_write)
        _registered = True


def hidden_totals() -> dict:
    """{workers, cpu_seconds, max_rss_bytes} of the confined workers under this process so far."""
    return dict(_hidden)


def _write() -> None:
    try:
        with open(os.environ[ENV_FILE], "w") as f:
            json.dump({**hidden_totals(), "cpu_seconds": round(_hidden["cpu_seconds"], 3)}, f)
    except OSError:  # a benchmark's file that cannot be written must not fail the user's command
        pass
