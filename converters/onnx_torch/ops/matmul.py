"""Matrix products: Gemm, MatMul, MatMulInteger and Einsum (QLinearMatMul is in quantized.py)."""

from __future__ import annotations

import torch

from modelport.converters.onnx_torch.registry import register


# -- matrix products --------------------------------------------------------------------------------
def gemm(a, b_, c, alpha, beta, trans_a, trans_b):
    if trans_a:
        a = a.transpose(0, 1)
    if trans_b:
        b_ = b_.transpose(0, 1)
    y = torch.matmul(a, b_)
    if alpha != 1.0:
        y = y * alpha
    if c is not None:
        y = y + (c * beta if beta != 1.0 else c)
    return y


@register("Gemm")
def _gemm(b, node, x, attrs):
    return b.call(gemm, x[0], x[1], x[2] if len(x) > 2 else None, attrs.get("alpha", 1.0), attrs.get("beta", 1.0),
                  attrs.get("transA", 0), attrs.get("transB", 0))


@register("MatMul")
def _matmul(b, node, x, attrs):
    return b.call(torch.matmul, x[0], x[1])


def matmul_integer(a, b_, a_zero, b_zero):
    a = a.to(torch.int32)
    b_ = b_.to(torch.int32)
    if a_zero is not None:
        a = a - (a_zero.to(torch.int32).reshape(-1, 1) if a_zero.dim() == 1 else a_zero.to(torch.int32))
    if b_zero is not None:
        b_ = b_ - b_zero.to(torch.int32)
    if a.device.type != "cpu":  # CUDA has no integer matmul; float64 is exact for 8-bit products
        return torch.matmul(a.double(), b_.double()).round().to(torch.int32)
    return torch.matmul(a, b_)


@register("MatMulInteger", since=10)
def _matmul_integer(b, node, x, attrs):
    return b.call(matmul_integer, x[0], x[1], x[2] if len(x) > 2 else None, x[3] if len(x) > 3 else None)


@register("Einsum", since=12)
def _einsum(b, node, x, attrs):
    return b.call(torch.einsum, attrs["equation"].replace(" ", ""), *x)
