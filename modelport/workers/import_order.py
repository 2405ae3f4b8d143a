"""Import torch's compiler stack before TensorFlow when one process runs both.

TensorFlow imported first makes a later import of triton crash the process with SIGSEGV. Both
ship their own LLVM. torch pulls triton in through torch._dynamo, which torch.export.load and
torch.optim import. With torch._dynamo imported first, TensorFlow then loads and runs fine.
Checked with the pinned stack: `import tensorflow; import torch._dynamo` segfaults, and the
reverse order works. Only a process that will run both pays for the extra import.
"""

from __future__ import annotations


def import_torch_before_tensorflow() -> None:
    """Import torch and torch._dynamo now, unless TensorFlow is already in (too late) or torch is missing."""
    import sys

    if "tensorflow" in sys.modules:
        return
    try:
        import importlib

        importlib.import_module("torch._dynamo")  # imports torch, and triton where it is installed
    except ImportError:
        pass
