"""Spatial geometry shared by convolution and pooling: attribute defaults, F.pad order and SAME pads.

Spatial geometry (auto_pad, asymmetric pads, ceil_mode) is resolved by the helpers at run time
from the input's shape, so one converted module serves any input size. Where torch's symmetric
padding cannot express the ONNX pads, the input is padded explicitly (zeros for convolution and
sums, -inf for MaxPool) and the torch op runs without padding.
"""

from __future__ import annotations

import torch.nn.functional as F

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _ints(v, n, default):
    return [default] * n if not v else [int(i) for i in v]


def _f_pad(begin, end):
    """F.pad's order (last dimension first) from per-dimension begin / end pads."""
    out = []
    for b_, e_ in zip(reversed(begin), reversed(end)):
        out += [b_, e_]
    return out


def _same_pads(total, auto_pad):
    small = total // 2
    return (small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small)
