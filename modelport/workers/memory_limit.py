"""Bound the memory of a worker that loads or runs a model: `--max-memory SIZE`.

A hostile or simply oversized model (a declared shape of terabytes, a graph whose intermediate
tensors grow without end) must end with one line and an exit code, not freeze the machine while
the kernel's out-of-memory killer chooses a victim. Why a watch of resident memory and not an
rlimit: RLIMIT_AS counts address space, which TensorFlow, XLA and the torch allocator reserve far
beyond what they use (a worker with both imported maps several GB it never touches), so a limit
that means "this much RAM" cannot be written as one; and cgroups need a systemd or a writable
cgroup tree that a CI container rarely has. The watch sums the resident set of the worker's whole
process tree (bubblewrap's processes and the confined Python under them are all the parent's
descendants) with psutil every POLL_SECONDS, and kills the tree when it passes the limit. With the
limit `off` nothing is watched.

MODELPORT_MAX_MEMORY carries the choice to every worker and batch job: a size (`8G`, `512M`,
`1.5GiB`, bytes), `off`, or `auto` (the default: 80% of this machine's physical memory, so that
one runaway worker cannot take the machine with it).
"""

from __future__ import annotations

import os
import re
import threading

from modelport.errors import UsageError

ENV_MAX_MEMORY = "MODELPORT_MAX_MEMORY"
AUTO_FRACTION = 0.8
POLL_SECONDS = 0.2
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int | None:
    """Bytes for `8G`, `512M`, `1.5GiB`, `1000000`; None for `off`; 80% of RAM for `auto`."""
    value = str(text).strip()
    if value.lower() in ("off", "none"):
        return None
    if value.lower() in ("auto", ""):
        return auto_limit()
    m = _SIZE.match(value)
    if not m:
        raise UsageError(f"--max-memory {text!r}: expected a size such as 8G, 512M or 1.5GiB, or 'auto' or 'off'")
    size = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if size < 64 << 20:
        raise UsageError(f"--max-memory {text!r}: at least 64M (a worker with its runtime imported needs more)")
    return size


def auto_limit() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total * AUTO_FRACTION)
    except Exception:  # no psutil or no /proc: nothing to watch with
        return None


def limit() -> int | None:
    """The limit in force for this process's workers (bytes), or None."""
    return parse_size(os.environ.get(ENV_MAX_MEMORY, "auto"))


def describe(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


class MemoryWatch:
    """A thread that kills `pid`'s process tree once its resident memory passes `limit_bytes`
    (none when the limit is None). `exceeded` says whether it did."""

    def __init__(self, pid: int, limit_bytes: int | None):
        self.limit = limit_bytes
        self.exceeded = False
        self._stop = threading.Event()
        self._thread = None
        self._root = None
        if limit_bytes is not None:
            try:
                import psutil

                self._root = psutil.Process(pid)
            except Exception:  # gone already, or no psutil: nothing to watch
                pass
        if self._root is not None:
            self._thread = threading.Thread(target=self._run, name="modelport-memory-watch", daemon=True)
            self._thread.start()

    def _tree(self):
        try:
            return [self._root] + self._root.children(recursive=True)
        except Exception:
            return []

    def _run(self) -> None:
        while not self._stop.is_set():
            procs = self._tree()
            if not procs:
                return
            total = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                except Exception:  # exited between the listing and the read
                    pass
            if total > self.limit:
                self.exceeded = True
                for p in reversed(procs):  # the Python under bwrap first, then bwrap itself
                    try:
                        p.kill()
                    except Exception:
                        pass
                return
            self._stop.wait(POLL_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def message(self, what: str) -> str:
        return (f"the {what} process used more than {describe(self.limit)} of memory and was stopped "
                f"(--max-memory {describe(self.limit)}; raise it, or 'off', if the model needs more)")
