"""Unique (opset 11): unique values or slices along an axis, with first-occurrence indices, inverse
indices and counts, sorted or in order of first occurrence, as onnx.reference (numpy.unique).

torch.unique gives the sorted values, inverse indices and counts; the first-occurrence index of each
value is the smallest input position that maps to it (a scatter with amin). Unsorted output
reorders all four by first occurrence, as the reference does.

Not covered: NaNs compare unequal in torch.unique but numpy (>= 1.21) folds them into one; a model
that feeds NaNs to Unique gets one output per NaN.
"""

from __future__ import annotations

import torch

from modelport.converters.onnx_torch.ops._args import _outputs
from modelport.converters.onnx_torch.registry import register


def _first_indices(inverse, count):
    """For each of `count` unique values, the first position of the (flattened) input holding it."""
    positions = torch.arange(inverse.numel(), device=inverse.device)
    first = torch.full((count,), inverse.numel(), dtype=torch.long, device=inverse.device)
    return first.scatter_reduce(0, inverse, positions, "amin", include_self=True)


def unique(x, axis=None, sorted_=1):
    """ONNX Unique: (Y, indices, inverse_indices, counts); the last three are int64 and 1-D."""
    if axis is None:
        y, inverse, counts = torch.unique(x.reshape(-1), sorted=True, return_inverse=True, return_counts=True)
        dim = 0
    else:
        dim = axis % x.dim()
        y, inverse, counts = torch.unique(x, sorted=True, return_inverse=True, return_counts=True, dim=dim)
    inverse = inverse.reshape(-1).long()
    first = _first_indices(inverse, counts.shape[0])
    if not sorted_:
        order = torch.argsort(first)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(order.shape[0], device=order.device)
        y, first, counts, inverse = y.index_select(dim, order), first[order], counts[order], rank[inverse]
    return y, first, inverse, counts.long()


@register("Unique", since=11)
def _unique(b, node, x, attrs):
    out = b.call(unique, x[0], attrs.get("axis"), attrs.get("sorted", 1))
    return _outputs(b, node, out)
