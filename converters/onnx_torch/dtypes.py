"""ONNX tensor element types as torch dtypes (Cast, ConstantOfShape, EyeLike, RandomNormal...), and the
carriers of the types torch lacks.

Carriers. ONNX has element types torch cannot compute with: INT4, UINT4, INT2, UINT2 (sub-byte integers,
the weights of block-quantized LLMs), FLOAT4E2M1 (MX fp4) and FLOAT8E8M0 (MX scales). torch's int4 / uint4 /
int2 / uint2 are shell dtypes without kernels (not even a copy), float4_e2m1fn_x2 packs two values per byte,
and float8_e8m0fnu supports few operations and rounds its own way, not by Cast's round_mode. So the
converter emulates each with a *carrier*, an ordinary torch dtype that holds exactly the type's values, one
value per element (unpacked: an int4 weight takes a byte per value in the converted module, twice its
packed ONNX size):

    INT4, INT2           torch.int8     values in [-8, 7], [-2, 1]
    UINT4, UINT2         torch.uint8    values in [0, 15], [0, 3]
    FLOAT4E2M1           torch.float32  0, 0.5, 1, 1.5, 2, 3, 4, 6 with either sign
    FLOAT8E8M0           torch.float32  the powers of two 2^-127 .. 2^127, and NaN

What a user of the converted module sees: an int4 input or output is int8 values (pass int8 values in
[-8, 7] where the ONNX model takes int4; an int4 output arrives as int8 values in that range), a uint4 /
uint2 one uint8, a float4e2m1 or float8e8m0 one float32 values. Initializers and Constants of these types
become int8 / uint8 / float32 buffers holding their values (`tensor_of`); float-carried ones are buffers,
not trainable parameters. `torch_dtype` gives the carrier for these types.

Reading a carrier is an ordinary cast of its values; only a cast *to* one of these types needs the type's
own rounding and range, which the helpers below do (Cast, CastLike and QuantizeLinear emit them):
`cast_int_bits` (truncate toward zero, then keep the low bits, two's complement, as ONNX casts to a
narrower integer: float 8 -> int4 -8), `to_float4e2m1` (round half to even, saturate to +-6) and
`to_float8e8m0` (Cast-24's round_mode up / down / nearest, and saturate). They match the reference
(onnx.reference, ml_dtypes) bit for bit, except `to_float8e8m0` where the reference departs from Cast's
own table: there infinity gives NaN even when saturating, float32 subnormals round by their bits (up to
2^-126 where 2^-127 is above them), values below 2^-127 stay in range when not saturating, and round_mode
up tests the fraction with the mask 0x4FFFFF, so 1.125 and 1.25 stay 1 (here 2: "away from zero").
Converters that must know a value's ONNX type beyond its torch dtype (CastLike's target, QuantizeLinear's
zero point) ask `onnx_type_of`.

The runtime helpers here are plain module-level functions using module-level constants only: the
package output copies their source into a standalone model.py (converters/onnx_torch/inline.py).
"""

from __future__ import annotations

import torch

# onnx.TensorProto.DataType values
UINT4, INT4, FLOAT4E2M1, FLOAT8E8M0, UINT2, INT2 = 21, 22, 23, 24, 25, 26

TORCH_DTYPES = {
    1: torch.float32, 2: torch.uint8, 3: torch.int8, 4: torch.uint16, 5: torch.int16, 6: torch.int32, 7: torch.int64,
    9: torch.bool, 10: torch.float16, 11: torch.float64, 12: torch.uint32, 13: torch.uint64, 16: torch.bfloat16,
    17: torch.float8_e4m3fn, 18: torch.float8_e4m3fnuz, 19: torch.float8_e5m2, 20: torch.float8_e5m2fnuz,
}
# The types torch lacks, and the dtype that carries each one's values.
CARRIERS = {UINT4: torch.uint8, INT4: torch.int8, FLOAT4E2M1: torch.float32, FLOAT8E8M0: torch.float32,
            UINT2: torch.uint8, INT2: torch.int8}
# Sub-byte integer types: (bits, signed) and their value ranges.
INT_BITS = {UINT4: (4, False), INT4: (4, True), UINT2: (2, False), INT2: (2, True)}
INT_RANGES = {UINT4: (0, 15), INT4: (-8, 7), UINT2: (0, 3), INT2: (-2, 1)}
# ml_dtypes (numpy) dtype names of the carried types, their ONNX types; and those torch.from_numpy cannot
# take although torch has the dtype (moved as raw bits, then viewed).
NUMPY_CARRIED = {"uint4": UINT4, "int4": INT4, "float4_e2m1fn": FLOAT4E2M1, "float8_e8m0fnu": FLOAT8E8M0,
                 "uint2": UINT2, "int2": INT2}
BIT_VIEWS = {"bfloat16": ("uint16", "bfloat16"), "float8_e4m3fn": ("uint8", "float8_e4m3fn"),
             "float8_e4m3fnuz": ("uint8", "float8_e4m3fnuz"), "float8_e5m2": ("uint8", "float8_e5m2"),
             "float8_e5m2fnuz": ("uint8", "float8_e5m2fnuz")}


def torch_dtype(onnx_type: int) -> torch.dtype:
    """The torch dtype of an ONNX element type; for a type torch lacks, its carrier (module docstring)."""
    from modelport.errors import ConversionError

    try:
        return TORCH_DTYPES[onnx_type] if onnx_type in TORCH_DTYPES else CARRIERS[onnx_type]
    except KeyError:
        raise ConversionError(f"ONNX element type {onnx_type} has no torch dtype") from None


def is_carried(onnx_type: int | None) -> bool:
    return onnx_type in CARRIERS


# -- numpy values as tensors ----------------------------------------------------------------------------
def carrier_array(arr):
    """A numpy array of a carried type (ml_dtypes int4, float4_e2m1fn...) as its carrier's numpy array;
    any other array unchanged."""
    import numpy as np

    onnx_type = NUMPY_CARRIED.get(arr.dtype.name)
    if onnx_type is None:
        return arr
    return arr.astype({torch.int8: np.int8, torch.uint8: np.uint8, torch.float32: np.float32}[CARRIERS[onnx_type]])


def tensor_of(value) -> torch.Tensor:
    """A value (numpy array, also of an ml_dtypes type, or a nested list) as a new torch tensor (a copy: the
    module owns it): carried types as their carriers, bfloat16 and float8 bit for bit."""
    import numpy as np

    arr = carrier_array(np.array(value))
    if arr.dtype.name in BIT_VIEWS:
        raw, view = BIT_VIEWS[arr.dtype.name]
        return torch.from_numpy(arr.view(raw).copy()).view(getattr(torch, view))
    return torch.as_tensor(arr)


# -- the ONNX type of a value at conversion time -----------------------------------------------------------
_SAME_TYPE_AS_INPUT_0 = {"Identity", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Expand", "Tile",
                         "Slice", "Gather", "GatherElements", "GatherND", "Concat", "Split", "Pad", "Neg", "Abs",
                         "DepthToSpace", "SpaceToDepth", "Compress", "ReverseSequence", "Where"}


def onnx_type_of(b, name: str) -> int | None:
    """The ONNX element type of the value `name` in builder `b`'s graph (or a graph around it): as the graph
    declares it (input, output, value_info), as an initializer or Constant holds it, as the node producing it
    fixes it (Cast's `to`, a reshaping op's input), else from onnx shape inference; None if unknown."""
    import numpy as np
    from onnx import helper

    if not name:
        return None
    seen: set[str] = set()
    builder = b
    while builder is not None:
        found = _declared_type(builder.onnx_graph, name)
        if found:
            return found
        value = builder.statics.get(name)
        if value is not None:
            try:
                return helper.np_dtype_to_tensor_dtype(np.asarray(value).dtype)
            except (KeyError, ValueError, TypeError):
                return None
        found = _produced_type(builder, name, seen)
        if found:
            return found
        if name in builder.values and name not in builder.captured:  # computed here: an outer name is another value
            break
        builder = builder.parent
    return _inferred_type(b, name)


def _declared_type(graph, name: str) -> int:
    for v in (*graph.input, *graph.output, *graph.value_info):
        if v.name == name and v.type.WhichOneof("value") == "tensor_type":
            return v.type.tensor_type.elem_type
    return 0


def _produced_type(b, name: str, seen: set[str]) -> int:
    if name in seen:
        return 0
    seen.add(name)
    for node in b.onnx_graph.node:
        if name not in node.output:
            continue
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        attrs = {a.name: a for a in node.attribute}
        if domain:
            return 0
        if node.op_type == "Cast" and "to" in attrs:
            to = attrs["to"]
            if to.type == to.STRING:  # Cast-1 names the type
                from onnx import TensorProto

                return TensorProto.DataType.Value(to.s.decode().upper())
            return to.i
        if node.op_type == "CastLike" and len(node.input) > 1:
            return onnx_type_of(b, node.input[1]) or 0
        if node.op_type == "QuantizeLinear":
            if len(node.input) > 2 and node.input[2]:
                return onnx_type_of(b, node.input[2]) or 0
            return attrs["output_dtype"].i if "output_dtype" in attrs and attrs["output_dtype"].i else 2
        if node.op_type in _SAME_TYPE_AS_INPUT_0 and node.input:
            index = 1 if node.op_type == "Where" else 0
            return onnx_type_of(b, node.input[index]) or 0
        return 0
    return 0


def _inferred_type(b, name: str) -> int | None:
    """From onnx shape inference over the model, run once per conversion (kept on the outermost builder);
    None where inference fails or does not reach the value."""
    root = b
    while root.parent is not None:
        root = root.parent
    types = getattr(root, "_inferred_onnx_types", None)
    if types is None:
        types = {}
        try:
            import onnx

            if root.model.ByteSize() < 2**31 - 1:
                inferred = onnx.shape_inference.infer_shapes(root.model)
                _collect_types(inferred.graph, types)
        except Exception:  # inference is a help here, not a requirement
            pass
        root._inferred_onnx_types = types
    return types.get(name)


def _collect_types(graph, types: dict) -> None:
    for v in (*graph.input, *graph.output, *graph.value_info):
        if v.type.WhichOneof("value") == "tensor_type" and v.type.tensor_type.elem_type:
            types.setdefault(v.name, v.type.tensor_type.elem_type)
    for node in graph.node:
        for a in node.attribute:
            if a.HasField("g"):
                _collect_types(a.g, types)
            for g in a.graphs:
                _collect_types(g, types)


# -- casts to a carried type (runtime helpers) -------------------------------------------------------------
def cast_int_bits(x, bits, signed):
    """Cast to a sub-byte integer type (int4, uint4, int2, uint2) as ONNX casts to a narrower integer: a float
    is truncated toward zero, then the low `bits` bits are kept (two's complement for a signed type, so 8
    becomes -8 in int4), as the reference (ml_dtypes) does. Carried in int8 (signed) or uint8."""
    v = x.to(torch.int64) & ((1 << bits) - 1)
    if signed:
        v = torch.where(v >= (1 << (bits - 1)), v - (1 << bits), v)
        return v.to(torch.int8)
    return v.to(torch.uint8)


def to_float4e2m1(x):
    """Round to float4e2m1 (1 sign, 2 exponent, 1 mantissa bit: 0, 0.5, 1, 1.5, 2, 3, 4, 6 with either sign),
    half to even, saturating to +-6 (the type has no infinity or NaN: the `saturate` attribute changes
    nothing). As the reference (ml_dtypes) does, a double is read as float32 first, and NaN becomes a zero:
    -0 for NaN, +0 for -NaN. Carried in float32. The grid's step is 0.5 below 2, 1 below 4, then 2;
    torch.round rounds half to even, and an even multiple of the step is an even mantissa, so each range
    is one exact scaled round."""
    f = x.to(torch.float32)
    a = f.abs()
    q = torch.where(a < 2, torch.round(a * 2) / 2, torch.where(a < 4, torch.round(a), torch.round(a / 2) * 2))
    q = torch.copysign(q.clamp(max=6.0), f)
    q = torch.where(torch.isnan(f), torch.where(torch.signbit(f), torch.zeros_like(f), torch.full_like(f, -0.0)), q)
    return q.to(torch.float32)


_E8M0_MIN = 2.0 ** -127  # exponent field 0; float32 holds it (a subnormal)
_E8M0_MIN_MIDPOINT = 1.5 * 2.0 ** -127


def to_float8e8m0(x, saturate=1, round_mode="up"):
    """Round to float8e8m0 (a power of two 2^-127 .. 2^127, or NaN), carried in float32, following Cast-24's
    table: `round_mode` up (any fraction of a power of two rounds away from zero), down (toward zero) or
    nearest (ties up); saturating clamps to the range (infinity to 2^127, 0 and tiny values to 2^-127),
    not saturating gives NaN out of range (0 included). NaN stays NaN; a negative value (undefined) is read
    as its magnitude, and a double as float32 first, as the reference does. Computed on float32 bits:
    exponent field + rounding."""
    a = x.to(torch.float32).abs()
    bits = a.view(torch.int32)
    exponent = bits >> 23  # 0 .. 255: a is not negative
    mantissa = bits & 0x7FFFFF
    if round_mode == "up":
        step = mantissa > 0
        tiny_up = a > _E8M0_MIN  # float32 subnormals: 2^-127 or (up) 2^-126
    elif round_mode == "nearest":
        step = mantissa >= 0x400000
        tiny_up = a >= _E8M0_MIN_MIDPOINT
    elif round_mode == "down":
        step = torch.zeros_like(mantissa, dtype=torch.bool)
        tiny_up = step
    else:
        raise ValueError(f"unknown round_mode {round_mode!r} (up, down, nearest)")
    code = torch.where(exponent == 0, tiny_up.to(torch.int32), exponent + step.to(torch.int32))
    nan = torch.isnan(a)
    if saturate:  # below the range is code 0 already (2^-127); above it (infinity included), 2^127
        code = code.clamp(max=254)
    else:
        nan = nan | (a < _E8M0_MIN) | (code > 254)
    value = torch.where(code == 0, torch.full_like(bits, 0x400000), code << 23).view(torch.float32)
    return torch.where(nan, torch.full_like(value, float("nan")), value)
