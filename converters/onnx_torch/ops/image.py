"""CenterCropPad (opset 18) and Col2Im (opset 18): image layout operators.

CenterCropPad: covered fully (any axes, negative axes, crop and pad on different axes, any dtype).
A crop keeps the centre window (the extra element of an odd difference is dropped at the end), a pad
adds zeros around (the extra element goes at the end), as the ONNX reference does.

Col2Im: covered for any number of spatial dimensions, with strides, dilations and asymmetric pads.
2-D floating-point inputs with symmetric pads use torch.nn.functional.fold; other cases (N-D, which
fold does not support, asymmetric pads, which it cannot express, and integer inputs, which it does not
implement) use a scatter-add of every block element into the flattened image. Not covered: the
unbatched form without N, which the ONNX schema does not allow either (input is (N, C*prod(block), L)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from modelport.converters.onnx_torch.ops._args import _arg, _ints
from modelport.converters.onnx_torch.registry import register


# -- CenterCropPad ------------------------------------------------------------------------------------
def center_crop_pad(x, shape, axes=None):
    """Crop or zero-pad each axis in `axes` (all when None) to `shape` around the centre."""
    shape = _ints(shape)
    r = x.dim()
    axes = list(range(r)) if axes is None else [a + r if a < 0 else a for a in axes]
    for a, size in zip(axes, shape):
        dim = x.shape[a]
        if size < dim:
            x = x.narrow(a, (dim - size) // 2, size)
        elif size > dim:
            before = (size - dim) // 2
            pads = [0, 0] * (r - 1 - a) + [before, size - dim - before]
            x = F.pad(x, pads)
    return x


@register("CenterCropPad", since=18)
def _center_crop_pad_18(b, node, x, attrs):
    axes = list(attrs["axes"]) if attrs.get("axes") else None
    return b.call(center_crop_pad, x[0], _arg(b, node, x, 1), axes)


# -- Col2Im -------------------------------------------------------------------------------------------
def _col2im_index(image, block, strides, dilations, pads):
    """Flat image position of every (kernel offset, block) pair, in the input's order, and whether it
    lies inside the image (padding positions are dropped)."""
    n = len(image)
    blocks = [(image[i] + pads[i] + pads[n + i] - dilations[i] * (block[i] - 1) - 1) // strides[i] + 1
              for i in range(n)]
    flat = torch.zeros([1] * (2 * n), dtype=torch.long)
    valid = torch.ones([1] * (2 * n), dtype=torch.bool)
    for i in range(n):
        k = torch.arange(block[i]) * dilations[i]
        s = torch.arange(blocks[i]) * strides[i] - pads[i]
        view_k, view_s = [1] * (2 * n), [1] * (2 * n)
        view_k[i], view_s[n + i] = block[i], blocks[i]
        pos = k.reshape(view_k) + s.reshape(view_s)
        flat = flat * image[i] + pos
        valid = valid & (pos >= 0) & (pos < image[i])
    return flat.reshape(-1), valid.reshape(-1)


def _col2im_scatter(x, image, block, strides, dilations, pads):
    """Col2Im for any rank and dtype: scatter-add each column element into its image position;
    positions in the padding go to one extra slot that is dropped."""
    n_batch = x.shape[0]
    total = 1
    for s in image:
        total *= s
    flat, valid = _col2im_index(image, block, strides, dilations, pads)
    flat = torch.where(valid, flat, torch.full_like(flat, total)).to(x.device)
    cols = x.reshape(n_batch, -1, flat.numel())
    c = cols.shape[1]
    out = torch.zeros(n_batch, c, total + 1, dtype=x.dtype, device=x.device)
    out = out.scatter_add(2, flat.reshape(1, 1, -1).expand(n_batch, c, -1), cols)
    return out[:, :, :total].reshape([n_batch, c] + list(image))


def col2im(x, image_shape, block_shape, strides=None, dilations=None, pads=None):
    """ONNX Col2Im: the inverse of im2col, summing overlapping block elements."""
    image, block = _ints(image_shape), _ints(block_shape)
    n = len(image)
    strides = list(strides) if strides else [1] * n
    dilations = list(dilations) if dilations else [1] * n
    pads = list(pads) if pads else [0] * (2 * n)
    if n == 2 and x.is_floating_point() and pads[:2] == pads[2:]:
        return F.fold(x, image, block, dilation=dilations, padding=pads[:2], stride=strides)
    return _col2im_scatter(x, image, block, strides, dilations, pads)


def _int_list(attrs, name):
    """An ints attribute as a list, None when absent or empty (the helper fills the defaults)."""
    return list(attrs[name]) if attrs.get(name) else None


@register("Col2Im", since=18)
def _col2im_18(b, node, x, attrs):
    return b.call(col2im, x[0], _arg(b, node, x, 1), _arg(b, node, x, 2), _int_list(attrs, "strides"),
                  _int_list(attrs, "dilations"), _int_list(attrs, "pads"))
