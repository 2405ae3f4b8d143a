"""Linear (de)quantization: QuantizeLinear, DequantizeLinear (opset 10 to 25) and DynamicQuantizeLinear (11).

Covered, following the ONNX spec and its reference implementation (onnx/reference/ops/op_*quantize_linear.py):
- per-tensor (scalar or one-element scale), per-axis (1-D scale along `axis`, opset 13+) and blocked
  (`block_size`, opset 21+) scales and zero points;
- integer outputs uint8, int8, uint16, int16 (rounded half to even, then saturated to the type's range);
- float8 outputs e4m3fn, e4m3fnuz, e5m2, e5m2fnuz with `saturate` (opset 19+): saturating clamps to the
  type's finite range (infinities too), not saturating gives NaN (or inf for e5m2) as a plain cast;
- `output_dtype` (QuantizeLinear 21+, DequantizeLinear 23+) and `precision` (QuantizeLinear 23+: the type the
  division runs in; without it the scale's type, as the spec says);
- scales of any float type torch holds (float8e8m0 of opset 24 included: read as float32);
- the types torch lacks, through their carriers (dtypes.py): int4, uint4, int2, uint2 (opset 21+ / 25) carried
  in int8 / uint8, rounded half to even and saturated to [-8, 7], [0, 15], [-2, 1], [0, 3]; float4e2m1 (23+)
  carried in float32, rounded half to even on its grid and saturated to +-6; float8e8m0 scales as float32. The
  output type is read at conversion (the zero point's ONNX type, else `output_dtype`), since a carrier's dtype
  does not tell int4 from int8.

One converter per operator serves every version: the attributes later versions added are read with their
defaults, which are the earlier versions' behaviour (axis 1, saturate 1, no blocks, output type from the zero
point, else uint8).

A float8 or float4e2m1 zero point, which the spec expects to be zero, is applied by the formula as for integers
(the reference ignores a float4e2m1 one in DequantizeLinear). Where the zero point's ONNX type cannot be known at
conversion (neither declared nor inferable), its torch dtype decides, and an int4 one would quantize as int8.
"""

from __future__ import annotations

import torch

from modelport.errors import ConversionError
from modelport.converters.onnx_torch.dtypes import (FLOAT4E2M1, FLOAT8E8M0, INT_RANGES, is_carried, onnx_type_of,
                                                     to_float4e2m1, torch_dtype)
from modelport.converters.onnx_torch.ops._args import _outputs
from modelport.converters.onnx_torch.registry import register

# The saturation range of each integer quantized type ONNX defines and torch holds.
_INT_RANGES = {torch.uint8: (0, 255), torch.int8: (-128, 127), torch.uint16: (0, 65535), torch.int16: (-32768, 32767)}
_FLOAT8 = (torch.float8_e4m3fn, torch.float8_e4m3fnuz, torch.float8_e5m2, torch.float8_e5m2fnuz)
# Types QuantizeLinear may divide in; another scale type (float8e8m0, int32) divides in float32.
_DIVIDE_TYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
# e4m3fn's largest finite value is 448; ONNX (ml_dtypes) rounds |x| above 464 to NaN where torch saturates.
_E4M3FN_NAN_ABOVE = 464.0


# -- runtime helpers ---------------------------------------------------------------------------------
def quant_param(v, x, axis, block_size):
    """A scale or zero point shaped to broadcast against `x`: a one-element tensor is per-tensor, a 1-D one
    lies along `axis`, a blocked one (block_size > 0) is repeated block_size times along `axis` and cut to
    x's length there (the last block may be short)."""
    if v.numel() == 1:
        return v.reshape(())
    axis = axis % max(x.dim(), 1)
    if block_size:
        return v.repeat_interleave(block_size, dim=axis).narrow(axis, 0, x.shape[axis])
    shape = [1] * x.dim()
    shape[axis] = -1
    return v.reshape(shape)


def to_float8(x, dtype, saturate):
    """Cast to a float8 type as ONNX does: saturating clamps to the finite range (infinities included);
    otherwise a plain cast, where e4m3fn must give NaN past its range but torch's cast saturates."""
    if saturate:
        m = torch.finfo(dtype).max
        return x.clamp(-m, m).to(dtype)
    if dtype == torch.float8_e4m3fn:
        x = torch.where(x.abs() > _E4M3FN_NAN_ABOVE, torch.full_like(x, float("nan")), x)
    return x.to(dtype)


def quantize_linear(x, scale, zero_point, axis, block_size, dtype, saturate, precision, carried=0):
    """y = saturate(round_half_even(x / scale) + zero_point). The output type is the zero point's, else
    `dtype`; `carried` names it where torch lacks it (the ONNX element type int4 22, uint4 21, int2 26, uint2 25
    or float4e2m1 23, given as int8 / uint8 / float32: dtypes.py), else 0. The division runs in `precision`,
    else in the scale's type. Integer results are summed and clamped in float64, exact for every integer type
    here, before the cast."""
    out = zero_point.dtype if zero_point is not None else dtype
    compute = precision or (scale.dtype if scale.dtype in _DIVIDE_TYPES else torch.float32)
    q = x.to(compute) / quant_param(scale.to(compute), x, axis, block_size)
    if out in _FLOAT8 or carried == FLOAT4E2M1:
        if zero_point is not None:
            q = q + quant_param(zero_point.to(compute), x, axis, block_size)
        return to_float4e2m1(q) if carried == FLOAT4E2M1 else to_float8(q, out, saturate)
    if carried in INT_RANGES:
        lo, hi = INT_RANGES[carried]
        out = torch.int8 if lo < 0 else torch.uint8
    elif out in _INT_RANGES:
        lo, hi = _INT_RANGES[out]
    else:
        raise TypeError(f"QuantizeLinear to {out} is not supported")
    q = torch.round(q).to(torch.float64)
    if zero_point is not None:
        q = q + quant_param(zero_point.to(torch.float64), x, axis, block_size)
    return q.clamp(lo, hi).to(out)


def dequantize_linear(x, scale, zero_point, axis, block_size, dtype):
    """y = (x - zero_point) * scale in float32 (as the reference), cast to `dtype`, else to the scale's
    type. Integers subtract in int64 first, exactly (uint16 and int32 have no other safe arithmetic); floats
    (float8, float4e2m1 carried in float32) in float32. Carried int4 / int2 values are their int8 / uint8
    carriers' values: nothing else to do."""
    out = dtype or scale.dtype
    if zero_point is None:
        dx = x.to(torch.float32)
    elif x.is_floating_point():
        dx = x.to(torch.float32) - quant_param(zero_point.to(torch.float32), x, axis, block_size)
    else:
        dx = (x.to(torch.int64) - quant_param(zero_point.to(torch.int64), x, axis, block_size)).to(torch.float32)
    return (dx * quant_param(scale.to(torch.float32), x, axis, block_size)).to(out)


def dynamic_quantize_linear(x):
    """(y, scale, zero point) to uint8 over x's range widened to hold 0, as ONNX's function defines:
    scale = (max - min) / 255 (1/255 when they meet), zero point = round(clamp(-min / scale, 0, 255))."""
    xf = x.to(torch.float32)
    hi = xf.max().clamp(min=0)
    lo = xf.min().clamp(max=0)
    scale = torch.where(hi == lo, torch.ones_like(hi), hi - lo) / 255
    zero_point = torch.round((-lo / scale).clamp(0, 255))
    y = (torch.round(xf / scale) + zero_point).clamp(0, 255).to(torch.uint8)
    return y, scale.to(x.dtype), zero_point.to(torch.uint8)


# -- converters ----------------------------------------------------------------------------------------
def _padded(x, n):
    """The inputs with omitted optional ones (the zero point) as None."""
    return list(x) + [None] * (n - len(x))


def _dtype_attr(attrs, name):
    """A type attribute (output_dtype, precision) as a torch dtype (a carrier for int4, float4e2m1...), None when
    absent or 0 (unset)."""
    return torch_dtype(attrs[name]) if attrs.get(name) else None


@register("QuantizeLinear", since=10)
def _quantize_linear(b, node, x, attrs):
    x, scale, zero_point = _padded(x, 3)[:3]
    dtype = _dtype_attr(attrs, "output_dtype") or torch.uint8
    # The output's ONNX type: the zero point's, else output_dtype, else uint8 (None: unknown, its dtype decides).
    if zero_point is not None:
        out_type = onnx_type_of(b, node.input[2]) or attrs.get("output_dtype") or None
    else:
        out_type = attrs.get("output_dtype") or 2
    if out_type == FLOAT8E8M0:  # carried, but a scale type, not a quantized one
        raise ConversionError("QuantizeLinear to float8e8m0 is not a quantized type")
    carried = out_type if is_carried(out_type) else 0
    extra = (carried,) if carried else ()  # absent when 0: the call reads as before for types torch has
    return b.call(quantize_linear, x, scale, zero_point, attrs.get("axis", 1), attrs.get("block_size", 0), dtype,
                  attrs.get("saturate", 1), _dtype_attr(attrs, "precision"), *extra)


@register("DequantizeLinear", since=10)
def _dequantize_linear(b, node, x, attrs):
    x, scale, zero_point = _padded(x, 3)[:3]
    return b.call(dequantize_linear, x, scale, zero_point, attrs.get("axis", 1), attrs.get("block_size", 0),
                  _dtype_attr(attrs, "output_dtype"))


@register("DynamicQuantizeLinear", since=11)
def _dynamic_quantize_linear(b, node, x, attrs):
    return _outputs(b, node, b.call(dynamic_quantize_linear, x[0]))
