"""The softmax family (Softmax, LogSoftmax, Hardmax) and the parameterised activations, Clip
included; the parameter-free elementwise ones are in elementwise.py."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from modelport.converters.onnx_torch.registry import register


# -- softmax family ---------------------------------------------------------------------------------
def hardmax(x, axis):
    idx = torch.argmax(x, dim=axis, keepdim=True)
    return torch.zeros_like(x).scatter(axis, idx, 1)


def softmax_2d(x, axis):
    return torch.softmax(x.flatten(axis % x.dim()), -1).reshape(x.shape)


def log_softmax_2d(x, axis):
    return torch.log_softmax(x.flatten(axis % x.dim()), -1).reshape(x.shape)


def hardmax_2d(x, axis):
    return hardmax(x.flatten(axis % x.dim()), -1).reshape(x.shape)


def _softmax_family(op, along, coerced):
    def old(b, node, x, attrs):
        return b.call(coerced, x[0], attrs.get("axis", 1))

    def new(b, node, x, attrs):
        return b.call(along, x[0], attrs.get("axis", -1))
    register(op)(old)
    register(op, since=13)(new)


_softmax_family("Softmax", torch.softmax, softmax_2d)
_softmax_family("LogSoftmax", torch.log_softmax, log_softmax_2d)
_softmax_family("Hardmax", hardmax, hardmax_2d)


# -- activations ------------------------------------------------------------------------------------
def hard_sigmoid(x, alpha, beta):
    return torch.clamp(x * alpha + beta, 0.0, 1.0)


def thresholded_relu(x, alpha):
    return torch.where(x > alpha, x, torch.zeros_like(x))


def prelu(x, slope):
    return torch.where(x < 0, x * slope, x)


def prelu_legacy(x, slope):
    """PRelu-1..6: a slope of one value per channel broadcasts over the channel axis."""
    if slope.dim() == 1 and x.dim() > 2 and slope.shape[0] == x.shape[1] and slope.shape[0] != x.shape[-1]:
        slope = slope.reshape(-1, *([1] * (x.dim() - 2)))
    return torch.where(x < 0, x * slope, x)


def shrink(x, lambd, bias):
    y = torch.where(x < -lambd, x + bias, torch.where(x > lambd, x - bias, torch.zeros_like(x)))
    return y.to(x.dtype)


def swish(x, alpha):
    return x * torch.sigmoid(x * alpha)


def selu(x, alpha, gamma):
    return gamma * torch.where(x > 0, x, alpha * (torch.exp(x) - 1))


def softplus(x):
    return torch.log1p(torch.exp(-x.abs())) + x.clamp(min=0)


@register("LeakyRelu")
def _leaky_relu(b, node, x, attrs):
    return b.call(F.leaky_relu, x[0], attrs.get("alpha", 0.01))


@register("Elu")
def _elu(b, node, x, attrs):
    return b.call(F.elu, x[0], attrs.get("alpha", 1.0))


@register("Selu")
def _selu(b, node, x, attrs):
    return b.call(selu, x[0], attrs.get("alpha", 1.67326319217681884765625), attrs.get("gamma", 1.05070102214813232421875))


@register("Celu", since=12)
def _celu(b, node, x, attrs):
    return b.call(F.celu, x[0], attrs.get("alpha", 1.0))


@register("HardSigmoid")
def _hard_sigmoid(b, node, x, attrs):
    return b.call(hard_sigmoid, x[0], attrs.get("alpha", 0.2), attrs.get("beta", 0.5))


@register("HardSwish", since=14)
def _hard_swish(b, node, x, attrs):
    return b.call(F.hardswish, x[0])


@register("PRelu")
def _prelu_1(b, node, x, attrs):
    return b.call(prelu_legacy, x[0], x[1])


@register("PRelu", since=7)
def _prelu(b, node, x, attrs):
    return b.call(prelu, x[0], x[1])


@register("ThresholdedRelu", since=10)
def _thresholded_relu(b, node, x, attrs):
    return b.call(thresholded_relu, x[0], attrs.get("alpha", 1.0))


@register("Softplus")
def _softplus(b, node, x, attrs):
    return b.call(softplus, x[0])


@register("Mish", since=18)
def _mish(b, node, x, attrs):
    return b.call(F.mish, x[0])


@register("Gelu", since=20)
def _gelu(b, node, x, attrs):
    return b.call(F.gelu, x[0], approximate=attrs.get("approximate", "none"))


@register("Shrink", since=9)
def _shrink(b, node, x, attrs):
    return b.call(shrink, x[0], attrs.get("lambd", 0.5), attrs.get("bias", 0.0))


@register("Swish", since=24)
def _swish(b, node, x, attrs):
    return b.call(swish, x[0], attrs.get("alpha", 1.0))


# -- Clip -------------------------------------------------------------------------------------------
def clip(x, lo, hi):
    if lo is not None:
        x = torch.maximum(x, lo.to(x.dtype)) if isinstance(lo, torch.Tensor) else x.clamp(min=lo)
    if hi is not None:
        x = torch.minimum(x, hi.to(x.dtype)) if isinstance(hi, torch.Tensor) else x.clamp(max=hi)
    return x


@register("Clip")
def _clip_1(b, node, x, attrs):
    return b.call(clip, x[0], attrs.get("min"), attrs.get("max"))


@register("Clip", since=11)
def _clip_11(b, node, x, attrs):
    bounds = []
    for i in (1, 2):
        static = b.static(node, i)
        if static is not None:
            bounds.append(static.item())
        else:
            bounds.append(x[i] if len(x) > i else None)
    return b.call(clip, x[0], *bounds)
