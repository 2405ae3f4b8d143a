"""Integer and quantized convolution / matmul: ConvInteger, QLinearConv and QLinearMatMul, computed
in float64 and requantized; they share the zero-point helpers below."""

from __future__ import annotations

import torch

from modelport.converters.onnx_torch.ops.conv import conv
from modelport.converters.onnx_torch.registry import register


# -- integer and quantized convolution / matmul --------------------------------------------------------
def _zero_point(zp, dim, axis):
    """A zero point or scale as float64, a 1-D one shaped to broadcast along `axis` of a dim-D tensor."""
    if zp is None:
        return 0.0
    zp = zp.to(torch.float64)
    if zp.dim() == 1 and zp.numel() > 1:
        shape = [1] * dim
        shape[axis] = -1
        zp = zp.reshape(shape)
    return zp


def _requantize(acc, scale, zero_point):
    info = torch.iinfo(zero_point.dtype) if zero_point is not None else torch.iinfo(torch.uint8)
    y = torch.round(acc * scale) + (zero_point.to(torch.float64) if zero_point is not None else 0.0)
    return y.clamp(info.min, info.max).to(zero_point.dtype if zero_point is not None else torch.uint8)


def conv_integer(x, w, x_zero, w_zero, strides, pads, dilations, group, auto_pad):
    xf = x.to(torch.float64) - _zero_point(x_zero, x.dim(), 1)
    wf = w.to(torch.float64) - _zero_point(w_zero, w.dim(), 0)
    return conv(xf, wf, None, strides, pads, dilations, group, auto_pad).to(torch.int32)


def qlinear_conv(x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero, bias, strides, pads, dilations, group,
                 auto_pad):
    xf = x.to(torch.float64) - _zero_point(x_zero, x.dim(), 1)
    wf = w.to(torch.float64) - _zero_point(w_zero, w.dim(), 0)
    acc = conv(xf, wf, None if bias is None else bias.to(torch.float64), strides, pads, dilations, group, auto_pad)
    scale = _zero_point(x_scale, x.dim(), 1) * _zero_point(w_scale, x.dim(), 1) / _zero_point(y_scale, x.dim(), 1)
    return _requantize(acc, scale, y_zero)


def qlinear_matmul(a, a_scale, a_zero, b_, b_scale, b_zero, y_scale, y_zero):
    af = a.to(torch.float64) - _zero_point(a_zero, a.dim(), -2)
    bf = b_.to(torch.float64) - _zero_point(b_zero, b_.dim(), -1)
    scale = _zero_point(a_scale, a.dim(), -2) * _zero_point(b_scale, b_.dim(), -1) / y_scale.to(torch.float64)
    return _requantize(torch.matmul(af, bf), scale, y_zero)


def _conv_attrs(attrs):
    return (attrs.get("strides"), attrs.get("pads"), attrs.get("dilations"), attrs.get("group", 1),
            attrs.get("auto_pad", "NOTSET"))


@register("ConvInteger", since=10)
def _conv_integer(b, node, x, attrs):
    x = list(x) + [None] * (4 - len(x))
    return b.call(conv_integer, *x[:4], *_conv_attrs(attrs))


@register("QLinearConv", since=10)
def _qlinear_conv(b, node, x, attrs):
    x = list(x) + [None] * (9 - len(x))
    return b.call(qlinear_conv, *x[:9], *_conv_attrs(attrs))


@register("QLinearMatMul", since=10)
def _qlinear_matmul(b, node, x, attrs):
    return b.call(qlinear_matmul, *x[:8])
