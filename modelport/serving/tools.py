"""Where the serving tools are, and what is missing: torch-model-archiver, torchserve, Java.

TorchServe is in limited maintenance (no release since 0.12.0, pinned here): modelport supports it
as PyTorch's classic serving path. Its frontend is Java (17 or newer); its Python backend is this
environment's interpreter.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys

from modelport.errors import UnavailableError

JAVA_HINT = "install Java 17 or newer (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)"


def _script(name: str) -> str | None:
    """A console script of this environment first (the one whose Python runs the backend)."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.isfile(here) and os.access(here, os.X_OK) else shutil.which(name)


def package_version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


def _tool(dist: str, needed_for: str) -> str:
    """The console script of a pinned serving tool, or UnavailableError saying how to install it."""
    path = _script(dist)
    if path is None or package_version(dist) is None:
        pin = {"torch-model-archiver": "0.12.0", "torchserve": "0.12.0"}[dist]
        raise UnavailableError(f"{needed_for} needs {dist} (pip install -c modelport/constraints.txt {dist}=={pin}, "
                               "or `make venv`)")
    return path


def archiver() -> str:
    return _tool("torch-model-archiver", "--for torchserve")


def torchserve() -> str:
    return _tool("torchserve", "--serve-check")


def java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and os.path.isfile(os.path.join(home, "bin", "java")):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


def java_version(path: str | None = None) -> tuple[int, str] | None:
    """(major, the version line) of the java TorchServe would start, or None when there is none."""
    path = path or java()
    if path is None:
        return None
    try:
        proc = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = (proc.stderr or proc.stdout).strip().splitlines()[:1]
    m = re.search(r'version "(\d+)(?:\.(\d+))?', line[0]) if line else None
    if not m:
        return None
    major = int(m.group(2)) if m.group(1) == "1" else int(m.group(1))  # "1.8.0" is Java 8
    return major, line[0].strip()


def require_java() -> str:
    path = java()
    found = java_version(path)
    if found is None:
        raise UnavailableError(f"--serve-check runs TorchServe, whose frontend is Java, and no java was found: {JAVA_HINT}")
    if found[0] < 11:
        raise UnavailableError(f"--serve-check: TorchServe 0.12.0 needs Java 11 or newer, found {found[1]}: {JAVA_HINT}")
    return path


def java_reads(path: str) -> list[str]:
    """What the JVM reads outside /usr (bound already): Debian keeps its configuration in
    /etc/java-N-openjdk, linked from the JVM's conf folder."""
    home = os.path.dirname(os.path.dirname(os.path.realpath(path)))
    out = set()
    for root in (os.path.join(home, "conf"), os.path.join(home, "lib")):
        for entry in glob.glob(os.path.join(root, "**"), recursive=True):
            if os.path.islink(entry):
                target = os.path.realpath(entry)
                if target.startswith("/etc/"):
                    out.add("/".join(target.split("/")[:3]))
    return sorted(out) + ([home] if not home.startswith("/usr/") else [])
