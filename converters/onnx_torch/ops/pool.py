"""Pooling: MaxPool (with indices), AveragePool, LpPool, the Global*Pool ops and MaxUnpool; pads
that torch's symmetric padding cannot express are applied explicitly (see _spatial.py)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from modelport.converters.onnx_torch.ops._args import _getitems
from modelport.converters.onnx_torch.ops._spatial import _CONV, _f_pad, _ints, _same_pads
from modelport.converters.onnx_torch.registry import register

_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


# -- pooling ----------------------------------------------------------------------------------------
def _pool_geometry(spatial, k, s, d, pads, auto_pad, ceil_mode):
    """Per dimension: begin pad, end pad (from the attributes) and the extra end pad (negative:
    a crop) that makes the padded length exactly what the output windows need."""
    n = len(spatial)
    begin, end, extra = [], [], []
    for i in range(n):
        keff = (k[i] - 1) * d[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out = -(-spatial[i] // s[i])
            b_, e_ = _same_pads(max(0, (out - 1) * s[i] + keff - spatial[i]), auto_pad)
        else:
            b_, e_ = (pads[i], pads[i + n]) if pads and auto_pad != "VALID" else (0, 0)
            span = spatial[i] + b_ + e_ - keff
            if ceil_mode:
                out = -(-span // s[i]) + 1
                if (out - 1) * s[i] >= spatial[i] + b_:
                    out -= 1
            else:
                out = span // s[i] + 1
        begin.append(b_)
        end.append(e_)
        extra.append((out - 1) * s[i] + keff - (spatial[i] + b_ + e_))
    return begin, end, extra


def _torch_pads(k, pads, auto_pad):
    """The symmetric padding torch's pooling takes, or None when these pads need explicit F.pad."""
    n = len(k)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return None
    if auto_pad == "VALID" or not pads:
        return [0] * n
    if list(pads[:n]) != list(pads[n:]) or any(pads[i] > k[i] // 2 for i in range(n)):
        return None
    return list(pads[:n])


def _index_grid(x, storage_order):
    """The flat ONNX index of every element of x (row-major, or spatially column-major)."""
    if storage_order == 0:
        return torch.arange(x.numel(), device=x.device).reshape(x.shape)
    spatial = list(x.shape[2:])
    grid = torch.arange(x.numel(), device=x.device).reshape(*x.shape[:2], *reversed(spatial))
    return grid.permute(0, 1, *range(x.dim() - 1, 1, -1))


def max_pool(x, kernel, strides, pads, dilations, auto_pad, ceil_mode, storage_order, with_indices):
    n = x.dim() - 2
    k, s, d = list(kernel), _ints(strides, n, 1), _ints(dilations, n, 1)
    dtype = x.dtype
    if not x.is_floating_point():
        x = x.to(torch.float64)
    same = _torch_pads(k, pads, auto_pad)
    if same is not None and not with_indices:
        y = _MAX_POOL[n](x, k, s, same, d, bool(ceil_mode))
        return y.to(dtype)
    begin, end, extra = _pool_geometry(list(x.shape[2:]), k, s, d, pads, auto_pad, ceil_mode)
    tail = [end[i] + extra[i] for i in range(n)]
    xp = F.pad(x, _f_pad(begin, tail), value=-math.inf)
    if not with_indices:
        return _MAX_POOL[n](xp, k, s, 0, d).to(dtype)
    y, where = _MAX_POOL[n](xp, k, s, 0, d, return_indices=True)
    grid = F.pad(_index_grid(x, storage_order), _f_pad(begin, tail), value=-1)
    idx = torch.gather(grid.flatten(2), 2, where.flatten(2)).reshape(where.shape)
    return y.to(dtype), idx


def _sum_pool(x, k, s, d):
    """Window sums, as a depthwise convolution with a kernel of ones (dilations included)."""
    n = len(k)
    flat = x.reshape(-1, 1, *x.shape[2:])
    y = _CONV[n](flat, torch.ones((1, 1, *k), dtype=x.dtype, device=x.device), None, s, 0, d)
    return y.reshape(*x.shape[:2], *y.shape[2:])


def avg_pool(x, kernel, strides, pads, dilations, auto_pad, ceil_mode, count_include_pad):
    n = x.dim() - 2
    k, s, d = list(kernel), _ints(strides, n, 1), _ints(dilations, n, 1)
    same = _torch_pads(k, pads, auto_pad)
    if same is not None and all(i == 1 for i in d):
        return _AVG_POOL[n](x, k, s, same, bool(ceil_mode), bool(count_include_pad))
    begin, end, extra = _pool_geometry(list(x.shape[2:]), k, s, d, pads, auto_pad, ceil_mode)
    zeros = [0] * n
    sums = _sum_pool(F.pad(x, _f_pad(begin, [end[i] + extra[i] for i in range(n)])), k, s, d)
    ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
    mask = F.pad(F.pad(ones, _f_pad(begin, end), value=1.0 if count_include_pad else 0.0), _f_pad(zeros, extra))
    return sums / _sum_pool(mask, k, s, d)


def lp_pool(x, kernel, strides, pads, dilations, auto_pad, ceil_mode, p):
    n = x.dim() - 2
    k, s, d = list(kernel), _ints(strides, n, 1), _ints(dilations, n, 1)
    begin, end, extra = _pool_geometry(list(x.shape[2:]), k, s, d, pads, auto_pad, ceil_mode)
    xp = F.pad(x.abs().pow(p), _f_pad(begin, [end[i] + extra[i] for i in range(n)]))
    return _sum_pool(xp, k, s, d).pow(1.0 / p)


def global_avg_pool(x):
    return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)


def global_max_pool(x):
    return x.amax(dim=tuple(range(2, x.dim())), keepdim=True)


def global_lp_pool(x, p):
    return x.abs().pow(p).sum(dim=tuple(range(2, x.dim())), keepdim=True).pow(1.0 / p)


def max_unpool(x, indices, kernel, strides, pads, output_shape):
    n = x.dim() - 2
    s = _ints(strides, n, 1)
    pads = _ints(pads, 2 * n, 0)
    inferred = [(x.shape[2 + i] - 1) * s[i] - pads[i] - pads[i + n] + kernel[i] for i in range(n)]
    shape = [x.shape[0], x.shape[1], *inferred]
    flat = torch.zeros(math.prod(shape), dtype=x.dtype, device=x.device)
    y = flat.scatter(0, indices.flatten(), x.flatten()).reshape(shape)
    if output_shape is not None:
        target = [int(v) for v in output_shape]
        y = F.pad(y, _f_pad([0] * n, [target[2 + i] - inferred[i] for i in range(n)]))
    return y


@register("MaxPool")
def _max_pool(b, node, x, attrs):
    with_indices = len(node.output) > 1 and bool(node.output[1])
    return b.call(max_pool, x[0], attrs["kernel_shape"], attrs.get("strides"), attrs.get("pads"),
                  attrs.get("dilations"), attrs.get("auto_pad", "NOTSET"), attrs.get("ceil_mode", 0),
                  attrs.get("storage_order", 0), with_indices)


@register("MaxPool", since=8)
def _max_pool_8(b, node, x, attrs):
    out = _max_pool(b, node, x, attrs)
    with_indices = len(node.output) > 1 and bool(node.output[1])
    return _getitems(b, out, 2) if with_indices else out


@register("AveragePool")
def _avg_pool(b, node, x, attrs):
    return b.call(avg_pool, x[0], attrs["kernel_shape"], attrs.get("strides"), attrs.get("pads"),
                  attrs.get("dilations"), attrs.get("auto_pad", "NOTSET"), attrs.get("ceil_mode", 0),
                  attrs.get("count_include_pad", 0))


@register("LpPool")
def _lp_pool(b, node, x, attrs):
    return b.call(lp_pool, x[0], attrs["kernel_shape"], attrs.get("strides"), attrs.get("pads"),
                  attrs.get("dilations"), attrs.get("auto_pad", "NOTSET"), attrs.get("ceil_mode", 0),
                  attrs.get("p", 2))


@register("GlobalAveragePool")
def _global_avg_pool(b, node, x, attrs):
    return b.call(global_avg_pool, x[0])


@register("GlobalMaxPool")
def _global_max_pool(b, node, x, attrs):
    return b.call(global_max_pool, x[0])


@register("GlobalLpPool")
def _global_lp_pool(b, node, x, attrs):
    return b.call(global_lp_pool, x[0], attrs.get("p", 2))


@register("MaxUnpool")
def _max_unpool(b, node, x, attrs):
    shape = x[2] if len(x) > 2 else None
    static = b.static(node, 2)
    if static is not None:
        shape = [int(v) for v in static]
    return b.call(max_unpool, x[0], x[1], attrs["kernel_shape"], attrs.get("strides"), attrs.get("pads"), shape)
