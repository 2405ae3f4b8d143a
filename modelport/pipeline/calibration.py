"""Calibration data for `--quantize int8`, given in the source's terms, remapped for the quantizing step.

When earlier steps renamed or permuted the inputs (e.g. NCHW -> NHWC through onnx2tf), each array
follows the I/O map so far, so the quantizer sees what its model takes.
"""

from __future__ import annotations

import os

from modelport.errors import UsageError
from modelport.types import IOMap


def remap_calibration(path: str, io_map: IOMap, scratch: str) -> str:
    """A copy of the .npz at `path` with every array renamed and permuted through `io_map`, in scratch."""
    import numpy as np

    try:
        data = np.load(path)
    except Exception as e:
        raise UsageError(f"--calibration-data {path}: not a readable .npz ({type(e).__name__})") from None
    remapped = {}
    for m in io_map.inputs:
        if m.source not in data.files:
            raise UsageError(f"--calibration-data {path}: no array for input {m.source!r} (has: {', '.join(data.files)})")
        array = data[m.source]
        if m.perm is not None:
            if m.perm[0] != 0 or array.ndim != len(m.perm):
                raise UsageError(f"--calibration-data {path}: array {m.source!r} of shape {list(array.shape)} "
                                 f"cannot follow the layout change {m.perm} (samples must be stacked on axis 0)")
            array = array.transpose(m.perm)
        remapped[m.artifact] = array
    out = os.path.join(scratch, "calibration_remapped.npz")
    np.savez(out, **remapped)
    return out
