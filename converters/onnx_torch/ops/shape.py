"""Shape and data-movement operators: Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Concat, Split,
Slice, Shape, Size, Expand, Tile, DepthToSpace, SpaceToDepth and Pad."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from modelport.converters.onnx_torch.ops._args import _arg, _ints, _outputs, _scalar
from modelport.converters.onnx_torch.registry import register


# -- Reshape, Flatten, Transpose, Squeeze, Unsqueeze ----------------------------------------------
def reshape(x, shape, allowzero=0):
    shape = _ints(shape)
    if not allowzero:
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return torch.reshape(x, shape)


@register("Reshape", since=1)
def _reshape_1(b, node, x, attrs):
    return b.call(reshape, x[0], list(attrs["shape"]))


@register("Reshape", since=5)
def _reshape_5(b, node, x, attrs):
    allowzero = attrs.get("allowzero", 0)
    shape = _arg(b, node, x, 1)
    if isinstance(shape, list) and (allowzero or 0 not in shape):
        return b.call(torch.reshape, x[0], shape)
    return b.call(reshape, x[0], shape, allowzero)


def flatten(x, axis):
    if axis < 0:
        axis += x.dim()
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


@register("Flatten", since=1)
def _flatten(b, node, x, attrs):
    return b.call(flatten, x[0], attrs.get("axis", 1))


def transpose(x, perm=None):
    if perm is None:
        perm = list(reversed(range(x.dim())))
    return x.permute(perm)


@register("Transpose", since=1)
def _transpose(b, node, x, attrs):
    perm = attrs.get("perm")
    if perm:
        return b.call(torch.permute, x[0], list(perm))
    return b.call(transpose, x[0])


def squeeze(x, axes=None):
    axes = _ints(axes)
    if axes is None:
        return torch.squeeze(x)
    return torch.squeeze(x, tuple(a + x.dim() if a < 0 else a for a in axes))


@register("Squeeze", since=1)
def _squeeze_1(b, node, x, attrs):
    axes = attrs.get("axes")
    return b.call(squeeze, x[0], list(axes) if axes else None)


@register("Squeeze", since=13)
def _squeeze_13(b, node, x, attrs):
    return b.call(squeeze, x[0], _arg(b, node, x, 1))


def unsqueeze(x, axes):
    axes = _ints(axes)
    r = x.dim() + len(axes)
    for a in sorted(a + r if a < 0 else a for a in axes):
        x = x.unsqueeze(a)
    return x


@register("Unsqueeze", since=1)
def _unsqueeze_1(b, node, x, attrs):
    return b.call(unsqueeze, x[0], list(attrs["axes"]))


@register("Unsqueeze", since=13)
def _unsqueeze_13(b, node, x, attrs):
    return b.call(unsqueeze, x[0], _arg(b, node, x, 1))


# -- Concat, Split, Slice -------------------------------------------------------------------------
@register("Concat", since=1)
def _concat(b, node, x, attrs):
    return b.call(torch.cat, [t for t in x if t is not None], dim=attrs.get("axis", 1))


def split(x, axis, sizes, n):
    """torch.split by explicit sizes, or into n parts (the last one smaller, as Split-18 says)."""
    sizes = _ints(sizes)
    if sizes is None:
        sizes = -(-x.shape[axis] // n) if n else x.shape[axis]
    return tuple(torch.split(x, sizes, dim=axis))


@register("Split", since=1)
def _split_1(b, node, x, attrs):
    sizes = attrs.get("split") or None
    if sizes is None and len(x) > 1 and x[1] is not None:
        sizes = _arg(b, node, x, 1)
    out = b.call(split, x[0], attrs.get("axis", 0), sizes, len(node.output))
    return _outputs(b, node, out)


@register("Split", since=2)
def _split_2(b, node, x, attrs):
    out = b.call(split, x[0], attrs.get("axis", 0), list(attrs["split"]) if attrs.get("split") else None,
                 len(node.output))
    return _outputs(b, node, out)


@register("Split", since=13)
def _split_13(b, node, x, attrs):
    sizes = _arg(b, node, x, 1) if len(x) > 1 and x[1] is not None else None
    n = attrs.get("num_outputs", len(node.output))
    out = b.call(split, x[0], attrs.get("axis", 0), sizes, n)
    return _outputs(b, node, out)


def slice_(x, starts, ends, axes=None, steps=None):
    starts, ends, axes, steps = _ints(starts), _ints(ends), _ints(axes), _ints(steps)
    if axes is None:
        axes = list(range(len(starts)))
    if steps is None:
        steps = [1] * len(starts)
    for s, e, a, st in zip(starts, ends, axes, steps):
        if a < 0:
            a += x.dim()
        d = x.shape[a]
        s = s + d if s < 0 else s
        e = e + d if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), d), min(max(e, 0), d)
            x = x.narrow(a, s, max(e - s, 0)) if st == 1 else \
                x.index_select(a, torch.arange(s, max(e, s), st, device=x.device))
        else:
            s, e = min(max(s, 0), d - 1), min(max(e, -1), d - 1)
            x = x.index_select(a, torch.arange(s, e, st, device=x.device)) if s > e else x.narrow(a, 0, 0)
    return x


@register("Slice", since=1)
def _slice_1(b, node, x, attrs):
    return b.call(slice_, x[0], list(attrs["starts"]), list(attrs["ends"]), list(attrs["axes"]) if attrs.get("axes") else None)


@register("Slice", since=10)
def _slice_10(b, node, x, attrs):
    args = [_arg(b, node, x, i) if i < len(x) and x[i] is not None else None for i in range(1, 5)]
    return b.call(slice_, x[0], *args)


# -- Shape, Size, Expand, Tile ---------------------------------------------------------------------
def shape(x, start=0, end=None):
    return torch.tensor(tuple(x.shape)[start:end], dtype=torch.int64, device=x.device)


@register("Shape", since=1)
def _shape(b, node, x, attrs):
    return b.call(shape, x[0], attrs.get("start", 0), attrs.get("end"))


def size(x):
    return torch.tensor(x.numel(), dtype=torch.int64, device=x.device)


@register("Size", since=1)
def _size(b, node, x, attrs):
    return b.call(size, x[0])


def expand(x, shape):
    return x.expand(torch.broadcast_shapes(tuple(x.shape), tuple(_ints(shape))))


@register("Expand", since=8)
def _expand(b, node, x, attrs):
    return b.call(expand, x[0], _arg(b, node, x, 1))


def tile(x, repeats):
    return x.repeat(_ints(repeats))


@register("Tile", since=6)
def _tile(b, node, x, attrs):
    return b.call(tile, x[0], _arg(b, node, x, 1))


# -- DepthToSpace, SpaceToDepth -------------------------------------------------------------------
def depth_to_space(x, bs, mode="DCR"):
    n, c, h, w = x.shape
    if mode == "DCR":
        y = x.reshape(n, bs, bs, c // (bs * bs), h, w).permute(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(n, c // (bs * bs), bs, bs, h, w).permute(0, 1, 4, 2, 5, 3)
    return y.reshape(n, c // (bs * bs), h * bs, w * bs)


@register("DepthToSpace", since=1)
def _depth_to_space(b, node, x, attrs):
    return b.call(depth_to_space, x[0], attrs["blocksize"], attrs.get("mode", "DCR"))


def space_to_depth(x, bs):
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // bs, bs, w // bs, bs).permute(0, 3, 5, 1, 2, 4)
    return y.reshape(n, c * bs * bs, h // bs, w // bs)


@register("SpaceToDepth", since=1)
def _space_to_depth(b, node, x, attrs):
    return b.call(space_to_depth, x[0], attrs["blocksize"])


# -- Pad ------------------------------------------------------------------------------------------
def _pad_index(d, begin, end, mode, device):
    i = torch.arange(-begin, d + end, device=device)
    if mode == "edge":
        return i.clamp(0, d - 1)
    if mode == "wrap":
        return torch.remainder(i, d)
    if d == 1:  # reflect
        return torch.zeros_like(i)
    period = 2 * (d - 1)
    i = torch.remainder(i, period)
    return torch.where(i >= d, period - i, i)


def pad(x, pads, mode="constant", value=0, axes=None):
    pads = _ints(pads)
    r = x.dim()
    axes = list(range(r)) if axes is None else [a + r if a < 0 else a for a in _ints(axes)]
    n = len(axes)
    begin, end = [0] * r, [0] * r
    for j, a in enumerate(axes):
        begin[a], end[a] = pads[j], pads[n + j]
    if mode == "constant":
        value = _scalar(value) if value is not None else 0
        flat = []
        for a in reversed(range(r)):
            flat += [begin[a], end[a]]
        return F.pad(x, flat, mode="constant", value=value)
    for a in range(r):
        if begin[a] or end[a]:
            x = x.index_select(a, _pad_index(x.shape[a], begin[a], end[a], mode, x.device))
    return x


@register("Pad", since=1)
def _pad_1(b, node, x, attrs):
    pads = attrs.get("pads", attrs.get("paddings"))
    return b.call(pad, x[0], list(pads), attrs.get("mode", "constant"), attrs.get("value", 0.0))


@register("Pad", since=11)
def _pad_11(b, node, x, attrs):
    value = _arg(b, node, x, 2, kind=float) if len(x) > 2 and x[2] is not None else 0
    axes = _arg(b, node, x, 3) if len(x) > 3 and x[3] is not None else None
    return b.call(pad, x[0], _arg(b, node, x, 1), attrs.get("mode", "constant"), value, axes)
