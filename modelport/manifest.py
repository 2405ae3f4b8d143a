"""The provenance manifest written beside every artifact (`<artifact>.modelport.json`).

It records where the artifact came from (source path and sha256), how (route, each converter's
name and version, options, timings), and the I/O map the validator uses to feed the same tensors
to source and artifact. Validation results are added to it by the validate step.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from typing import Any

import modelport

MANIFEST_SUFFIX = ".modelport.json"


def manifest_path(artifact: str) -> str:
    return artifact.rstrip("/") + MANIFEST_SUFFIX


def sha256_of(path: str) -> str | None:
    """Hash of a file, or of a directory's files (relative names and contents, in sorted order)."""
    if not os.path.exists(path):
        return None
    h = hashlib.sha256()
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            # Python's bytecode cache appears when a PyTorch package is imported: not the artifact.
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                full = os.path.join(root, name)
                h.update(os.path.relpath(full, path).encode())
                _feed(h, full)
    else:
        _feed(h, path)
    return h.hexdigest()


def size_on_disk(path: str) -> int:
    """Bytes of a file, a directory's files, or an ONNX model with its external data file."""
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    total = os.path.getsize(path) if os.path.exists(path) else 0
    if path.endswith(".onnx") and os.path.exists(path + ".data"):
        total += os.path.getsize(path + ".data")
    return total


def human_size(n: int | None) -> str:
    """Bytes for people: 7.7 KB, 59.4 MB (sizes on disk, memory)."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _feed(h, path: str) -> None:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)


def build(*, source: dict[str, Any], artifact: dict[str, Any], route: str, steps: list[dict], options: dict,
          io_map: dict) -> dict[str, Any]:
    return {
        "modelport_version": modelport.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "source": source,
        "artifact": artifact,
        "route": route,
        "steps": steps,
        "options": options,
        "io_map": io_map,
        "validation": None,
    }


def load(artifact: str) -> dict[str, Any] | None:
    path = manifest_path(artifact)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)
