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
    if os.path.isdir(dest) and force and os.listdir(dest) and not _is_model_dir(dest):
        raise UsageError(f"{dest} is a non-empty directory that is neither a SavedModel, a TF.js model nor a "
                         "PyTorch package; refusing to overwrite it")


def _is_model_dir(folder: str) -> bool:
    from modelport.torch_modules import is_package

    return (os.path.isfile(os.path.join(folder, "saved_model.pb")) or os.path.isfile(os.path.join(folder, "model.json"))
            or is_package(folder))


def place(built: str, dest: str, scratch: str) -> None:
    """Move `built` (inside scratch) to `dest`, replacing what --force allowed to replace."""
    dest = dest.rstrip("/")
    if os.path.exists(built + ".data"):
        if dest.endswith(".onnx"):
            _rename_external_data(built, dest)
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


def _rename_external_data(built: str, dest: str) -> None:
    """An ONNX model names its external data file inside it (`location`, relative to the model): the
    file written as `step1_onnx.onnx.data` and moved to `model.onnx.data` must be named so in the
    model too, or the placed model points at a file that is not there. Only the model file (small,
    parsed without its data) is rewritten."""
    old, new = os.path.basename(built) + ".data", os.path.basename(dest) + ".data"
    if old == new:
        return
    import onnx

    from modelport.onnx_external_data import rename_location

    model = onnx.load(built, load_external_data=False)
    rename_location(model, old, new)
    onnx.save(model, built)


def write_atomic(path: str, text: str) -> None:
    write_atomic_bytes(path, text.encode("utf-8"))


def write_atomic_bytes(path: str, data: bytes) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    write_via_temp(path, write, "file")


def usual_file_mode(path: str) -> None:
    """mkstemp creates files 0600; a report or manifest should get what open() would give (0666
    less the umask), so the team and CI can read it."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_via_temp(path: str | os.PathLike, write, what: str = "report") -> None:
    """Write a report file all at once: `write(tmp_path)` fills a temp file in the same folder, which
    then replaces `path` (a CI step never reads half a file). A folder that cannot be written is
    bad input: UsageError naming `what` and the path."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
        os.close(fd)
        try:
            write(tmp)
            usual_file_mode(tmp)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as e:
        raise UsageError(f"cannot write {what} {target!r}: {e.strerror or e}") from e
