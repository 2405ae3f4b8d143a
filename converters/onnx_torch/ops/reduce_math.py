"""Reductions (Reduce*), variadic Max / Min / Mean / Sum, Mod, BitShift, Det, IsInf and the two
classification losses (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss).

Reduce* take their axes as an attribute up to opset 17 (ReduceSum: 12) and as an optional second
input from then on. A static axes input (initializer or Constant) becomes a tuple of Python ints in
the graph, which keeps the module exportable; a computed one is read from the tensor at run time.
"""

from __future__ import annotations

import functools
import operator

import numpy as np
import torch

from modelport.converters.onnx_torch.ops.elementwise import _is_wide_unsigned, _ordered, _unordered, add, udivmod64
from modelport.converters.onnx_torch.ops._args import _ints
from modelport.converters.onnx_torch.registry import register

# -- reductions -------------------------------------------------------------------------------------

_UNSIGNED_WIDE = {torch.uint16: torch.int32, torch.uint32: torch.int64}


def _as_axes(axes):
    """Axes as a tuple of ints, or None (omitted); accepts a tuple, list or 1-D tensor."""
    if axes is None:
        return None
    return tuple(_ints(axes))  # _ints: an empty tensor is read without tolist() (see there)


def _fill(x, axes, keepdims, value):
    shape = [1 if d in axes else s for d, s in enumerate(x.shape)] if keepdims else \
        [s for d, s in enumerate(x.shape) if d not in axes]
    return torch.full(shape, value, dtype=x.dtype, device=x.device)


def _extreme(x, axes, keepdims, largest):
    """ReduceMax / ReduceMin, with the identity (-inf / +inf, or the integer limits) on empty sets."""
    if any(x.shape[a] == 0 for a in axes):
        if x.dtype == torch.bool:
            value = not largest
        elif x.is_floating_point():
            value = float("-inf") if largest else float("inf")
        else:
            info = torch.iinfo(x.dtype)
            value = info.min if largest else info.max
        return _fill(x, axes, keepdims, value)
    if _is_wide_unsigned(x):  # torch has no max / min kernels for uint16, uint32 and uint64
        return _unordered(_extreme(_ordered(x), axes, keepdims, largest), x.dtype)
    fn = torch.amax if largest else torch.amin
    return fn(x, dim=axes, keepdim=keepdims)


def reduce(x, axes, keepdims: bool, noop: bool, kind: str):
    """ONNX Reduce<kind> of x over axes (tuple, tensor or None = omitted)."""
    axes = _as_axes(axes)
    if not axes:
        if noop:  # no reduction: only the elementwise part of the operator
            axes = ()
        else:
            axes = tuple(range(x.dim()))
    rank = x.dim()
    axes = tuple(sorted({a + rank if a < 0 else a for a in axes}))
    if kind == "max":
        return _extreme(x, axes, keepdims, True) if axes else x
    if kind == "min":
        return _extreme(x, axes, keepdims, False) if axes else x
    if kind == "log_sum_exp":
        if not axes:
            return x
        if x.dtype in (torch.float16, torch.bfloat16):  # as the reference, stable in float32
            return torch.logsumexp(x.float(), dim=axes, keepdim=keepdims).to(x.dtype)
        return torch.logsumexp(x, dim=axes, keepdim=keepdims)
    if kind in ("sum_square", "l2"):
        x = x * x
    elif kind == "l1":
        x = x.abs()
    if not axes:
        out = x
    elif kind == "prod":
        out = torch.prod(x, dim=axes[0], keepdim=True, dtype=x.dtype)
        for a in axes[1:]:
            out = torch.prod(out, dim=a, keepdim=True, dtype=x.dtype)
        if not keepdims:
            out = out.squeeze(axes)
    elif kind == "mean":
        if x.is_floating_point() or x.is_complex():
            out = torch.mean(x, dim=axes, keepdim=keepdims)
        else:  # numpy mean with an integer dtype: the sum divided, truncated
            n = 1
            for a in axes:
                n *= x.shape[a]
            out = torch.div(torch.sum(x, dim=axes, keepdim=keepdims, dtype=x.dtype), n, rounding_mode="trunc")
    else:
        out = torch.sum(x, dim=axes, keepdim=keepdims, dtype=x.dtype)
    if kind == "l2":
        out = torch.sqrt(out) if out.is_floating_point() else torch.sqrt(out.double()).to(out.dtype)
    elif kind == "log_sum":
        out = torch.log(out)
    return out


_REDUCE = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min", "ReduceProd": "prod",
           "ReduceL1": "l1", "ReduceL2": "l2", "ReduceLogSum": "log_sum", "ReduceLogSumExp": "log_sum_exp",
           "ReduceSumSquare": "sum_square"}


def _reduce_attr_axes(kind):
    def convert(b, node, x, attrs):
        axes = attrs.get("axes")
        return b.call(reduce, x[0], tuple(axes) if axes else None, bool(attrs.get("keepdims", 1)), False, kind)
    return convert


def _reduce_input_axes(kind):
    def convert(b, node, x, attrs):
        axes = None
        if len(x) > 1 and x[1] is not None:
            static = b.static(node, 1)
            axes = tuple(int(a) for a in np.asarray(static).reshape(-1)) if static is not None else x[1]
        return b.call(reduce, x[0], axes, bool(attrs.get("keepdims", 1)), bool(attrs.get("noop_with_empty_axes", 0)),
                      kind)
    return convert


for _op, _kind in _REDUCE.items():
    register(_op, since=1)(_reduce_attr_axes(_kind))
    register(_op, since=13 if _op == "ReduceSum" else 18)(_reduce_input_axes(_kind))


# -- variadic Max / Min / Mean / Sum ----------------------------------------------------------------

def _maximum(a, b):
    if a.dtype == b.dtype and _is_wide_unsigned(a):
        return _unordered(torch.maximum(_ordered(a), _ordered(b)), a.dtype)
    return torch.maximum(a, b)


def _minimum(a, b):
    if a.dtype == b.dtype and _is_wide_unsigned(a):
        return _unordered(torch.minimum(_ordered(a), _ordered(b)), a.dtype)
    return torch.minimum(a, b)


def variadic_max(*xs):
    return functools.reduce(_maximum, xs)


def variadic_min(*xs):
    return functools.reduce(_minimum, xs)


def variadic_sum(*xs):
    return functools.reduce(add, xs)


def variadic_mean(*xs):
    total = functools.reduce(add, xs)
    if total.is_floating_point():
        return total / len(xs)
    return torch.div(total, len(xs), rounding_mode="trunc")


def _variadic(fn):
    def convert(b, node, x, attrs):
        xs = [v for v in x if v is not None]
        if len(xs) == 1 and fn is not variadic_mean:
            return xs[0]
        return b.call(fn, *xs)
    return convert


register("Max")(_variadic(variadic_max))
register("Min")(_variadic(variadic_min))
register("Sum")(_variadic(variadic_sum))
register("Mean")(_variadic(variadic_mean))


# -- Mod and BitShift -------------------------------------------------------------------------------

def mod(a, b, fmod: bool):
    """ONNX Mod: fmod=1 takes the dividend's sign (C fmod), fmod=0 the divisor's (Python %)."""
    if a.dtype == torch.uint64:
        _, r = udivmod64(a.to(torch.int64), b.to(torch.int64))
        return r.to(torch.uint64)
    wide = _UNSIGNED_WIDE.get(a.dtype)
    if wide is not None:
        return mod(a.to(wide), b.to(wide), fmod).to(a.dtype)
    if fmod:
        return torch.fmod(a, b)
    return torch.remainder(a, b)


@register("Mod", since=10)
def _mod(b, node, x, attrs):
    return b.call(mod, x[0], x[1], bool(attrs.get("fmod", 0)))


def bit_shift(x, y, left: bool):
    dtype = x.dtype
    bits = {torch.uint8: 8, torch.uint16: 16, torch.uint32: 32, torch.uint64: 64}.get(dtype, 64)
    a, s = x.to(torch.int64), y.to(torch.int64)
    if left:
        out = a << s
    elif bits == 64:  # logical shift of the uint64 bit pattern
        out = torch.where(s == 0, a, (a >> s) & ((torch.ones_like(s) << (64 - s)) - 1))
    else:
        out = a >> s
    return out.to(dtype)


@register("BitShift", since=11)
def _bit_shift(b, node, x, attrs):
    return b.call(bit_shift, x[0], x[1], attrs.get("direction", "LEFT").upper() == "LEFT")


# -- Det, IsInf -------------------------------------------------------------------------------------

@register("Det", since=11)
def _det(b, node, x, attrs):
    return b.call(torch.linalg.det, x[0])


def is_inf(x, positive: bool, negative: bool):
    if positive and negative:
        return torch.isinf(x)
    if positive:
        return torch.isposinf(x)
    if negative:
        return torch.isneginf(x)
    return torch.zeros_like(x, dtype=torch.bool)


@register("IsInf", since=10)
def _is_inf(b, node, x, attrs):
    return b.call(is_inf, x[0], bool(attrs.get("detect_positive", 1)), bool(attrs.get("detect_negative", 1)))


# -- losses -----------------------------------------------------------------------------------------

def nll_loss(log_prob, target, weight, reduction: str, ignore_index):
    """ONNX NegativeLogLikelihoodLoss: input (N, C, d1...), target (N, d1...), optional weight (C)."""
    target = target.long()
    if ignore_index is None:  # no class is ignored; torch's default names none of the valid 0..C-1
        ignore_index = -100
    if log_prob.dtype in (torch.float16, torch.bfloat16):
        w = weight.float() if weight is not None else None
        return nll_loss(log_prob.float(), target, w, reduction, ignore_index).to(log_prob.dtype)
    return torch.nn.functional.nll_loss(log_prob, target, weight=weight, ignore_index=ignore_index, reduction=reduction)


@register("NegativeLogLikelihoodLoss", since=12)
def _nll_loss(b, node, x, attrs):
    weight = x[2] if len(x) > 2 else None
    return b.call(nll_loss, x[0], x[1], weight, attrs.get("reduction", "mean"), attrs.get("ignore_index"))


def softmax_cross_entropy(scores, labels, weight, reduction: str, ignore_index):
    log_prob = torch.log_softmax(scores, dim=1)
    return nll_loss(log_prob, labels, weight, reduction, ignore_index), log_prob


@register("SoftmaxCrossEntropyLoss", since=12)
def _softmax_cross_entropy(b, node, x, attrs):
    weight = x[2] if len(x) > 2 else None
    out = b.call(softmax_cross_entropy, x[0], x[1], weight, attrs.get("reduction", "mean"), attrs.get("ignore_index"))
    return b.call(operator.getitem, out, 0), b.call(operator.getitem, out, 1)
