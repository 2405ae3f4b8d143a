"""Import a heavy library only when it is needed, quietly, or fail with exit 4 saying what to install.

Shared by every layer (converters, validators, the bench and the doctor): `modelport --help`
imports neither torch nor TensorFlow, so each library is imported inside the function that needs
it, through `require()`. TensorFlow and LiteRT print native (C++/absl) lines at import and first
use that no environment variable stops: `native_stderr_silenced` keeps them out of our output.
"""

from __future__ import annotations

import os

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
