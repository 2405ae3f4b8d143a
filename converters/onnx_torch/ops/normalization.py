"""Normalization: BatchNormalization (inference and training), Instance, Layer, Group, RMS, Lp and
MeanVariance normalization, and LRN."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from modelport.converters.onnx_torch.ops._args import _getitems
from modelport.converters.onnx_torch.registry import register


# -- normalization ----------------------------------------------------------------------------------
def _channel(p, n):
    return p.reshape(1, -1, *([1] * n))


def batch_norm(x, scale, bias, mean, var, epsilon, training=False, momentum=0.1):
    """Inference BatchNormalization (running statistics). `training` is for someone fine-tuning the
    generated package: `onnx_batch_norm(..., training=self.training)` gives nn.BatchNorm's behaviour."""
    return F.batch_norm(x, mean, var, scale, bias, training, momentum, epsilon)


def batch_norm_spatial0(x, scale, bias, mean, var, epsilon):
    """BatchNormalization-1..8 with spatial=0: statistics and parameters per (C, D1, ...) element."""
    def shaped(p):
        return p.reshape(1, *p.shape)
    return (x - shaped(mean)) / torch.sqrt(shaped(var) + epsilon) * shaped(scale) + shaped(bias)


def batch_norm_training(x, scale, bias, mean, var, epsilon, momentum):
    """(y, running mean, running var, batch mean, batch var) as ONNX's training mode defines them."""
    n = x.dim() - 2
    dims = [0, *range(2, x.dim())]
    batch_mean = x.mean(dim=dims)
    batch_var = x.var(dim=dims, unbiased=False)
    y = (x - _channel(batch_mean, n)) / torch.sqrt(_channel(batch_var, n) + epsilon) * _channel(scale, n) \
        + _channel(bias, n)
    running_mean = mean * momentum + batch_mean * (1 - momentum)
    running_var = var * momentum + batch_var * (1 - momentum)
    return y, running_mean, running_var, batch_mean, batch_var


def _batch_norm(b, node, x, attrs, training):
    eps = attrs.get("epsilon", 1e-5)
    if not training:
        fn = batch_norm_spatial0 if attrs.get("spatial", 1) == 0 else batch_norm
        return b.call(fn, *x[:5], eps)
    out = b.call(batch_norm_training, *x[:5], eps, attrs.get("momentum", 0.9))
    return _getitems(b, out, len(node.output))


@register("BatchNormalization")
def _batch_norm_1(b, node, x, attrs):
    return _batch_norm(b, node, x, attrs, attrs.get("is_test", 0) == 0 and len(node.output) > 1)


@register("BatchNormalization", since=7)
def _batch_norm_7(b, node, x, attrs):
    return _batch_norm(b, node, x, attrs, len(node.output) > 1)


@register("BatchNormalization", since=14)
def _batch_norm_14(b, node, x, attrs):
    return _batch_norm(b, node, x, attrs, bool(attrs.get("training_mode", 0)))


def instance_norm(x, scale, bias, epsilon):
    return F.instance_norm(x, None, None, scale, bias, True, 0.0, epsilon)


@register("InstanceNormalization")
def _instance_norm(b, node, x, attrs):
    return b.call(instance_norm, x[0], x[1], x[2], attrs.get("epsilon", 1e-5))


def layer_norm(x, scale, bias, axis, epsilon, stash):
    """(y, mean, inverse standard deviation); statistics in float32 when stash is set."""
    axis = axis % x.dim()
    dims = tuple(range(axis, x.dim()))
    xs = x.to(torch.float32) if stash and x.dtype != torch.float64 else x
    mean = xs.mean(dim=dims, keepdim=True)
    diff = xs - mean
    inv = torch.rsqrt((diff * diff).mean(dim=dims, keepdim=True) + epsilon)
    y = (diff * inv).to(x.dtype) * scale
    if bias is not None:
        y = y + bias
    return y, mean.to(x.dtype), inv.to(x.dtype)


def layer_norm_y(x, scale, bias, axis, epsilon):
    axis = axis % x.dim()
    shape = tuple(x.shape[axis:])
    if tuple(scale.shape) == shape and (bias is None or tuple(bias.shape) == shape) and x.dtype == torch.float32:
        return F.layer_norm(x, shape, scale, bias, epsilon)
    return layer_norm(x, scale, bias, axis, epsilon, True)[0]


@register("LayerNormalization", since=17)
def _layer_norm(b, node, x, attrs):
    bias = x[2] if len(x) > 2 else None
    axis, eps = attrs.get("axis", -1), attrs.get("epsilon", 1e-5)
    outputs = len(node.output)
    if outputs == 1:
        return b.call(layer_norm_y, x[0], x[1], bias, axis, eps)
    out = b.call(layer_norm, x[0], x[1], bias, axis, eps, attrs.get("stash_type", 1) == 1)
    return _getitems(b, out, outputs)


def group_norm(x, scale, bias, groups, epsilon, per_group, stash):
    channels = x.shape[1]
    if per_group:
        scale = scale.repeat_interleave(channels // groups)
        bias = bias.repeat_interleave(channels // groups)
    if stash and x.dtype in (torch.float16, torch.bfloat16):
        return F.group_norm(x.float(), groups, None, None, epsilon).to(x.dtype) * _channel(scale, x.dim() - 2) \
            + _channel(bias, x.dim() - 2)
    return F.group_norm(x, groups, scale, bias, epsilon)


@register("GroupNormalization", since=18)
def _group_norm_18(b, node, x, attrs):
    return b.call(group_norm, x[0], x[1], x[2], attrs["num_groups"], attrs.get("epsilon", 1e-5), True, True)


@register("GroupNormalization", since=21)
def _group_norm_21(b, node, x, attrs):
    return b.call(group_norm, x[0], x[1], x[2], attrs["num_groups"], attrs.get("epsilon", 1e-5), False,
                  attrs.get("stash_type", 1) == 1)


def rms_norm(x, scale, axis, epsilon, stash):
    axis = axis % x.dim()
    dims = tuple(range(axis, x.dim()))
    xs = x.to(torch.float32) if stash and x.dtype != torch.float64 else x
    y = xs * torch.rsqrt((xs * xs).mean(dim=dims, keepdim=True) + epsilon)
    return y.to(x.dtype) * scale


@register("RMSNormalization", since=23)
def _rms_norm(b, node, x, attrs):
    return b.call(rms_norm, x[0], x[1], attrs.get("axis", -1), attrs.get("epsilon", 1e-5),
                  attrs.get("stash_type", 1) == 1)


def lp_norm(x, axis, p):
    return x / torch.linalg.vector_norm(x, ord=p, dim=axis, keepdim=True)


@register("LpNormalization")
def _lp_norm(b, node, x, attrs):
    return b.call(lp_norm, x[0], attrs.get("axis", -1), attrs.get("p", 2))


def mean_variance_norm(x, axes):
    mean = x.mean(dim=axes, keepdim=True)
    var = (x * x).mean(dim=axes, keepdim=True) - mean * mean
    return (x - mean) / (torch.sqrt(var) + 1e-9)


@register("MeanVarianceNormalization")
def _mvn(b, node, x, attrs):
    return b.call(mean_variance_norm, x[0], tuple(attrs.get("axes", [0, 2, 3])))


def lrn(x, size, alpha, beta, bias):
    """Sums of squares over channels [c - floor((size-1)/2), c + ceil((size-1)/2)]."""
    sq = (x * x).movedim(1, -1)
    sq = F.pad(sq, [(size - 1) // 2, size // 2])
    sums = sq.unfold(-1, size, 1).sum(-1).movedim(-1, 1)
    return x / (bias + alpha / size * sums).pow(beta)


@register("LRN")
def _lrn(b, node, x, attrs):
    return b.call(lrn, x[0], attrs["size"], attrs.get("alpha", 1e-4), attrs.get("beta", 0.75), attrs.get("bias", 1.0))
