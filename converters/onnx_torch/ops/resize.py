"""Resize and Upsample: every coordinate transformation, nearest / linear / cubic modes, antialias and
keep_aspect_ratio_policy, as separable per-axis index selections or interpolation matrices."""

from __future__ import annotations

import math

import torch

from modelport.converters.onnx_torch.ops._args import _floats, _ints
from modelport.converters.onnx_torch.registry import register


# -- Resize, Upsample -----------------------------------------------------------------------------
def _source_coords(n_in, n_out, scale, ctm, roi):
    """ONNX Resize's coordinate transformation: output index -> input coordinate (float64)."""
    x = torch.arange(n_out, dtype=torch.float64)
    out_w = scale * n_in
    if ctm == "align_corners":
        return x * 0 if out_w == 1 else x * (n_in - 1) / (out_w - 1)
    if ctm == "asymmetric":
        return x / scale
    if ctm == "tf_crop_and_resize":
        r0, r1 = roi
        if out_w == 1:
            return x * 0 + (r1 - r0) * (n_in - 1) / 2 + r0 * (n_in - 1)
        return x * (r1 - r0) * (n_in - 1) / (out_w - 1) + r0 * (n_in - 1)
    if ctm == "pytorch_half_pixel":
        return x * 0 - 0.5 if out_w == 1 else (x + 0.5) / scale - 0.5
    if ctm == "half_pixel_symmetric":
        offset = n_in / 2 * (1 - n_out / out_w)
        return offset + (x + 0.5) / scale - 0.5
    return (x + 0.5) / scale - 0.5  # half_pixel


def _cubic_kernel(d, a):
    d = d.abs()
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return torch.where(d <= 1, near, torch.where(d < 2, far, torch.zeros_like(d)))


def _resize_weights(n_in, n_out, scale, mode, ctm, roi, a, exclude_outside, antialias):
    """The (n_out, n_in) interpolation matrix of one axis for linear / cubic, and the mask of
    outputs outside the crop (tf_crop_and_resize)."""
    xo = _source_coords(n_in, n_out, scale, ctm, roi)
    i0 = torch.ceil(xo) - 1  # the reference prefers the pixel left of x: ratio in (0, 1]
    ratio = xo - i0
    s = min(scale, 1.0) if antialias else 1.0
    if mode == "linear":
        start = math.floor(-1 / s) + 1
    else:
        start = math.floor(-2 / s) + 1
    offs = torch.arange(start, 2 - start, dtype=torch.float64)
    dist = (offs.reshape(1, -1) - ratio.reshape(-1, 1)) * s
    if mode == "linear":
        w = (1 - dist.abs()).clamp(0, 1)
    else:
        w = _cubic_kernel(dist, a)
    idx = i0.reshape(-1, 1) + offs.reshape(1, -1)
    if exclude_outside:
        w = torch.where((idx < 0) | (idx >= n_in), torch.zeros_like(w), w)
    if antialias or exclude_outside:
        w = w / w.sum(1, keepdim=True)
    idx = idx.clamp(0, n_in - 1).long()
    mat = torch.zeros(n_out, n_in, dtype=torch.float64).scatter_add_(1, idx, w)
    outside = (xo < 0) | (xo > n_in - 1) if ctm == "tf_crop_and_resize" else None
    return mat, outside


def _nearest_index(n_in, n_out, scale, ctm, roi, nearest_mode):
    xo = _source_coords(n_in, n_out, scale, ctm, roi)
    i0 = torch.ceil(xo) - 1
    ratio = xo - i0
    if nearest_mode == "simple":  # Resize-10 / Upsample
        nearest_mode = "floor" if scale >= 1 else "ceil"
    if nearest_mode == "round_prefer_ceil":
        up = ratio >= 0.5
    elif nearest_mode == "floor":
        up = ratio == 1
    elif nearest_mode == "ceil":
        up = torch.ones_like(ratio, dtype=torch.bool)
    else:  # round_prefer_floor
        up = ratio > 0.5
    idx = (i0 + up.to(i0.dtype)).clamp(0, n_in - 1).long()
    outside = (xo < 0) | (xo > n_in - 1) if ctm == "tf_crop_and_resize" else None
    return idx, outside


def resize(x, scales=None, sizes=None, roi=None, mode="nearest", ctm="half_pixel", nearest_mode="round_prefer_floor",
           cubic_a=-0.75, exclude_outside=0, extrapolation=0.0, antialias=0, axes=None, policy="stretch"):
    r = x.dim()
    scales, sizes, roi = _floats(scales), _ints(sizes), _floats(roi)
    if scales is not None and len(scales) == 0:
        scales = None
    if sizes is not None and len(sizes) == 0:
        sizes = None
    if roi is not None and len(roi) == 0:
        roi = None
    axes = list(range(r)) if axes is None else [a + r if a < 0 else a for a in axes]
    n = len(axes)
    shape = [x.shape[a] for a in axes]
    if sizes is not None:
        scale = [sizes[i] / shape[i] for i in range(n)]
        if policy in ("not_larger", "not_smaller"):
            s = min(scale) if policy == "not_larger" else max(scale)
            scale = [s] * n
            sizes = [int(s * shape[i] + 0.5) for i in range(n)]
    else:
        scale = scales
        sizes = [int(scales[i] * shape[i]) for i in range(n)]
    outside = None
    for i, a in enumerate(axes):
        if scale[i] == 1.0 and sizes[i] == shape[i] and ctm != "tf_crop_and_resize":
            continue
        rr = (roi[i], roi[n + i]) if roi is not None else (0.0, 1.0)
        if mode == "nearest":
            idx, out_a = _nearest_index(shape[i], sizes[i], scale[i], ctm, rr, nearest_mode)
            x = x.index_select(a, idx.to(x.device))
        else:
            mat, out_a = _resize_weights(shape[i], sizes[i], scale[i], mode, ctm, rr, cubic_a, exclude_outside, antialias)
            dtype = x.dtype if x.is_floating_point() else torch.float64
            y = torch.matmul(x.movedim(a, -1).to(dtype), mat.t().to(dtype=dtype, device=x.device)).movedim(-1, a)
            if not x.is_floating_point():
                info = torch.iinfo(x.dtype)
                y = torch.round(y).clamp(info.min, info.max)
            x = y.to(x.dtype)
        if out_a is not None:
            view = [1] * r
            view[a] = sizes[i]
            m = out_a.reshape(view).to(x.device)
            outside = m if outside is None else outside | m
    if outside is not None:
        x = torch.where(outside, torch.full((), extrapolation, dtype=x.dtype, device=x.device), x)
    return x


def _resize_input(b, node, x, i):
    if i >= len(x) or x[i] is None:
        return None
    s = b.static(node, i)
    if s is not None:
        return s.reshape(-1).tolist() or None
    return x[i]


@register("Resize", since=10)
def _resize_10(b, node, x, attrs):
    mode = attrs.get("mode", "nearest")
    return b.call(resize, x[0], _resize_input(b, node, x, 1), None, None, mode, "asymmetric", "simple")


@register("Resize", since=11)
def _resize_11(b, node, x, attrs):
    return b.call(resize, x[0], _resize_input(b, node, x, 2), _resize_input(b, node, x, 3), _resize_input(b, node, x, 1),
                  attrs.get("mode", "nearest"), attrs.get("coordinate_transformation_mode", "half_pixel"),
                  attrs.get("nearest_mode", "round_prefer_floor"), attrs.get("cubic_coeff_a", -0.75),
                  attrs.get("exclude_outside", 0), attrs.get("extrapolation_value", 0.0), attrs.get("antialias", 0),
                  list(attrs["axes"]) if attrs.get("axes") else None, attrs.get("keep_aspect_ratio_policy", "stretch"))


@register("Upsample", since=7)
def _upsample_7(b, node, x, attrs):
    mode = "linear" if attrs.get("mode", "nearest") in ("linear", "bilinear") else "nearest"
    return b.call(resize, x[0], list(attrs["scales"]), None, None, mode, "asymmetric", "simple")


@register("Upsample", since=9)
def _upsample_9(b, node, x, attrs):
    mode = "linear" if attrs.get("mode", "nearest") in ("linear", "bilinear") else "nearest"
    return b.call(resize, x[0], _resize_input(b, node, x, 1), None, None, mode, "asymmetric", "simple")
