"""Keep converter logs out of modelport's output, and keep every library offline.

Both are applied in worker subprocesses (see modelport/worker.py): TensorFlow, onnx2tf and tf2onnx
write to stdout/stderr directly and from C++, so the only dependable way to keep their output is
to give the worker process its own log file; the parent shows it with --verbose or on failure.
"""

from __future__ import annotations

import os
import socket

# Environment for worker processes: set before TensorFlow/absl are imported.
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "ABSL_MIN_LOG_LEVEL": "3",
    "GRPC_VERBOSITY": "ERROR",
    "TQDM_DISABLE": "1",
    "PYTHONWARNINGS": "ignore",
    # Offline switches honoured by hub-style libraries.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "NO_PROXY": "*",
    # Keep TensorFlow off any GPU a worker may see; conversions are CPU work.
    "CUDA_VISIBLE_DEVICES": os.environ.get("MODELPORT_CONVERT_CUDA_VISIBLE_DEVICES", ""),
}


def worker_env(gpu: bool = False) -> dict[str, str]:
    """The environment of a worker process: quiet and offline. A converter sees no GPU; a worker
    that runs models on the user's --device (validation, bench) keeps the GPUs it was given."""
    env = {**os.environ, **QUIET_ENV}
    if gpu:
        if "CUDA_VISIBLE_DEVICES" in os.environ:
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
        else:
            env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


class NetworkBlocked(ConnectionError):
    """Raised when a library inside modelport tries to open a network connection."""


_LOCAL_FAMILIES = {getattr(socket, "AF_UNIX", None)}


def _is_loopback_host(host) -> bool:
    """Only IP literals count: a name like '127.example.com' would be resolved by C code that
    the getaddrinfo guard does not see. 'localhost' is resolved from the hosts file."""
    import ipaddress

    if host in (None, "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _is_loopback(address) -> bool:
    if isinstance(address, tuple) and address:
        return _is_loopback_host(address[0])
    return True  # AF_UNIX paths and the like are local


def block_network() -> None:
    """Make any non-loopback connection fail at once with a clear error (trap 1 in ARCHITECTURE.md).

    onnx2tf's TensorFlow path downloads sample images; TF may probe cloud metadata. A conversion
    must never depend on the network, so we fail loudly rather than hang or leak.
    """
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guarded_connect(self, address):
        if self.family not in _LOCAL_FAMILIES and not _is_loopback(address):
            raise NetworkBlocked(f"modelport runs offline: blocked a connection to {address!r}")
        return original_connect(self, address)

    def guarded_connect_ex(self, address):
        if self.family not in _LOCAL_FAMILIES and not _is_loopback(address):
            raise NetworkBlocked(f"modelport runs offline: blocked a connection to {address!r}")
        return original_connect_ex(self, address)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    original_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not _is_loopback_host(host):
            raise NetworkBlocked(f"modelport runs offline: blocked a DNS lookup of {host!r}")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = guarded_getaddrinfo  # type: ignore[assignment]


def quiet_python_loggers() -> None:
    """Silence Python-side loggers of the converter libraries (C++ logs go by QUIET_ENV)."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "absl", "tf2onnx", "onnx2tf", "torch.onnx", "onnxscript", "h5py", "keras"):
        logging.getLogger(name).setLevel(logging.ERROR)


# Libraries whose import prints native (C++/absl) log lines that no environment variable stops.
NOISY_IMPORTS = ("tensorflow", "keras", "tf2onnx", "onnx2tf", "tf_keras")


class native_stderr_silenced:
    """Send fd 2 to /dev/null for a block: LiteRT prints "INFO: Created TensorFlow Lite XNNPACK
    delegate" from C++ on first use. Failures still surface as Python exceptions."""

    def __enter__(self):
        import sys

        sys.stderr.flush()
        self.saved = os.dup(2)
        self.devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self.devnull, 2)
        return self

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)
        os.close(self.devnull)
        return False


def import_quietly(module: str):
    """Import a module with the process's stderr (fd 2) sent to /dev/null during the import.

    TensorFlow prints "Could not find cuda drivers" and absl warnings from C++ before its log level
    applies. Import errors still surface: they are Python exceptions, raised after fd 2 is back.
    """
    import importlib
    import sys

    if module in sys.modules or module.split(".")[0] not in NOISY_IMPORTS:
        return importlib.import_module(module)
    with native_stderr_silenced():
        return importlib.import_module(module)


def require(module: str, purpose: str, extra: str = "all"):
    """Import a library (quietly) or fail with exit 4 saying what needs it and what to install.
    Shared by converters and validators, which may not import each other's internals."""
    from modelport.errors import UnavailableError

    try:
        return import_quietly(module)
    except ImportError as e:
        raise UnavailableError(
            f"{purpose} needs the Python module '{module}', which is not importable ({e}); "
            f"install the pinned stack with `make venv` or `pip install 'modelport[{extra}]'`"
        ) from None
