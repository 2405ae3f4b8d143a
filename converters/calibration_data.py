"""Representative inputs for a calibrated (`--quantize int8`) step, read from the user's .npz.

Both quantizing edges (TFLiteConverter's, ONNX Runtime's) take the same file: one array per input
name, samples stacked on axis 0 (already remapped to the step's own names and layouts by
modelport/pipeline/calibration.py). One reader, so both refuse a bad file with the same words.
"""

from __future__ import annotations

import numpy as np

from modelport.errors import UsageError
from modelport.types import IOSpec


def representative_samples(path: str, src_io: IOSpec):
    """(a generator of {input name: array of batch 1}, the number of samples), or UsageError."""
    try:
        data = np.load(path)
    except Exception as e:
        raise UsageError(f"--calibration-data {path}: not a readable .npz ({type(e).__name__})") from None
    names = [t.name for t in src_io.inputs]
    missing = [n for n in names if n not in data.files]
    if missing and len(names) == 1 and len(data.files) == 1:
        arrays = {names[0]: data[data.files[0]]}
    elif missing:
        raise UsageError(f"--calibration-data {path}: no array for input(s) {', '.join(missing)} (has: {', '.join(data.files)})")
    else:
        arrays = {n: data[n] for n in names}
    count = min(len(a) for a in arrays.values())
    if count == 0:
        raise UsageError(f"--calibration-data {path}: arrays are empty")
    specs = {t.name: t for t in src_io.inputs}
    for n, a in arrays.items():
        want = specs[n].shape
        if want and len(a.shape) != len(want):
            raise UsageError(f"--calibration-data {path}: array {n!r} has shape {list(a.shape)}; "
                             f"expected samples stacked on axis 0 of input shape {want}")

    def generator():
        for i in range(count):
            yield {n: a[i : i + 1].astype(specs[n].dtype) for n, a in arrays.items()}

    return generator, count
