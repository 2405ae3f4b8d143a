"""RotaryEmbedding (opset 23): rotary position embedding of a 4-D (batch, heads, seq, head_size) or
3-D (batch, seq, heads * head_size) input, as the ONNX reference (op_rotary_embedding.py) computes it.

Covered: position_ids given (caches indexed by position, (max_pos, dim / 2)) or omitted (caches
already (batch, seq, dim / 2)), interleaved or half-split pairs, partial rotation
(rotary_embedding_dim < head_size; the rest passes through), num_heads for 3-D input.
Not covered: nothing known; computation stays in the input's dtype as in the reference.
"""

from __future__ import annotations

import torch

from modelport.converters.onnx_torch.registry import register


def _rotate(x, cos, sin, interleaved):
    """Rotate the pairs of x (..., dim) by angles given as cos / sin (..., dim / 2): pairs are
    adjacent elements when interleaved, else the two halves."""
    if interleaved:
        x1, x2 = x[..., 0::2], x[..., 1::2]
    else:
        x1, x2 = x.chunk(2, dim=-1)
    real = cos * x1 - sin * x2
    imag = sin * x1 + cos * x2
    if interleaved:
        return torch.stack((real, imag), dim=-1).reshape(x.shape)
    return torch.cat((real, imag), dim=-1)


def rotary_embedding(x, cos_cache, sin_cache, position_ids=None, interleaved=0, rotary_dim=0, num_heads=0):
    """ONNX RotaryEmbedding: works in (batch, seq, heads, head_size) as the reference does."""
    shape = x.shape
    if x.dim() == 4:
        x = x.transpose(1, 2)
    else:
        x = x.reshape(shape[0], shape[1], num_heads, shape[2] // num_heads)
    dim = rotary_dim or x.shape[3]
    if position_ids is not None:
        cos_cache, sin_cache = cos_cache[position_ids], sin_cache[position_ids]
    cos, sin = cos_cache.unsqueeze(2), sin_cache.unsqueeze(2)  # (batch, seq, 1, dim / 2)
    rotated = _rotate(x[..., :dim], cos, sin, interleaved)
    out = torch.cat((rotated, x[..., dim:]), dim=-1)
    return out.transpose(1, 2) if len(shape) == 4 else out.reshape(shape)


@register("RotaryEmbedding", since=23)
def _rotary_embedding_23(b, node, x, attrs):
    position_ids = x[3] if len(x) > 3 else None
    return b.call(rotary_embedding, x[0], x[1], x[2], position_ids, attrs.get("interleaved", 0),
                  attrs.get("rotary_embedding_dim", 0), attrs.get("num_heads", 0))
