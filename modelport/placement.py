"""Put an artifact in place atomically: it appears whole at its final path or not at all.

Everything is written inside a scratch folder made beside the destination (same filesystem, so a
rename is atomic), then renamed into place. An ONNX model with external data is two files; the
data file moves first, so a visible .onnx always has its data.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from modelport.errors import UsageError


def make_scratch(dest: str) -> str:
    parent = os.path.dirname(os.path.abspath(dest)) or "."
    try:
        os.makedirs(parent, exist_ok=True)
        return tempfile.mkdtemp(prefix=".modelport-tmp-", dir=parent)
    except OSError as e:
        raise UsageError(f"cannot write beside {dest}: {e.strerror}") from None


def check_free(dest: str, force: bool) -> None:
    if os.path.lexists(dest) and not force:
        raise UsageError(f"{dest} already exists; pass --force to overwrite it")
    if os.path.isdir(dest) and force and not os.path.isfile(os.path.join(dest, "saved_model.pb")) and os.listdir(dest):
        raise UsageError(f"{dest} is a non-empty directory that is not a SavedModel; refusing to overwrite it")


def place(built: str, dest: str, scratch: str) -> None:
    """Move `built` (inside scratch) to `dest`, replacing what --force allowed to replace."""
    dest = dest.rstrip("/")
    if os.path.exists(built + ".data"):
        os.replace(built + ".data", dest + ".data")
    if os.path.isdir(built):
        if os.path.lexists(dest):
            trash = os.path.join(scratch, ".replaced")
            os.replace(dest, trash)  # the old artifact leaves in one step, the new one arrives in one step
        os.replace(built, dest)
    else:
        if os.path.isdir(dest):
            shutil.rmtree(dest)
        os.replace(built, dest)


def write_atomic(path: str, text: str) -> None:
    write_atomic_bytes(path, text.encode("utf-8"))


def write_atomic_bytes(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".modelport-tmp-", dir=os.path.dirname(os.path.abspath(path)) or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        usual_file_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def usual_file_mode(path: str) -> None:
    """mkstemp creates files 0600; a report or manifest should get what open() would give (0666
    less the umask), so the team and CI can read it."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
