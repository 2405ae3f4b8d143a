"""Signal-processing operators: DFT (opset 17, and 20 where the axis became an input), STFT (17),
HannWindow, HammingWindow, BlackmanWindow (17) and MelWeightMatrix (17).

ONNX carries complex numbers as a trailing dimension of 2 (real, imaginary); a trailing dimension
of 1 is a real signal. The helpers turn that into a torch complex tensor, call torch.fft and split
the result back. Semantics follow onnx.reference (onnx/reference/ops/op_dft.py, op_stft.py ...):

- DFT: `dft_length` pads or truncates the signal as numpy's `n`; `onesided` keeps the first
  n // 2 + 1 bins of the output, for the inverse too (the reference truncates the inverse's
  output rather than reading a half spectrum, and so do we); an axis is taken modulo the rank.
- STFT: frames of the window's length every `frame_step`, n_frames = 1 + (len - frame_length)
  // frame_step, each weighted by the window and transformed with length `frame_length`.
- Windows and MelWeightMatrix: computed at conversion time when their inputs are static (a
  constant in the graph), else at run time; their output shape depends on input values.

Windows are computed in float64 and cast to output_datatype, so a float16 window is the correctly
rounded one; the reference computes in float16 and differs from it by a few half-precision ulps.
Not covered: half-precision FFT runs in float32 and is cast back (torch's CPU FFT has no half).
"""

from __future__ import annotations

import math

import torch

from modelport.converters.onnx_torch.dtypes import torch_dtype
from modelport.converters.onnx_torch.ops._args import _arg, _scalar
from modelport.converters.onnx_torch.registry import register


# -- DFT --------------------------------------------------------------------------------------------
def _as_complex(x):
    """ONNX's [..., 1] real or [..., 2] (re, im) signal as a torch tensor without the last dim;
    half precision is widened since torch.fft does not take it on every device."""
    if x.dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float32)
    if x.shape[-1] == 1:
        return x[..., 0]
    return torch.complex(x[..., 0], x[..., 1])


def _as_pairs(y, dtype):
    """A complex tensor as ONNX's [..., 2] (re, im) layout in the input's dtype."""
    return torch.stack((y.real, y.imag), dim=-1).to(dtype)


def dft(x, dft_length=None, axis=1, inverse=0, onesided=0):
    """ONNX DFT: the axis counts the trailing (re, im) dim in the rank, as the reference does."""
    axis = int(_scalar(axis)) % x.dim()
    n = x.shape[axis] if dft_length is None else int(_scalar(dft_length))
    signal = _as_complex(x)
    y = torch.fft.ifft(signal, n=n, dim=axis) if inverse else torch.fft.fft(signal, n=n, dim=axis)
    if onesided:
        y = y.narrow(axis, 0, n // 2 + 1)
    return _as_pairs(y, x.dtype)


def _optional(b, node, x, i, kind=int):
    """Optional input i as a Python value (static), an fx node (computed), or None when omitted."""
    if i >= len(x) or x[i] is None:
        return None
    return _arg(b, node, x, i, kind=kind)


@register("DFT", since=17)
def _dft_17(b, node, x, attrs):
    return b.call(dft, x[0], _optional(b, node, x, 1), attrs.get("axis", 1),
                  attrs.get("inverse", 0), attrs.get("onesided", 0))


@register("DFT", since=20)
def _dft_20(b, node, x, attrs):
    axis = _optional(b, node, x, 2)
    return b.call(dft, x[0], _optional(b, node, x, 1), -2 if axis is None else axis,
                  attrs.get("inverse", 0), attrs.get("onesided", 0))


# -- STFT -------------------------------------------------------------------------------------------
def _frames(signal, size, step, count):
    """`count` frames of `size` samples every `step` along the last dim, zero-padded at the end
    where a frame runs past the signal (the reference pads such frames)."""
    short = (count - 1) * step + size - signal.shape[-1]
    if short > 0:
        signal = torch.nn.functional.pad(signal, (0, short))
    return signal.unfold(-1, size, step).narrow(-2, 0, count)


def stft(x, frame_step, window=None, frame_length=None, onesided=1):
    """ONNX STFT of a [batch, length, 1 or 2] signal: [batch, frames, bins, 2]."""
    step = int(_scalar(frame_step))
    if frame_length is None:
        n = x.shape[-2] if window is None else window.shape[0]
    else:
        n = int(_scalar(frame_length))
    size = n if window is None else window.shape[0]
    count = 1 + (x.shape[-2] - n) // step
    frames = _frames(_as_complex(x), size, step, count)
    if window is not None:
        frames = frames * window.to(frames.real.dtype)
    y = torch.fft.fft(frames, n=n, dim=-1)
    if onesided:
        y = y.narrow(-1, 0, n // 2 + 1)
    return _as_pairs(y, x.dtype)


@register("STFT", since=17)
def _stft(b, node, x, attrs):
    window = x[2] if len(x) > 2 else None
    return b.call(stft, x[0], _arg(b, node, x, 1, kind=int), window, _optional(b, node, x, 3),
                  attrs.get("onesided", 1))


# -- Hann, Hamming, Blackman windows ----------------------------------------------------------------
HAMMING_ALPHA = 25.0 / 46.0  # ONNX's (and the reference's) alpha, not the textbook 0.54


def window(size, kind, periodic=1, dtype=torch.float32):
    """A window of `size` samples; periodic divides by size, symmetric by size - 1 (as ONNX)."""
    device = size.device if isinstance(size, torch.Tensor) else None
    count = int(_scalar(size))
    denom = count if periodic else count - 1
    phase = torch.arange(count, dtype=torch.float64, device=device) * (2 * math.pi / denom)
    if kind == "hann":
        w = 0.5 - 0.5 * torch.cos(phase)
    elif kind == "hamming":
        w = HAMMING_ALPHA - (1 - HAMMING_ALPHA) * torch.cos(phase)
    else:
        w = 0.42 - 0.5 * torch.cos(phase) + 0.08 * torch.cos(2 * phase)
    return w.to(dtype)


def _window(kind):
    """Converter for one window kind: a constant when the size is static, else a run-time call."""
    def convert(b, node, x, attrs):
        dtype = torch_dtype(attrs.get("output_datatype", 1))
        periodic = attrs.get("periodic", 1)
        size = b.static(node, 0)
        if size is not None and dtype != torch.bfloat16:  # numpy, which holds constants, has no bfloat16
            return b.constant(window(int(size.reshape(-1)[0]), kind, periodic, dtype).numpy(), node.output[0])
        return b.call(window, x[0], kind, periodic, dtype)
    return convert


register("HannWindow", since=17)(_window("hann"))
register("HammingWindow", since=17)(_window("hamming"))
register("BlackmanWindow", since=17)(_window("blackman"))


# -- MelWeightMatrix --------------------------------------------------------------------------------
def _mel_bins(num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz):
    """The FFT bin of each of the num_mel_bins + 2 mel band edges, as the reference computes them
    (mel step in the hertz inputs' precision, the rest in float64, floored)."""
    lo = 2595 * torch.log10(1 + torch.as_tensor(lower_edge_hertz) / 700)
    hi = 2595 * torch.log10(1 + torch.as_tensor(upper_edge_hertz) / 700)
    step = (hi - lo) / (num_mel_bins + 2)
    mel = torch.arange(num_mel_bins + 2, dtype=torch.float64) * step.double() + lo.double()
    hz = 700 * (torch.pow(10.0, mel / 2595) - 1)
    return torch.floor((dft_length + 1) * hz / sample_rate).long().tolist()


def mel_weight_matrix(num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz,
                      dtype=torch.float32):
    """ONNX MelWeightMatrix: [dft_length // 2 + 1, num_mel_bins] triangular filters."""
    device = num_mel_bins.device if isinstance(num_mel_bins, torch.Tensor) else None
    mels, n = int(_scalar(num_mel_bins)), int(_scalar(dft_length))
    edges = _mel_bins(mels, n, int(_scalar(sample_rate)), torch.as_tensor(lower_edge_hertz).cpu(),
                      torch.as_tensor(upper_edge_hertz).cpu())
    out = [[0.0] * mels for _ in range(n // 2 + 1)]
    for i in range(mels):
        low, center, high = edges[i], edges[i + 1], edges[i + 2]
        if center == low:
            out[center][i] = 1.0
        else:
            for j in range(low, center + 1):
                out[j][i] = (j - low) / (center - low)
        for j in range(center, high):
            out[j][i] = (high - j) / (high - center)
    return torch.tensor(out, dtype=torch.float64, device=device).to(dtype)


@register("MelWeightMatrix", since=17)
def _mel_weight_matrix(b, node, x, attrs):
    dtype = torch_dtype(attrs.get("output_datatype", 1))
    statics = [b.static(node, i) for i in range(5)]
    if all(s is not None for s in statics) and dtype != torch.bfloat16:
        value = mel_weight_matrix(*[torch.tensor(s) for s in statics], dtype=dtype)
        return b.constant(value.numpy(), node.output[0])
    return b.call(mel_weight_matrix, *x[:5], dtype=dtype)
