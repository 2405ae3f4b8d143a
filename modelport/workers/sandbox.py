"""Confine a worker that loads or runs a model: a model file is code (a SavedModel can call
`tf.io.write_file`), so the process that runs it sees only what the job needs.

The sandbox is bubblewrap (`bwrap`, Debian's `bubblewrap` package; Flatpak's sandbox), not code of
our own: Linux namespaces set up by a small, well-kept tool. Measured here as root: 10 ms per start.
What a confined worker sees:
- read-only: the Python installation and this environment (its layers included, and the TF.js
  runner's npm packages), modelport's own folders, `/usr` (and the merged-/usr links), `/sys`, and a short list of `/etc` files that the
  dynamic linker, TLS and `getpwuid` read;
- read-only: the job's declared inputs (the model, its external data, weights, calibration data);
- read-write: the job's scratch folder, and nothing else (`/tmp` is private and empty; HOME and
  TMPDIR point into the scratch folder);
- no network (a network namespace with no interface but loopback; the socket guard of
  `offline.py` stays as a second layer), its own PID, IPC and UTS namespaces, all capabilities
  dropped, a new session (no terminal to write into), and it dies with its parent.
The user's home, /work, other jobs' folders and every other path do not exist for it.

MODELPORT_SANDBOX chooses: `auto` (default: confine when bwrap works here; otherwise say so once on
stderr and go on with the guards that remain), `require` (refuse with exit 4 when it cannot
confine: `modelport --require-sandbox`), `off` (run as the user, e.g. to debug a worker).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys

from modelport.errors import UnavailableError, UsageError

MODES = ("auto", "require", "off")
ENV_MODE = "MODELPORT_SANDBOX"
ENV_WARNED = "MODELPORT_SANDBOX_WARNED"  # the "no sandbox" line is said once per command, children included

# /etc files a Python process with torch, TensorFlow and ONNX Runtime reads (nothing secret).
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ssl", "ca-certificates", "localtime", "passwd",
             "group", "nsswitch.conf", "hosts", "alternatives", "os-release", "mime.types")
MERGED_USR = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def mode() -> str:
    value = os.environ.get(ENV_MODE, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise UsageError(f"{ENV_MODE}={value!r}: expected one of {', '.join(MODES)}")
    return value


@functools.lru_cache(maxsize=1)
def probe() -> str | None:
    """None when bwrap confines a process here, else why not (for doctor and the warning)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        proc = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
                               "--die-with-parent", "--cap-drop", "ALL", "--", "/bin/true"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bwrap cannot start ({e})"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"bwrap cannot create namespaces here ({last[:160]})"
    return None


def active() -> bool:
    """Whether workers are confined in this process (UnavailableError when required but impossible)."""
    chosen = mode()
    if chosen == "off":
        return False
    why = probe()
    if why is None:
        return True
    if chosen == "require":
        raise UnavailableError(f"the sandbox is required but unavailable: {why}")
    if not os.environ.get(ENV_WARNED):
        os.environ[ENV_WARNED] = "1"
        print(f"modelport: warning: models run without a sandbox ({why}); the network guard and timeouts "
              "remain. --require-sandbox refuses instead", file=sys.stderr)
    return False


def readable_paths(reference: str | None) -> list[str]:
    """The paths a worker must read for one model reference: the file or folder itself; for an
    ONNX file, the external data files it names; for `file.py:callable`, the file's folder (code the
    user chose to run, which may import its neighbours)."""
    if not reference:
        return []
    path, sep, attr = reference.rpartition(":")
    if sep and path.endswith(".py") and attr and os.path.isfile(path):
        return [os.path.dirname(os.path.abspath(path))]
    if not os.path.exists(reference):
        return []  # a `package.module:callable` importable from the environment (bound), or nothing
    out = [os.path.abspath(reference)]
    if os.path.exists(reference + ".modelport.json"):  # its provenance manifest, which the validator reads
        out.append(os.path.abspath(reference + ".modelport.json"))
    if os.path.isfile(reference) and reference.lower().endswith(".onnx"):
        st = os.stat(reference)
        out += _onnx_external_files(os.path.abspath(reference), st.st_mtime_ns, st.st_size)
    return out


@functools.lru_cache(maxsize=32)
def _onnx_external_files(path: str, mtime_ns: int, size: int) -> list[str]:
    """External data files inside the model's folder (ONNX Runtime refuses any outside it). Cached
    by the file's identity: convert starts a worker per strategy attempt on the same source."""
    try:
        import onnx

        from modelport.onnx_external_data import external_files

        model = onnx.load(path, load_external_data=False)
    except Exception:  # not parseable: the worker reports the real error
        return []
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    found = set()
    for location in external_files(model):
        target = os.path.realpath(os.path.join(folder, location))
        if target.startswith(folder + os.sep) and os.path.exists(target):
            found.add(target)
    return sorted(found)


def _package_dirs() -> list[str]:
    """modelport's own folders, wherever they are (an editable install maps them by a finder)."""
    import importlib.util

    out = []
    for name in ("modelport", "modelport.converters", "modelport.validators", "modelport.cli"):
        spec = importlib.util.find_spec(name)
        out += list(spec.submodule_search_locations or []) if spec else []
    return out


def _python_dirs(python: str) -> list[str]:
    """Where Python and its packages are. Not the working directory, which `python -m` puts on
    sys.path: it is the user's folder (their home, often), and modelport's own folders are bound
    by name (_package_dirs)."""
    cwd = os.path.realpath(os.getcwd())
    out = [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.dirname(os.path.abspath(python)))]
    out += [p for p in sys.path if p and os.path.isabs(p) and os.path.realpath(p) != cwd]
    return out


def wrap(argv: list[str], *, scratch: str, reads: list[str] = (), gpu: bool = False) -> list[str]:
    """argv, confined: run it inside bwrap with the scratch folder writable and `reads` readable."""
    bwrap = shutil.which("bwrap")
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
           "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--tmpfs", "/tmp", "--ro-bind-try", "/sys", "/sys"]
    if gpu:  # the GPU's device files (and their drivers' /dev entries) for --device cuda
        cmd += ["--dev-bind", "/dev", "/dev"]
    else:
        cmd += ["--dev", "/dev"]
    for link in MERGED_USR:
        if os.path.islink(link):
            cmd += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            cmd += ["--ro-bind", link, link]
    for name in ETC_FILES:
        cmd += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    seen: set[str] = set()
    from modelport.node_runtime import sandbox_paths

    for p in _python_dirs(argv[0]) + _package_dirs() + sandbox_paths() + list(reads):
        for q in {os.path.abspath(p), os.path.realpath(p)}:
            if q not in seen and os.path.exists(q) and q != "/":
                seen.add(q)
                cmd += ["--ro-bind", q, q]
    scratch = os.path.abspath(scratch)
    home = os.path.join(scratch, ".home")
    tmp = os.path.join(scratch, ".tmp")
    for d in (home, tmp):
        os.makedirs(d, exist_ok=True)
    cmd += ["--bind", scratch, scratch, "--chdir", scratch, "--setenv", "HOME", home, "--setenv", "TMPDIR", tmp]
    return cmd + ["--"] + list(argv)


def child_returncode(code: int | None) -> int | None:
    """bwrap exits with 128 + N when a signal N ended the process it ran: give it back as -N, as
    subprocess reports a signal, so that a crash reads the same confined or not (SIGABRT, the
    out-of-memory killer's SIGKILL)."""
    if code is not None and 128 < code < 128 + 65:
        return -(code - 128)
    return code
