"""Elementwise arithmetic and activations: a torch function per ONNX op, with numpy broadcasting
(which ONNX and torch share).

torch has tensors of uint16, uint32 and uint64 but few kernels for them (no add, compare, div...):
the helpers below compute those in a wider signed type (uint64 with its sign bit flipped where order
matters) and cast back, which wraps as the unsigned arithmetic does.
"""

from __future__ import annotations

import torch

from modelport.converters.onnx_torch.registry import register

_UNSIGNED_WIDE = {torch.uint16: torch.int32, torch.uint32: torch.int64, torch.uint64: torch.int64}
_SIGN64 = -(2 ** 63)
_SIGNED_VIEW = {torch.uint16: torch.int16, torch.uint32: torch.int32, torch.uint64: torch.int64}


def _is_wide_unsigned(t) -> bool:
    return t.dtype in _UNSIGNED_WIDE


def _ordered(t):
    """uint16/32/64 as an order-preserving signed tensor (uint64: the bit pattern, sign flipped)."""
    if t.dtype == torch.uint64:
        return t.to(torch.int64) ^ _SIGN64
    return t.to(_UNSIGNED_WIDE[t.dtype]) if t.dtype in _UNSIGNED_WIDE else t


def _unordered(t, dtype):
    """The inverse of _ordered."""
    if dtype == torch.uint64:
        return (t ^ _SIGN64).to(dtype)
    return t.to(dtype)


def udivmod64(a, b):
    """Unsigned 64-bit a // b and a % b, on int64 tensors holding the uint64 bit patterns."""
    a, b = torch.broadcast_tensors(a, b)
    big = b < 0  # a divisor >= 2**63: the quotient is 0 or 1
    q_big = ((a ^ _SIGN64) >= (b ^ _SIGN64)).to(torch.int64)
    bs = torch.where(big, torch.ones_like(b), b)
    q = (((a >> 1) & (2 ** 63 - 1)) // bs) << 1  # (a >>> 1) // b * 2: short of a // b by at most 1
    r = a - q * bs
    q = torch.where((r ^ _SIGN64) >= (bs ^ _SIGN64), q + 1, q)
    q = torch.where(big, q_big, q)
    return q, a - q * b


# Plain module-level functions, not closures: the package output copies each helper's source.
def _widened(fn, a, b):
    """An arithmetic op (add, sub, mul) that computes unsigned types torch lacks kernels for widened."""
    if a.dtype == b.dtype and _is_wide_unsigned(a):
        wide = _UNSIGNED_WIDE[a.dtype]
        return fn(a.to(wide), b.to(wide)).to(a.dtype)
    return fn(a, b)


def _compared(fn, a, b):
    """A comparison that compares unsigned types torch lacks kernels for in an order-preserving form."""
    if a.dtype == b.dtype and _is_wide_unsigned(a):
        return fn(_ordered(a), _ordered(b))
    return fn(a, b)


def add(a, b):
    return _widened(torch.add, a, b)


def sub(a, b):
    return _widened(torch.sub, a, b)


def mul(a, b):
    return _widened(torch.mul, a, b)


def eq(a, b):
    return _compared(torch.eq, a, b)


def lt(a, b):
    return _compared(torch.lt, a, b)


def gt(a, b):
    return _compared(torch.gt, a, b)


def le(a, b):
    return _compared(torch.le, a, b)


def ge(a, b):
    return _compared(torch.ge, a, b)


def bitwise_not(x):
    if x.dtype in _SIGNED_VIEW:
        return torch.bitwise_not(x.view(_SIGNED_VIEW[x.dtype])).view(x.dtype)
    return torch.bitwise_not(x)


def _bitwise(fn, a, b):
    """Bit operations on uint16/32/64 through a signed view of the same bits: CUDA has no kernels
    for those unsigned types, and the bits are what these operators work on."""
    if a.dtype == b.dtype and a.dtype in _SIGNED_VIEW:
        signed = _SIGNED_VIEW[a.dtype]
        return fn(a.view(signed), b.view(signed)).view(a.dtype)
    return fn(a, b)


def bitwise_and(a, b):
    return _bitwise(torch.bitwise_and, a, b)


def bitwise_or(a, b):
    return _bitwise(torch.bitwise_or, a, b)


def bitwise_xor(a, b):
    return _bitwise(torch.bitwise_xor, a, b)


def pow_(a, b):
    """ONNX Pow's output has the base's type (an integer base with a float exponent stays integer)."""
    out = torch.pow(a, b)
    return out if out.dtype == a.dtype else out.to(a.dtype)


_BINARY = {"Add": add, "Sub": sub, "Mul": mul, "Pow": pow_,
           "Equal": eq, "Less": lt, "Greater": gt, "LessOrEqual": le,
           "GreaterOrEqual": ge, "And": torch.logical_and, "Or": torch.logical_or,
           "Xor": torch.logical_xor, "BitwiseAnd": bitwise_and, "BitwiseOr": bitwise_or,
           "BitwiseXor": bitwise_xor}
_UNARY = {"Relu": torch.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Abs": torch.abs, "Neg": torch.neg,
          "Exp": torch.exp, "Log": torch.log, "Sqrt": torch.sqrt, "Reciprocal": torch.reciprocal, "Floor": torch.floor,
          "Ceil": torch.ceil, "Erf": torch.erf, "Sin": torch.sin, "Cos": torch.cos, "Tan": torch.tan,
          "Asin": torch.asin, "Acos": torch.acos, "Atan": torch.atan, "Sinh": torch.sinh, "Cosh": torch.cosh,
          "Asinh": torch.asinh, "Acosh": torch.acosh, "Atanh": torch.atanh, "Not": torch.logical_not,
          "Sign": torch.sign, "Round": torch.round, "BitwiseNot": bitwise_not, "Softsign": torch.nn.functional.softsign,
          "IsNaN": torch.isnan}


def _binary(fn):
    def convert(b, node, x, attrs):
        return b.call(fn, x[0], x[1])
    return convert


def _unary(fn):
    def convert(b, node, x, attrs):
        return b.call(fn, x[0])
    return convert


for _op, _fn in _BINARY.items():
    register(_op)(_binary(_fn))
for _op, _fn in _UNARY.items():
    register(_op)(_unary(_fn))


def div(a, b):
    """ONNX Div truncates toward zero for integers (C semantics); torch's / would give floats."""
    if a.dtype == b.dtype == torch.uint64:
        return udivmod64(a.to(torch.int64), b.to(torch.int64))[0].to(torch.uint64)
    if a.dtype == b.dtype and _is_wide_unsigned(a):
        wide = _UNSIGNED_WIDE[a.dtype]
        return torch.div(a.to(wide), b.to(wide), rounding_mode="trunc").to(a.dtype)
    if not a.is_floating_point() and not b.is_floating_point():
        return torch.div(a, b, rounding_mode="trunc")
    return torch.div(a, b)


@register("Div")
def _div(b, node, x, attrs):
    return b.call(div, x[0], x[1])


@register("Identity")
def _identity(b, node, x, attrs):
    return x[0]
