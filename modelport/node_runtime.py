"""Where Node.js and the TF.js runner's npm packages are, and what is missing when they are not.

TensorFlow.js models run in a real JavaScript runtime: Node with @tensorflow/tfjs-core, -converter
and the cpu and wasm backends (pure JavaScript and WebAssembly from npm; @tensorflow/tfjs-node
cannot be installed here, it downloads a native library from outside the package registries).
`make node` installs the packages pinned by modelport/js/package-lock.json into <stack venv>/node;
MODELPORT_NODE names another `node` binary and MODELPORT_NODE_MODULES another node_modules folder.
Missing pieces are UnavailableError (exit 4) saying what to install.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess

from modelport.errors import UnavailableError

ENV_NODE = "MODELPORT_NODE"
ENV_NODE_MODULES = "MODELPORT_NODE_MODULES"
MIN_NODE_MAJOR = 18  # @tensorflow/tfjs 4.22's oldest supported Node
PACKAGES = ("@tensorflow/tfjs-core", "@tensorflow/tfjs-converter", "@tensorflow/tfjs-backend-cpu",
            "@tensorflow/tfjs-backend-wasm")
RUNNER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js", "tfjs_runner.js")


def node_modules_dir() -> str:
    """$MODELPORT_NODE_MODULES, else <the pinned stack's venv>/node/node_modules (also from a layer)."""
    from modelport.layers import stack_prefix

    return os.environ.get(ENV_NODE_MODULES) or os.path.join(stack_prefix(), "node", "node_modules")


def node_binary() -> str:
    """The `node` to run, checked to be Node >= 18 (UnavailableError otherwise)."""
    path = os.environ.get(ENV_NODE) or shutil.which("node")
    if not path or not os.access(path, os.X_OK):
        where = f"{ENV_NODE}={path} is not an executable" if os.environ.get(ENV_NODE) else "no `node` on PATH"
        raise UnavailableError(f"TensorFlow.js models run in Node.js, which is not installed ({where}): install Node "
                               f"{MIN_NODE_MAJOR} or newer (Debian/Ubuntu: apt-get install nodejs npm), then `make node`")
    major = _node_major(path)
    if major is None or major < MIN_NODE_MAJOR:
        raise UnavailableError(f"{path} is not Node.js {MIN_NODE_MAJOR} or newer ({version_of(path) or 'it does not run'}): "
                               "TensorFlow.js 4.22 needs it")
    return path


def node_modules() -> str:
    """The node_modules folder holding every package the runner needs (UnavailableError otherwise)."""
    folder = node_modules_dir()
    missing = [p for p in PACKAGES if not os.path.isfile(os.path.join(folder, p, "package.json"))]
    if missing:
        raise UnavailableError(f"the TF.js runner's npm packages are not installed in {folder} (missing: "
                               f"{', '.join(missing)}): `make node` installs them, or set {ENV_NODE_MODULES}")
    return folder


@functools.lru_cache(maxsize=4)
def version_of(node: str) -> str | None:
    try:
        proc = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def _node_major(node: str) -> int | None:
    text = (version_of(node) or "").lstrip("v")
    try:
        return int(text.split(".")[0])
    except ValueError:
        return None


def package_versions(folder: str | None = None) -> dict[str, str | None]:
    """Each runner package's installed version (None: missing), for doctor and the reports."""
    folder = folder or node_modules_dir()
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            with open(os.path.join(folder, name, "package.json"), encoding="utf-8") as f:
                out[name] = json.load(f).get("version")
        except (OSError, ValueError):
            out[name] = None
    return out


def sandbox_paths() -> list[str]:
    """What a confined worker must read to start the runner: the node_modules folder and, for a
    `node` outside /usr ($MODELPORT_NODE), its installation."""
    out = [os.path.dirname(node_modules_dir())]
    node = os.environ.get(ENV_NODE) or shutil.which("node")
    if node:
        real = os.path.realpath(node)
        if not real.startswith("/usr/"):
            out.append(os.path.dirname(os.path.dirname(real)))
    return [p for p in out if os.path.exists(p)]
