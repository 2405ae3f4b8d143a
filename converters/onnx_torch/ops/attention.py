"""ONNX Attention (opset 23, 24): multi-head / grouped-query attention with masks, causal masking,
a KV cache, softcap and the optional qk_matmul output."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from modelport.converters.onnx_torch.ops._args import _getitems
from modelport.converters.onnx_torch.registry import register


# -- Attention (opset 23; 24 adds nonpad_kv_seqlen) --------------------------------------------------
def _heads(t, heads):
    """(batch, seq, heads * size) -> (batch, heads, seq, size)."""
    return t.reshape(t.shape[0], t.shape[1], heads, -1).transpose(1, 2)


def _causal(q_len, kv_len, past, dtype, device):
    """-inf where key j is after query i (offset by the past length), else 0."""
    rows = torch.arange(q_len, device=device).unsqueeze(1) + past
    cols = torch.arange(kv_len, device=device).unsqueeze(0)
    zero = torch.zeros((), dtype=dtype, device=device)
    return torch.where(cols > rows, torch.full((), -math.inf, dtype=dtype, device=device), zero)


def attention(q, k, v, mask, past_key, past_value, nonpad_kv_seqlen, scale, is_causal, q_heads, kv_heads, softcap,
              mode, softmax_dtype):
    """(Y, present_key, present_value, qk_matmul_output) as ONNX Attention defines them."""
    three_d = q.dim() == 3
    if three_d:
        q, k, v = _heads(q, q_heads), _heads(k, kv_heads), _heads(v, kv_heads)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[3])
    if past_key is not None:
        k = torch.cat([past_key, k], dim=2)
    if past_value is not None:
        v = torch.cat([past_value, v], dim=2)
    present_key, present_value = k, v
    q_len, kv_len = q.shape[2], k.shape[2]
    bias = torch.zeros((q_len, kv_len), dtype=q.dtype, device=q.device)
    if mask is not None:
        if mask.dtype == torch.bool:
            mask = F.pad(mask, [0, kv_len - mask.shape[-1]], value=False)
            mask = torch.where(mask, torch.zeros((), dtype=q.dtype, device=q.device),
                               torch.full((), -math.inf, dtype=q.dtype, device=q.device))
        else:
            mask = F.pad(mask, [0, kv_len - mask.shape[-1]], value=-math.inf)
        bias = bias + mask
    if is_causal:
        past = past_key.shape[2] if past_key is not None else 0
        bias = bias + _causal(q_len, kv_len, past, q.dtype, q.device)
    if nonpad_kv_seqlen is not None:
        keep = torch.arange(kv_len, device=q.device) < nonpad_kv_seqlen.reshape(-1, 1)
        pad = torch.where(keep, 0.0, -math.inf).to(q.dtype).reshape(q.shape[0], 1, 1, kv_len)
        bias = bias + pad
    if k.shape[1] != q.shape[1]:
        k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
        v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)
    root = math.sqrt(scale)
    qk = torch.matmul(q * root, k.transpose(2, 3) * root)
    scores = qk + bias
    out_qk = scores if mode == 1 else qk
    if softcap and softcap > 0:
        scores = torch.tanh(scores / softcap) * softcap
        if mode == 2:
            out_qk = scores
    if softmax_dtype is not None:
        scores = scores.to(softmax_dtype)
    probs = torch.softmax(scores, dim=-1)
    if mode == 3:
        out_qk = probs
    y = torch.matmul(probs.to(v.dtype), v).to(q.dtype)
    if three_d:
        y = y.transpose(1, 2).reshape(y.shape[0], y.shape[2], -1)
    return y, present_key, present_value, out_qk.to(q.dtype)


@register("Attention", since=23)
def _attention(b, node, x, attrs):
    from modelport.converters.onnx_torch.dtypes import torch_dtype

    x = list(x) + [None] * (7 - len(x))
    precision = attrs.get("softmax_precision")
    out = b.call(attention, *x[:7], attrs.get("scale"), bool(attrs.get("is_causal", 0)), attrs.get("q_num_heads"),
                 attrs.get("kv_num_heads"), attrs.get("softcap", 0.0), attrs.get("qk_matmul_output_mode", 0),
                 torch_dtype(precision) if precision else None)
    return _getitems(b, out, len(node.output))
