"""Refuse a zip archive that escapes its folder or would expand without bound, before any library
opens it.

`.pt2` (ExportedProgram), TorchScript `.pt`, `.keras` and PyTorch weight files are zip archives
that torch and Keras unpack or memory-map. An entry named `../../x` or `/etc/x`, a symbolic link, or
a member that inflates a thousandfold (a zip bomb) is hostile whatever the library would do with
it, so it is refused with exit 2 from the central directory alone: nothing is decompressed.
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from pathlib import PurePosixPath

from modelport.errors import UsageError

MAX_ENTRIES = 1_000_000
MAX_EXPANDED_BYTES = 256 << 30  # far above any model; MODELPORT_MAX_ARCHIVE_BYTES overrides
BOMB_RATIO = 100  # expanded / stored, judged only above BOMB_MIN_BYTES (weights are stored, ratio ~1)
BOMB_MIN_BYTES = 1 << 30
# What zipfile raises on a damaged archive besides BadZipFile (found by benchmarks/fuzz.py on
# TorchScript files): zlib.error from a corrupt deflate stream, UnicodeDecodeError from a name
# flagged UTF-8 that is not, NotImplementedError from a version or compression method field
# overwritten ("zip file version 25.5"), RuntimeError for an entry flagged encrypted, ValueError
# and struct.error from header fields out of range.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, UnicodeDecodeError, NotImplementedError, RuntimeError, ValueError,
              struct.error, OSError, EOFError)


def _escapes(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


def check_zip(archive: zipfile.ZipFile, src: str) -> None:
    """UsageError naming the first hostile entry of an open archive (central directory only)."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise UsageError(f"{src}: an archive of {len(infos)} entries (more than {MAX_ENTRIES}): refused")
    limit = int(os.environ.get("MODELPORT_MAX_ARCHIVE_BYTES", MAX_EXPANDED_BYTES))
    expanded = stored = 0
    for info in infos:
        if _escapes(info.filename):
            raise UsageError(f"{src}: archive entry {info.filename!r} points outside the archive: refused")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UsageError(f"{src}: archive entry {info.filename!r} is a symbolic link: refused")
        expanded += info.file_size
        stored += info.compress_size
    if expanded > limit:
        raise UsageError(f"{src}: the archive expands to {expanded} bytes (more than {limit}; "
                         "MODELPORT_MAX_ARCHIVE_BYTES raises the limit): refused")
    if expanded > BOMB_MIN_BYTES and expanded > BOMB_RATIO * max(stored, 1):
        raise UsageError(f"{src}: the archive expands {expanded // max(stored, 1)}-fold ({stored} bytes to {expanded}): "
                         "a zip bomb, refused")


def check_zip_file(src: str) -> None:
    """check_zip for a path; a file that is not a zip is left to its loader."""
    try:
        with zipfile.ZipFile(src) as archive:
            check_zip(archive, src)
    except ZIP_ERRORS:
        return
