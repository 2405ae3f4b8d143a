"""Helpers shared by several operator modules: reading inputs as Python values, and splitting a
helper's tuple result into one fx node per output (`_outputs`, `_getitems`).

Shape-like inputs (shape, axes, starts, pads, sizes...) are taken as Python constants when they
are static (initializers or Constant outputs), which keeps the module exportable; otherwise the
helpers below read them from the tensor at run time (`_ints`).
"""

from __future__ import annotations

import operator

import torch


# -- small shared helpers ---------------------------------------------------------------------------
def _numbers(v, kind):
    """A list of Python `kind` values (int, float) from a list, tuple or tensor (None stays None)."""
    if v is None:
        return None
    if isinstance(v, torch.Tensor):
        # an empty tensor has no values to read: [] directly (torch.export writes tolist() of one as
        # an unbind with no outputs, which torch.export.load then cannot read back)
        v = [] if v.numel() == 0 else v.reshape(-1).tolist()
    return [kind(i) for i in v]


def _ints(v):
    """A list of Python ints from a list, tuple or tensor (None stays None)."""
    return _numbers(v, int)


def _floats(v):
    return _numbers(v, float)


def _scalar(v):
    if isinstance(v, torch.Tensor):
        return v.reshape(-1)[0].item()
    return v


def _int(v):
    """A scalar as an int. Under torch.export a value read from a computed tensor is an unbacked
    SymInt, kept as it is: int() would demand one concrete value and fail the export."""
    v = _scalar(v)
    return v if isinstance(v, (int, torch.SymInt)) else int(v)


def _arg(b, node, x, i, kind=list):
    """Input i as a Python list (static) or the fx node (computed), or None when omitted."""
    s = b.static(node, i)
    if s is not None:
        return s.reshape(-1).tolist() if kind is list else s.reshape(-1)[0].item()
    return x[i] if i < len(x) else None


def _outputs(b, node, out):
    """Split a helper's tuple result into one fx node per ONNX output."""
    return tuple(b.call(operator.getitem, out, i) for i in range(len(node.output)))


def _getitems(b, out, count):
    return tuple(b.call(operator.getitem, out, i) for i in range(count))
