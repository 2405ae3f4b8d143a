"""Generate input tensors from TensorSpecs, reproducibly.

Integer inputs (token ids, indices) are drawn from a small range [0, 10) so that they are valid
for any embedding table or gather of at least 10 rows; floats are standard normal.
"""

from __future__ import annotations

import numpy as np

from modelport.types import TensorSpec

DEFAULT_DYNAMIC_SIZE = 1


def concrete_shape(spec: TensorSpec, sizes: dict[str, int] | None = None) -> list[int]:
    sizes = sizes or {}
    if spec.shape is None:
        raise ValueError(f"input {spec.name!r} has an unknown shape")
    return [d if isinstance(d, int) and d >= 0 else sizes.get(str(d), DEFAULT_DYNAMIC_SIZE) for d in spec.shape]


def generate(specs: list[TensorSpec], *, seed: int = 0, sizes: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feed = {}
    for spec in specs:
        shape = concrete_shape(spec, sizes)
        dtype = np.dtype(spec.dtype if spec.dtype != "bfloat16" else "float32")
        if dtype.kind == "f":
            feed[spec.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feed[spec.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            feed[spec.name] = rng.integers(0, 10, shape).astype(dtype)
    return feed
