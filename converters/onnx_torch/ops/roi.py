"""Region operators: RoiAlign (opset 10, and 16 with coordinate_transformation_mode) and DeformConv
(opset 19, 2-D), following onnx.reference (op_roi_align.py, op_deform_conv.py).

RoiAlign samples a grid of `sampling_ratio` (or, when 0, ceil(roi size / output size)) points per
output bin bilinearly and averages them ("avg"). Its "max" mode is not a max of bilinear samples:
as in the reference (and onnxruntime), each sample is the largest of the four weighted corner
values, w_i * x_i, and the bin takes the largest sample. Samples outside [-1, size] weigh 0, so
they count as 0 in either mode. Opset 10 has no coordinate_transformation_mode and behaves as
"output_half_pixel"; opset 16 defaults to "half_pixel". An adaptive grid (sampling_ratio 0) is
per ROI, so those ROIs are computed one by one; a fixed grid runs all ROIs at once.

DeformConv samples the input at kernel positions moved by the offsets (bilinear, zero outside,
as GridSample with align_corners), scales them by the mask and convolves as a grouped matmul.
Not covered: DeformConv on 1-D or 3-D inputs (the reference implements 2-D only).
"""

from __future__ import annotations

import math

import torch

from modelport.converters.onnx_torch.registry import register


# -- RoiAlign ---------------------------------------------------------------------------------------
def _axis_samples(start, bin_size, bins, grid, size):
    """Bilinear terms along one axis for [R, bins * grid] sample coordinates, as the reference:
    (low index, high index, low weight, high weight), weights 0 for samples outside [-1, size]."""
    steps = (torch.arange(grid, device=start.device, dtype=start.dtype) + 0.5) / grid
    pos = torch.arange(bins, device=start.device, dtype=start.dtype).reshape(bins, 1) + steps
    c = start.reshape(-1, 1) + (pos.reshape(1, -1) * bin_size.reshape(-1, 1))
    inside = ((c >= -1.0) & (c <= size)).to(c.dtype)
    c = c.clamp(min=0)
    low = c.floor().long()
    edge = low >= size - 1
    low = torch.where(edge, size - 1, low)
    high = torch.where(edge, low, low + 1)
    c = torch.where(edge, low.to(c.dtype), c)
    frac = c - low
    return low, high, (1 - frac) * inside, frac * inside


def _roi_align_grid(x, rois, batch, out_h, out_w, grid_h, grid_w, scale, half_pixel, mode):
    """RoiAlign of R ROIs that share one sampling grid: [R, C, out_h, out_w]."""
    offset = 0.5 if half_pixel else 0.0
    box = rois.to(x.dtype) * scale - offset
    size_w, size_h = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    if not half_pixel:  # malformed ROIs are forced to 1x1
        size_w, size_h = size_w.clamp(min=1.0), size_h.clamp(min=1.0)
    height, width = x.shape[2], x.shape[3]
    y0, y1, hy, ly = _axis_samples(box[:, 1], size_h / out_h, out_h, grid_h, height)
    x0, x1, hx, lx = _axis_samples(box[:, 0], size_w / out_w, out_w, grid_w, width)
    n = batch.long().reshape(-1, 1, 1)
    terms = []
    for yi, wy in ((y0, hy), (y1, ly)):
        for xi, wx in ((x0, hx), (x1, lx)):
            v = x[n, :, yi.unsqueeze(2), xi.unsqueeze(1)]  # [R, Ny, Nx, C]
            terms.append(v * (wy.unsqueeze(2) * wx.unsqueeze(1)).unsqueeze(-1))
    r, c = rois.shape[0], x.shape[1]
    if mode == "max":
        s = torch.stack(terms).amax(0).reshape(r, out_h, grid_h, out_w, grid_w, c).amax((2, 4))
    else:
        s = sum(terms).reshape(r, out_h, grid_h, out_w, grid_w, c).sum((2, 4)) / max(grid_h * grid_w, 1)
    return s.permute(0, 3, 1, 2)


def roi_align(x, rois, batch, out_h=1, out_w=1, sampling_ratio=0, scale=1.0, half_pixel=True, mode="avg"):
    """ONNX RoiAlign: one batched call for a fixed grid, one call per ROI for an adaptive one."""
    if sampling_ratio > 0:
        return _roi_align_grid(x, rois, batch, out_h, out_w, sampling_ratio, sampling_ratio, scale, half_pixel, mode)
    out = [torch.zeros((0, x.shape[1], out_h, out_w), dtype=x.dtype, device=x.device)]
    offset = 0.5 if half_pixel else 0.0
    for i in range(rois.shape[0]):
        box = (rois[i].to(x.dtype) * scale - offset).tolist()
        h, w = box[3] - box[1], box[2] - box[0]
        if not half_pixel:
            h, w = max(h, 1.0), max(w, 1.0)
        gh, gw = int(math.ceil(h / out_h)), int(math.ceil(w / out_w))
        out.append(_roi_align_grid(x, rois[i:i + 1], batch[i:i + 1], out_h, out_w, gh, gw, scale, half_pixel, mode))
    return torch.cat(out)


def _roi_align(b, attrs, x, half_pixel):
    return b.call(roi_align, x[0], x[1], x[2], attrs.get("output_height", 1), attrs.get("output_width", 1),
                  attrs.get("sampling_ratio", 0), attrs.get("spatial_scale", 1.0), half_pixel,
                  attrs.get("mode", "avg").lower())


@register("RoiAlign", since=10)
def _roi_align_10(b, node, x, attrs):
    return _roi_align(b, attrs, x, False)


@register("RoiAlign", since=16)
def _roi_align_16(b, node, x, attrs):
    mode = attrs.get("coordinate_transformation_mode", "half_pixel").lower()
    return _roi_align(b, attrs, x, mode == "half_pixel")


# -- DeformConv -------------------------------------------------------------------------------------
def _bilinear_zero(x, y, xx):
    """Sample x [N, G, Cg, H, W] at float coordinates y, xx [N, G, L] bilinearly, zero outside:
    [N, G, Cg, L] (GridSample with align_corners=1 and zero padding)."""
    height, width = x.shape[-2], x.shape[-1]
    flat = x.reshape(x.shape[0], x.shape[1], x.shape[2], height * width)
    y0, x0 = y.floor(), xx.floor()
    out = torch.zeros(flat.shape[:3] + (y.shape[-1],), dtype=x.dtype, device=x.device)
    for cy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for cx, wx in ((x0, 1 - (xx - x0)), (x0 + 1, xx - x0)):
            inside = (cy >= 0) & (cy <= height - 1) & (cx >= 0) & (cx <= width - 1)
            idx = (cy.clamp(0, height - 1) * width + cx.clamp(0, width - 1)).long()
            v = flat.gather(3, idx.unsqueeze(2).expand(-1, -1, flat.shape[2], -1))
            out = out + v * (wy * wx * inside.to(x.dtype)).unsqueeze(2)
    return out


def _deform_positions(offset, kernel, strides, pads, dilations, groups):
    """Sampling rows and columns [N, G, KH*KW*OH*OW]: the kernel tap's place plus its offset."""
    n, oh, ow = offset.shape[0], offset.shape[2], offset.shape[3]
    kh, kw = kernel
    off = offset.reshape(n, groups, kh, kw, 2, oh, ow)
    dev, dt = offset.device, offset.dtype
    tap_h = (torch.arange(kh, device=dev, dtype=dt) * dilations[0]).reshape(kh, 1, 1, 1)
    tap_w = (torch.arange(kw, device=dev, dtype=dt) * dilations[1]).reshape(1, kw, 1, 1)
    out_h = (torch.arange(oh, device=dev, dtype=dt) * strides[0] - pads[0]).reshape(1, 1, oh, 1)
    out_w = (torch.arange(ow, device=dev, dtype=dt) * strides[1] - pads[1]).reshape(1, 1, 1, ow)
    rows = off[:, :, :, :, 0] + tap_h + out_h
    cols = off[:, :, :, :, 1] + tap_w + out_w
    return rows.reshape(n, groups, -1), cols.reshape(n, groups, -1)


def deform_conv(x, w, offset, bias=None, mask=None, kernel=None, strides=None, pads=None, dilations=None,
                group=1, offset_group=1):
    """ONNX DeformConv for 2-D inputs: [N, OC, OH, OW] with OH, OW the offset's spatial size."""
    n, c, height, width = x.shape
    kernel = kernel or list(w.shape[2:])
    strides, dilations = strides or [1, 1], dilations or [1, 1]
    pads = pads or [0, 0, 0, 0]
    oh, ow = offset.shape[2], offset.shape[3]
    rows, cols = _deform_positions(offset, kernel, strides, pads, dilations, offset_group)
    xg = x.reshape(n, offset_group, c // offset_group, height, width)
    taps = _bilinear_zero(xg, rows.to(x.dtype), cols.to(x.dtype))  # [N, G, C/G, KH*KW*OH*OW]
    if mask is not None:
        taps = taps * mask.reshape(n, offset_group, 1, -1).to(x.dtype)
    k = kernel[0] * kernel[1]
    cols_ = taps.reshape(n, group, (c // group) * k, oh * ow)
    weight = w.reshape(group, w.shape[0] // group, (c // group) * k)
    out = torch.einsum("gok,ngkl->ngol", weight, cols_).reshape(n, w.shape[0], oh, ow)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out


@register("DeformConv", since=19)
def _deform_conv(b, node, x, attrs):
    if len(attrs.get("kernel_shape", [0, 0])) != 2:
        from modelport.errors import ConversionError
        raise ConversionError("DeformConv is converted for 2-D inputs only")
    bias, mask = (list(x[3:5]) + [None, None])[:2]
    return b.call(deform_conv, x[0], x[1], x[2], bias, mask, attrs.get("kernel_shape"), attrs.get("strides"),
                  attrs.get("pads"), attrs.get("dilations"), attrs.get("group", 1), attrs.get("offset_group", 1))
