"""Indexing and selection operators: Gather*, Scatter*, Compress, Where, NonZero, TopK, ArgMax/ArgMin,
OneHot, Trilu, CumSum and ReverseSequence; negative indices are normalised as ONNX allows."""

from __future__ import annotations

import math

import torch

from modelport.converters.onnx_torch.ops._args import _arg, _int, _outputs, _scalar
from modelport.converters.onnx_torch.registry import register


def _norm_index(idx, dim):
    idx = idx.long()
    return torch.where(idx < 0, idx + dim, idx)


# -- Gather / Scatter -----------------------------------------------------------------------------
def gather(x, idx, axis=0):
    if axis < 0:
        axis += x.dim()
    idx = _norm_index(idx, x.shape[axis])
    out = x.index_select(axis, idx.reshape(-1))
    return out.reshape(tuple(x.shape[:axis]) + tuple(idx.shape) + tuple(x.shape[axis + 1:]))


@register("Gather", since=1)
def _gather(b, node, x, attrs):
    return b.call(gather, x[0], x[1], attrs.get("axis", 0))


def gather_elements(x, idx, axis=0):
    if axis < 0:
        axis += x.dim()
    return torch.gather(x, axis, _norm_index(idx, x.shape[axis]))


@register("GatherElements", since=11)
def _gather_elements(b, node, x, attrs):
    return b.call(gather_elements, x[0], x[1], attrs.get("axis", 0))


def gather_nd(data, indices, batch_dims=0):
    bd = batch_dims
    k = indices.shape[-1]
    nb = math.prod(data.shape[:bd])
    dims = torch.tensor(data.shape[bd:bd + k], dtype=torch.long, device=data.device)
    idx = indices.long()
    idx = torch.where(idx < 0, idx + dims, idx).reshape(nb, -1, k)
    d = data.reshape((nb,) + tuple(data.shape[bd:]))
    batch = torch.arange(nb, device=data.device).reshape(nb, 1).expand(nb, idx.shape[1])
    out = d[(batch,) + tuple(idx[..., j] for j in range(k))]
    return out.reshape(tuple(indices.shape[:-1]) + tuple(data.shape[bd + k:]))


@register("GatherND", since=11)
def _gather_nd(b, node, x, attrs):
    return b.call(gather_nd, x[0], x[1], attrs.get("batch_dims", 0))


_REDUCE = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


def scatter_elements(x, idx, upd, axis=0, reduction="none"):
    if axis < 0:
        axis += x.dim()
    idx = _norm_index(idx, x.shape[axis])
    if reduction == "none":
        return torch.scatter(x, axis, idx, upd)
    return torch.scatter_reduce(x, axis, idx, upd, _REDUCE[reduction], include_self=True)


@register("Scatter", since=9)
@register("ScatterElements", since=11)
def _scatter_elements(b, node, x, attrs):
    return b.call(scatter_elements, x[0], x[1], x[2], attrs.get("axis", 0), attrs.get("reduction", "none"))


def scatter_nd(data, indices, updates, reduction="none"):
    k = indices.shape[-1]
    head = tuple(data.shape[:k])
    rest = tuple(data.shape[k:])
    strides = torch.tensor([math.prod(head[j + 1:]) for j in range(k)], dtype=torch.long, device=data.device)
    dims = torch.tensor(head, dtype=torch.long, device=data.device)
    idx = indices.long()
    lin = (torch.where(idx < 0, idx + dims, idx) * strides).sum(-1).reshape(-1)
    flat = data.reshape((math.prod(head),) + rest).clone()
    upd = updates.reshape((lin.shape[0],) + rest)
    if reduction == "none":
        flat[lin] = upd
    else:
        index = lin.reshape((-1,) + (1,) * len(rest)).expand(upd.shape)
        flat = flat.scatter_reduce(0, index, upd, _REDUCE[reduction], include_self=True)
    return flat.reshape(data.shape)


@register("ScatterND", since=11)
def _scatter_nd(b, node, x, attrs):
    return b.call(scatter_nd, x[0], x[1], x[2], attrs.get("reduction", "none"))


def compress(x, cond, axis=None):
    if axis is None:
        x, axis = x.reshape(-1), 0
    idx = torch.nonzero(cond.reshape(-1)).reshape(-1)
    return x.index_select(axis, idx)


@register("Compress", since=9)
def _compress(b, node, x, attrs):
    return b.call(compress, x[0], x[1], attrs.get("axis"))


# -- Where ----------------------------------------------------------------------------------------
@register("Where", since=9)
def _where(b, node, x, attrs):
    return b.call(torch.where, x[0], x[1], x[2])


# -- NonZero, TopK, ArgMax/ArgMin, OneHot, Trilu, CumSum, ReverseSequence ------------------------
def nonzero(x):
    return torch.nonzero(x).t().contiguous()


@register("NonZero", since=9)
def _nonzero(b, node, x, attrs):
    return b.call(nonzero, x[0])


def topk(x, k, axis=-1, largest=1, sorted_=1):
    k = _int(k)
    # what ONNX requires of k, said to torch.export where k is read from a tensor (no-ops otherwise)
    torch._check_is_size(k)
    torch._check(k <= x.shape[axis])
    src = x
    if x.dtype in (torch.uint64, torch.uint32, torch.uint16):
        src = x.to(torch.float64) if x.dtype != torch.uint64 else x.to(torch.int64)
    values, idx = torch.sort(src, dim=axis, descending=bool(largest), stable=True)
    idx = idx.narrow(axis, 0, k)
    return torch.gather(x, axis, idx), idx


@register("TopK", since=1)
def _topk_1(b, node, x, attrs):
    out = b.call(topk, x[0], attrs["k"], attrs.get("axis", -1))
    return _outputs(b, node, out)


@register("TopK", since=10)
def _topk_10(b, node, x, attrs):
    out = b.call(topk, x[0], _arg(b, node, x, 1, kind=int), attrs.get("axis", -1),
                 attrs.get("largest", 1), attrs.get("sorted", 1))
    return _outputs(b, node, out)


def arg_reduce(x, kind, axis=0, keepdims=1, select_last_index=0):
    fn = torch.argmax if kind == "max" else torch.argmin
    if axis < 0:
        axis += x.dim()
    if select_last_index:
        idx = x.shape[axis] - 1 - fn(torch.flip(x, (axis,)), dim=axis, keepdim=bool(keepdims))
    else:
        idx = fn(x, dim=axis, keepdim=bool(keepdims))
    return idx


def _arg_reduce(kind):
    def convert(b, node, x, attrs):
        return b.call(arg_reduce, x[0], kind, attrs.get("axis", 0), attrs.get("keepdims", 1),
                      attrs.get("select_last_index", 0))
    return convert


register("ArgMax", since=1)(_arg_reduce("max"))
register("ArgMin", since=1)(_arg_reduce("min"))


def one_hot(indices, depth, values, axis=-1):
    depth = int(_scalar(depth))
    idx = indices.long()
    idx = torch.where(idx < 0, idx + depth, idx)
    hot = idx.unsqueeze(-1) == torch.arange(depth, device=idx.device)
    out = torch.where(hot, values[1], values[0])
    r = out.dim()
    return out.movedim(-1, axis + r if axis < 0 else axis)


@register("OneHot", since=9)
def _one_hot(b, node, x, attrs):
    return b.call(one_hot, x[0], _arg(b, node, x, 1, kind=float), x[2], attrs.get("axis", -1))


def trilu(x, k=0, upper=1):
    k = _int(k) if k is not None else 0
    return torch.triu(x, k) if upper else torch.tril(x, k)


@register("Trilu", since=14)
def _trilu(b, node, x, attrs):
    k = _arg(b, node, x, 1, kind=int) if len(x) > 1 and x[1] is not None else 0
    return b.call(trilu, x[0], k, attrs.get("upper", 1))


def cumsum(x, axis, exclusive=0, reverse=0):
    axis = int(_scalar(axis))
    if axis < 0:
        axis += x.dim()
    if reverse:
        x = torch.flip(x, (axis,))
    out = torch.cumsum(x, axis, dtype=x.dtype)
    if exclusive:
        out = torch.cat([torch.zeros_like(out.narrow(axis, 0, 1)), out.narrow(axis, 0, out.shape[axis] - 1)], axis)
    if reverse:
        out = torch.flip(out, (axis,))
    return out


@register("CumSum", since=11)
def _cumsum(b, node, x, attrs):
    return b.call(cumsum, x[0], _arg(b, node, x, 1, kind=int), attrs.get("exclusive", 0), attrs.get("reverse", 0))


def reverse_sequence(x, lens, batch_axis=1, time_axis=0):
    t, n = x.shape[time_axis], x.shape[batch_axis]
    steps = torch.arange(t, device=x.device).reshape(1, t)
    lens = lens.long().reshape(n, 1)
    idx = torch.where(steps < lens, lens - 1 - steps, steps)  # (batch, time)
    if time_axis < batch_axis:
        idx = idx.t()
    idx = idx.reshape(tuple(idx.shape) + (1,) * (x.dim() - 2)).expand(x.shape)
    return torch.gather(x, time_axis, idx)


@register("ReverseSequence", since=10)
def _reverse_sequence(b, node, x, attrs):
    return b.call(reverse_sequence, x[0], x[1], attrs.get("batch_axis", 1), attrs.get("time_axis", 0))
