"""Conv and ConvTranspose, with ONNX's auto_pad and asymmetric pads resolved at run time; the
integer and quantized variants build on `conv` in quantized.py."""

from __future__ import annotations

import torch.nn.functional as F

from modelport.converters.onnx_torch.ops._spatial import _CONV, _f_pad, _ints, _same_pads
from modelport.converters.onnx_torch.registry import register

_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _conv_pads(spatial, k, s, d, pads, auto_pad):
    n = len(spatial)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(n):
            out = -(-spatial[i] // s[i])
            total = max(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - spatial[i])
            b_, e_ = _same_pads(total, auto_pad)
            begin.append(b_)
            end.append(e_)
        return begin, end
    if auto_pad == "VALID" or not pads:
        return [0] * n, [0] * n
    return list(pads[:n]), list(pads[n:])


# -- convolution ------------------------------------------------------------------------------------
def conv(x, w, bias, strides, pads, dilations, group, auto_pad):
    n = x.dim() - 2
    s, d = _ints(strides, n, 1), _ints(dilations, n, 1)
    begin, end = _conv_pads(list(x.shape[2:]), list(w.shape[2:]), s, d, pads, auto_pad)
    if begin == end:
        return _CONV[n](x, w, bias, s, begin, d, group)
    return _CONV[n](F.pad(x, _f_pad(begin, end)), w, bias, s, 0, d, group)


def conv_transpose(x, w, bias, strides, pads, dilations, group, auto_pad, output_padding, output_shape):
    n = x.dim() - 2
    s, d = _ints(strides, n, 1), _ints(dilations, n, 1)
    op = _ints(output_padding, n, 0)
    k = list(w.shape[2:])
    size = list(x.shape[2:])
    if output_shape or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = list(output_shape[-n:]) if output_shape else [size[i] * s[i] for i in range(n)]
        begin, end = [], []
        for i in range(n):
            total = s[i] * (size[i] - 1) + op[i] + (k[i] - 1) * d[i] + 1 - target[i]
            if not output_shape:  # SAME with a kernel smaller than the stride: no negative pads
                total = max(0, total)
            b_, e_ = _same_pads(total, "SAME_UPPER" if auto_pad == "SAME_UPPER" else "SAME_LOWER")
            begin.append(b_)
            end.append(e_)
    else:
        begin, end = _conv_pads(size, k, s, d, pads, "NOTSET")
    if begin == end and all(op[i] < max(s[i], d[i]) for i in range(n)):
        return _CONV_T[n](x, w, bias, s, begin, op, group, d)
    y = _CONV_T[n](x, w, None, s, 0, 0, group, d)
    y = F.pad(y, _f_pad([-b_ for b_ in begin], [op[i] - end[i] for i in range(n)]))
    if bias is not None:
        y = y + bias.reshape(1, -1, *([1] * n))
    return y


@register("Conv")
def _conv(b, node, x, attrs):
    return b.call(conv, x[0], x[1], x[2] if len(x) > 2 else None, attrs.get("strides"), attrs.get("pads"),
                  attrs.get("dilations"), attrs.get("group", 1), attrs.get("auto_pad", "NOTSET"))


@register("ConvTranspose")
def _conv_transpose(b, node, x, attrs):
    return b.call(conv_transpose, x[0], x[1], x[2] if len(x) > 2 else None, attrs.get("strides"),
                  attrs.get("pads"), attrs.get("dilations"), attrs.get("group", 1), attrs.get("auto_pad", "NOTSET"),
                  attrs.get("output_padding"), attrs.get("output_shape"))
