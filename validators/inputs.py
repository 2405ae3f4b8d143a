"""Input tensors for validation: generated from TensorSpecs (seeded), or loaded from files.

Generated floats are standard normal; integers (token ids, indices) are drawn from [0, 10) unless
`--value-range NAME:LO,HI` says otherwise, so they are valid for any embedding table or gather of
at least 10 rows; booleans are fair coin flips. An integer `attention_mask` (the name every
Hugging Face text model and its exports use) is what a tokenizer pads a batch to: ones, with the
first row whole and each other row's tail (up to half of it) zeros, so the validation sees padding;
random 0/1 masks are not inputs any model meets. At odd seeds the first row is padded too, so that
two consecutive samples hold an unpadded and a padded row even at batch 1 (a batch of one row was
never padded: measured, deberta_v2's onnx2tf TFLite passed at 1.4e-6 on unpadded masks and is
0.015 off the source on 31% of elements with 5 of 16 positions padded). Each sample gets its own seed (seed + i), so a
run is reproducible and a single sample can be re-run on its own.
"""

from __future__ import annotations

import os
import re

import numpy as np

from modelport.errors import UsageError
from modelport.types import TensorSpec

DEFAULT_DYNAMIC_SIZE = 1
DEFAULT_INT_RANGE = (0, 10)
ATTENTION_MASK = "attention_mask"


def concrete_shape(spec: TensorSpec, sizes: dict[str, int] | None = None) -> list[int]:
    sizes = sizes or {}
    if spec.shape is None:
        raise UsageError(f"input {spec.name!r} has no known shape: pass --input-shape {spec.name}:D1,D2,...")
    return [d if isinstance(d, int) and d >= 0 else sizes.get(str(d), DEFAULT_DYNAMIC_SIZE) for d in spec.shape]


def parse_value_range(text: str) -> tuple[str, tuple[float, float]]:
    m = re.fullmatch(r"(.+):(-?[0-9.eE+-]+),(-?[0-9.eE+-]+)", text.strip())
    try:
        lo, hi = float(m.group(2)), float(m.group(3))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        raise UsageError(f"--value-range {text!r}: expected NAME:LO,HI (e.g. input_ids:0,30000)") from None
    if not lo < hi:
        raise UsageError(f"--value-range {text!r}: LO must be below HI")
    return m.group(1), (lo, hi)  # type: ignore[union-attr]


def generate(specs: list[TensorSpec], *, seed: int = 0, sizes: dict[str, int] | None = None,
             value_ranges: dict[str, tuple[float, float]] | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ranges = value_ranges or {}
    feed = {}
    for spec in specs:
        shape = concrete_shape(spec, sizes)
        dtype = np.dtype(spec.dtype if spec.dtype != "bfloat16" else "float32")
        _check_size(spec.name, shape, dtype)
        lo_hi = ranges.get(spec.name)
        if dtype.kind == "f":
            x = rng.uniform(lo_hi[0], lo_hi[1], shape) if lo_hi else rng.standard_normal(shape)
            feed[spec.name] = x.astype(dtype)
        elif dtype.kind == "b":
            feed[spec.name] = rng.integers(0, 2, shape).astype(bool)
        elif spec.name == ATTENTION_MASK and not lo_hi and len(shape) >= 2:
            feed[spec.name] = padded_mask(rng, shape, pad_first=seed % 2 == 1).astype(dtype)
        else:
            lo, hi = (int(lo_hi[0]), int(lo_hi[1])) if lo_hi else DEFAULT_INT_RANGE
            feed[spec.name] = rng.integers(lo, hi, shape).astype(dtype)  # hi exclusive
    return feed


def padded_mask(rng, shape: list[int], *, pad_first: bool = False) -> np.ndarray:
    """Ones over [..., sequence], the first row whole (or, with pad_first, its last sequence // 4
    positions zeros, at least one), every other row's last 0 to sequence // 2 positions zeros (at
    least one position stays one)."""
    rows, length = int(np.prod(shape[:-1])), shape[-1]
    mask = np.ones((rows, length), dtype=np.int64)
    if pad_first and length > 1:
        mask[0, length - max(1, length // 4):] = 0
    for r in range(1, rows):
        mask[r, max(1, length - int(rng.integers(0, length // 2 + 1))):] = 0
    return mask.reshape(shape)


MAX_INPUT_BYTES = 4 << 30  # one generated input; MODELPORT_MAX_INPUT_BYTES overrides


def _check_size(name: str, shape, dtype) -> None:
    """A model that declares a huge input (a hostile file, or a dim meant to be dynamic) gets a
    clear error, not an allocation that freezes the machine (float64 math: shapes can overflow int64)."""
    limit = int(os.environ.get("MODELPORT_MAX_INPUT_BYTES", MAX_INPUT_BYTES))
    size = float(dtype.itemsize)
    for d in shape:
        size *= float(d)
    if size > limit:
        dims = ",".join(str(d) for d in shape)
        raise UsageError(f"input {name!r} of shape [{dims}] would need {size / 2**30:.3g} GiB (more than "
                         f"{limit / 2**30:.3g}; MODELPORT_MAX_INPUT_BYTES raises it): give a smaller shape with "
                         f"--input-shape {name}:...")


def load(path: str) -> dict[str, np.ndarray]:
    """One sample from FILE.npz (one array per input name) or a folder of NAME.npy files."""
    if os.path.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.endswith(".npy"))
        if not files:
            raise UsageError(f"--inputs {path}: no .npy files in this folder")
        return {f[:-4]: np.load(os.path.join(path, f), allow_pickle=False) for f in files}
    if not os.path.isfile(path):
        raise UsageError(f"--inputs {path}: no such file or folder")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as e:
        raise UsageError(f"--inputs {path}: not a readable .npz ({type(e).__name__})") from None
