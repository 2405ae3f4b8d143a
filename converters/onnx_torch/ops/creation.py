"""Operators that make or retype tensors: ConstantOfShape, Range, EyeLike, Cast, CastLike and Dropout
(identity at inference, a random mask when training)."""

from __future__ import annotations

import math
import operator

import numpy as np
import torch

from modelport.errors import ConversionError
from modelport.converters.onnx_torch.dtypes import (FLOAT4E2M1, FLOAT8E8M0, INT_BITS, cast_int_bits, is_carried,
                                                     onnx_type_of, tensor_of, to_float4e2m1, to_float8e8m0,
                                                     torch_dtype)
from modelport.converters.onnx_torch.ops._args import _arg, _ints, _scalar
from modelport.converters.onnx_torch.registry import register


# -- ConstantOfShape, Range, EyeLike ----------------------------------------------------------------
def constant_of_shape(shape, value, dtype):
    device = shape.device if isinstance(shape, torch.Tensor) else None  # the model's device, as its input
    return torch.full(tuple(_ints(shape)), value, dtype=dtype, device=device)


@register("ConstantOfShape", since=9)
def _constant_of_shape(b, node, x, attrs):
    from onnx import numpy_helper

    value, dtype = 0.0, torch.float32
    if "value" in attrs:
        t = tensor_of(numpy_helper.to_array(attrs["value"]))  # int4, float4e2m1... as their carriers
        value, dtype = t.reshape(-1)[0].item(), t.dtype
    return b.call(constant_of_shape, _arg(b, node, x, 0), value, dtype)


def range_(start, limit, delta):
    dtype = start.dtype
    s, l, d = _scalar(start), _scalar(limit), _scalar(delta)
    n = max(int(math.ceil((l - s) / d)), 0)
    wide = torch.float64 if dtype.is_floating_point else torch.int64
    return (torch.arange(n, dtype=wide, device=start.device) * d + s).to(dtype)


@register("Range", since=11)
def _range(b, node, x, attrs):
    static = [b.static(node, i) for i in range(3)]
    if all(v is not None for v in static):  # fold: a constant keeps the module exportable
        return b.constant(range_(*[torch.as_tensor(v) for v in static]).numpy(), "range")
    return b.call(range_, x[0], x[1], x[2])


def eye_like(x, k=0, dtype=None):
    n, m = x.shape
    i = torch.arange(n, device=x.device).reshape(n, 1)
    j = torch.arange(m, device=x.device).reshape(1, m)
    return (j - i == k).to(dtype or x.dtype)


@register("EyeLike", since=9)
def _eye_like(b, node, x, attrs):
    dtype = torch_dtype(attrs["dtype"]) if "dtype" in attrs else None
    return b.call(eye_like, x[0], attrs.get("k", 0), dtype)


# -- Cast, CastLike -------------------------------------------------------------------------------
# Casts to a type torch lacks (int4, uint4, int2, uint2, float4e2m1, float8e8m0) give its carrier (dtypes.py):
# int8 / uint8 / float32 holding the type's values, rounded and ranged by that type's rules. A cast from one
# is an ordinary cast of the carried values.
_FLOAT8 = (torch.float8_e4m3fn, torch.float8_e4m3fnuz, torch.float8_e5m2, torch.float8_e5m2fnuz)


def cast(x, dtype, saturate=1):
    if dtype in _FLOAT8 and saturate and x.is_floating_point():
        m = torch.finfo(dtype).max
        x = torch.where(torch.isinf(x), torch.sign(x) * m, x).clamp(-m, m)
    elif dtype == torch.float8_e4m3fn and x.is_floating_point():  # torch saturates e4m3fn; ONNX gives NaN
        x = torch.where(x.abs() > 464, torch.full_like(x, float("nan")), x)
    return x.to(dtype)


def _onnx_type(to):
    if isinstance(to, str):  # Cast-1 names the type
        from onnx import TensorProto

        return TensorProto.DataType.Value(to.upper())
    return to


def _cast_to_carried(b, x, to, saturate, round_mode):
    """Emit the cast to a carried type `to` (an ONNX element type), each type with its own helper."""
    if to in INT_BITS:
        bits, signed = INT_BITS[to]
        return b.call(cast_int_bits, x, bits, signed)
    if to == FLOAT4E2M1:  # no infinity or NaN to give: always saturates
        return b.call(to_float4e2m1, x)
    if to == FLOAT8E8M0:
        return b.call(to_float8e8m0, x, saturate, round_mode)
    raise ConversionError(f"ONNX element type {to} is not carried")


@register("Cast", since=1)
def _cast(b, node, x, attrs):
    to = _onnx_type(attrs["to"])
    if is_carried(to):
        return _cast_to_carried(b, x[0], to, attrs.get("saturate", 1), attrs.get("round_mode", "up"))
    return b.call(cast, x[0], torch_dtype(to), attrs.get("saturate", 1))


def cast_like(x, like, saturate=1):
    return cast(x, like.dtype, saturate)


@register("CastLike", since=15)
def _cast_like(b, node, x, attrs):
    to = onnx_type_of(b, node.input[1])  # a carrier's dtype does not say which type it carries
    if is_carried(to):
        return _cast_to_carried(b, x[0], to, attrs.get("saturate", 1), attrs.get("round_mode", "up"))
    return b.call(cast_like, x[0], x[1], attrs.get("saturate", 1))


# -- Dropout --------------------------------------------------------------------------------------
def dropout(x, ratio=0.5, training=False, with_mask=False, mask_dtype=torch.bool, seed=None):
    """ONNX Dropout. With a `seed` attribute the mask is the one ONNX's reference draws (numpy's
    RandomState(seed)), so a seeded model gives the same result everywhere; without, torch's RNG."""
    training = bool(_scalar(training)) if training is not None else False
    ratio = float(_scalar(ratio)) if ratio is not None else 0.5
    if training and ratio > 0:
        if seed is None:
            mask = torch.rand(x.shape, device=x.device) >= ratio
        else:
            drawn = np.random.RandomState(seed).uniform(0, 1.0, tuple(x.shape))
            mask = torch.from_numpy(drawn >= ratio).to(x.device)
        out = torch.where(mask, x * (1.0 / (1 - ratio)), torch.zeros_like(x))
    else:
        mask, out = torch.ones(x.shape, dtype=torch.bool, device=x.device), x
    return (out, mask.to(mask_dtype)) if with_mask else out


def dropout_mask_like(x):
    return dropout(x, with_mask=True, mask_dtype=x.dtype)


def _dropout(b, node, x, ratio, training, seed=None):
    with_mask = len(node.output) > 1 and bool(node.output[1])
    if not with_mask and (training is None or training is False or training == 0):
        return x[0]
    if b.opset() < 10 and with_mask:  # Dropout-1..9: the mask has the input's type
        out = b.call(dropout_mask_like, x[0])
        return (b.call(operator.getitem, out, 0), b.call(operator.getitem, out, 1))
    out = b.call(dropout, x[0], ratio, training, with_mask, torch.bool, seed)
    return (b.call(operator.getitem, out, 0), b.call(operator.getitem, out, 1)) if with_mask else out


@register("Dropout", since=1)
def _dropout_1(b, node, x, attrs):
    return _dropout(b, node, x, attrs.get("ratio", 0.5), False)


@register("Dropout", since=12)
def _dropout_12(b, node, x, attrs):
    ratio = _arg(b, node, x, 1, kind=float) if len(x) > 1 and x[1] is not None else 0.5
    training = _arg(b, node, x, 2, kind=bool) if len(x) > 2 and x[2] is not None else None
    return _dropout(b, node, x, ratio, training, attrs.get("seed"))
