"""GridSample (opset 16, 20, 22) and AffineGrid (opset 20): sampling an image at normalized points.

Covered: GridSample's modes (bilinear / nearest / bicubic in opset 16, linear / nearest / cubic from
opset 20), padding modes zeros / border / reflection, align_corners, and any number of spatial
dimensions (opset 20 is N-D: 2-D images, 3-D volumes, also 1-D); AffineGrid in 2-D and 3-D.

torch.nn.functional.grid_sample runs wherever it computes what ONNX defines: linear sampling in 2-D
and 3-D, nearest with zeros / border padding, bicubic with zeros padding in 2-D. Elsewhere ONNX (its
reference implementation, onnx/reference/ops/op_grid_sample.py) differs from torch, so a gather-based
sampler (`_sample_nd`) follows the reference step by step:
  - nearest rounds the coordinate (half to even) *before* reflecting it, torch after;
  - cubic with border / reflection padding first moves a coordinate that is outside the padded range
    [-0.5, size - 0.5] (or [0, size - 1] with align_corners) into it, then pads each of the 4 taps;
    torch pads the taps only;
  - 1-D and N > 3 spatial dimensions, which torch has no grid_sample for, and bicubic in 3-D.
Not emulated: for integer images the reference interpolates with integer coefficients (which
truncates linear / cubic weights to 0 or 1); here integer images are interpolated in float64 and the
result is cast back (truncating), which agrees for nearest and differs from the reference's integer
arithmetic for linear / cubic (no backend test uses integer images).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from modelport.converters.onnx_torch.ops._args import _ints
from modelport.converters.onnx_torch.registry import register

_MODE_16 = {"bilinear": "linear", "nearest": "nearest", "bicubic": "cubic"}  # opset 16 names -> opset 20
_TORCH_MODE = {"linear": "bilinear", "nearest": "nearest", "cubic": "bicubic"}
_CUBIC_A = -0.75


# -- GridSample ---------------------------------------------------------------------------------------
def _torch_can(x, mode, padding_mode):
    """Whether F.grid_sample computes exactly what the ONNX reference does for these settings."""
    if not x.is_floating_point() or x.dim() not in (4, 5):
        return False
    if mode == "linear":
        return True
    if mode == "nearest":
        return padding_mode != "reflection"
    return x.dim() == 4 and padding_mode == "zeros"


def _bounds(size, align_corners):
    """The range a coordinate is padded into: pixel centres with align_corners, else pixel edges."""
    return (0.0, size - 1.0) if align_corners else (-0.5, size - 0.5)


def _denormalize(g, size, align_corners):
    """Normalized [-1, 1] coordinate -> pixel coordinate of an axis of `size` pixels."""
    if align_corners:
        return (g + 1) / 2 * (size - 1)
    return ((g + 1) * size - 1) / 2


def _reflect(x, lo, hi):
    """Reflect coordinates outside [lo, hi] by the near border until inside (the reference's
    _gs_reflect, vectorized); coordinates inside are left as they are."""
    span = hi - lo
    if span <= 0:
        return x.clamp(lo, hi)
    below = x < lo
    dx = torch.where(below, lo - x, x - hi)
    n = torch.trunc(dx / span)
    r = dx - n * span
    even = torch.remainder(n, 2) == 0
    near = torch.where(below, lo + r, hi - r)
    far = torch.where(below, hi - r, lo + r)
    return torch.where(below | (x > hi), torch.where(even, near, far), x)


def _pad_coord(x, size, align_corners, padding_mode):
    """The reference moves a coordinate outside the padded range into it before interpolating."""
    lo, hi = _bounds(size, align_corners)
    if padding_mode == "border":
        return torch.where((x < lo) | (x > hi), x.clamp(0, size - 1), x)
    if padding_mode == "reflection":
        return _reflect(x, lo, hi)
    return x


def _tap(i, size, align_corners, padding_mode):
    """(index into the axis, valid mask) of integer tap positions `i` (float tensor) after padding:
    zeros marks taps outside the image invalid, border clamps, reflection reflects."""
    if padding_mode == "reflection":
        lo, hi = _bounds(size, align_corners)
        i = torch.trunc(_reflect(i, lo, hi))
    valid = (i >= 0) & (i < size) if padding_mode == "zeros" else torch.ones_like(i, dtype=torch.bool)
    return i.clamp(0, size - 1).long(), valid


def _cubic_coeffs(t):
    """Keys' cubic convolution weights (a = -0.75) of the taps at -1, 0, 1, 2 from t in [0, 1)."""
    a = _CUBIC_A
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    w3 = ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a
    return [w0, w1, w2, w3]


def _axis_taps(x, size, mode, padding_mode, align_corners):
    """[(index, weight, valid)] of one axis for pixel coordinates x (already padded)."""
    if mode == "nearest":
        idx, valid = _tap(torch.trunc(x), size, align_corners, padding_mode)
        return [(idx, None, valid)]
    x0 = torch.floor(x)
    t = x - x0
    if mode == "linear":
        offsets, weights = (0, 1), [1 - t, t]
    else:
        offsets, weights = (-1, 0, 1, 2), _cubic_coeffs(t)
    taps = []
    for off, w in zip(offsets, weights):
        idx, valid = _tap(x0 + off, size, align_corners, padding_mode)
        taps.append((idx, w, valid))
    return taps


def _combine(combos, taps, size):
    """Extend every tap combination of the previous axes by every tap of the next axis (of `size`
    pixels): flat index, product of weights (None: 1) and of validity masks (None: all valid)."""
    out = []
    for flat, cw, cv in combos:
        for idx, w, v in taps:
            weight = w if cw is None else (cw if w is None else cw * w)
            out.append((flat * size + idx, weight, v if cv is None else cv & v))
    return out


def _sample_nd(x, grid, mode, padding_mode, align_corners):
    """GridSample as the ONNX reference computes it, for any number of spatial dimensions: the
    weighted sum over every combination of per-axis taps, each a gather from the flattened image."""
    n, c = x.shape[0], x.shape[1]
    dims = list(x.shape[2:])
    out_shape = list(grid.shape[1:-1])
    cdt = torch.float32 if x.dtype in (torch.float32, torch.float16, torch.bfloat16) else torch.float64
    g = grid.to(cdt).reshape(n, -1, len(dims))
    combos = [(torch.zeros_like(g[..., 0], dtype=torch.long), None, None)]
    for axis, size in enumerate(dims):
        coord = _denormalize(g[..., len(dims) - 1 - axis], size, align_corners)  # grid is (x, y, z...)
        if mode == "nearest":
            coord = torch.round(coord)  # half to even, as the reference's np.rint
        coord = _pad_coord(coord, size, align_corners, padding_mode)
        taps = _axis_taps(coord, size, mode, padding_mode, align_corners)
        combos = _combine(combos, taps, size)
    flat_x = x.reshape(n, c, -1).to(cdt)
    out = torch.zeros(n, c, g.shape[1], dtype=cdt, device=x.device)
    for flat, w, valid in combos:
        vals = torch.gather(flat_x, 2, flat.unsqueeze(1).expand(n, c, -1))
        weight = valid.to(cdt) if w is None else torch.where(valid, w, torch.zeros_like(w))
        out = out + vals * weight.unsqueeze(1)
    return out.reshape([n, c] + out_shape).to(x.dtype)


def grid_sample(x, grid, mode="linear", padding_mode="zeros", align_corners=0):
    """ONNX GridSample (opset 20 mode names): torch's grid_sample where it agrees with ONNX."""
    if _torch_can(x, mode, padding_mode):
        return F.grid_sample(x, grid.to(x.dtype), mode=_TORCH_MODE[mode], padding_mode=padding_mode,
                             align_corners=bool(align_corners))
    return _sample_nd(x, grid, mode, padding_mode, bool(align_corners))


@register("GridSample", since=16)
def _grid_sample_16(b, node, x, attrs):
    mode = _MODE_16.get(attrs.get("mode", "bilinear"), attrs.get("mode", "bilinear"))
    return b.call(grid_sample, x[0], x[1], mode, attrs.get("padding_mode", "zeros"), attrs.get("align_corners", 0))


@register("GridSample", since=20)
def _grid_sample_20(b, node, x, attrs):
    return b.call(grid_sample, x[0], x[1], attrs.get("mode", "linear"), attrs.get("padding_mode", "zeros"),
                  attrs.get("align_corners", 0))


# -- AffineGrid ---------------------------------------------------------------------------------------
def affine_grid(theta, size, align_corners=0):
    """ONNX AffineGrid: torch's affine_grid (same base grid and transform) with `size` read as ints
    (N, C, H, W) or (N, C, D, H, W), static or computed."""
    return F.affine_grid(theta, _ints(size), align_corners=bool(align_corners))


@register("AffineGrid", since=20)
def _affine_grid_20(b, node, x, attrs):
    size = b.static(node, 1)
    size = size.reshape(-1).tolist() if size is not None else x[1]
    return b.call(affine_grid, x[0], size, attrs.get("align_corners", 0))
