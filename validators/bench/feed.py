"""Inputs for benchmarking one artifact at one batch size: the same values for every artifact.

Every artifact converted from one source gets identical inputs: they are generated in the
source's terms (names, NCHW layout), found through the artifact's I/O map (its manifest), each
input from its own seed (seed + CRC32 of its source name, independent of input order), and then
permuted into the artifact's layout. An artifact without a manifest is its own source.

The batch is axis 0 of every input (in source terms, which NCHW->NHWC keeps at axis 0). Other
dynamic dims come from --input-shape (source names, or the artifact's own), else 1. A batch size
or --input-shape the artifact's fixed dims cannot take is a skip with a reason, not an error.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from modelport.errors import UsageError
from modelport.layout import inverse_perm
from modelport.types import IOMap, TensorSpec
from modelport.validators import inputs as input_data
from modelport.validators.runtimes import ANY_DTYPE


class Skip(Exception):
    """The artifact cannot take this batch size or shape; the message says why."""


@dataclass
class FeedRequest:
    """What the command line asked for, already parsed (by the caller, which reports bad syntax)."""

    batch_size: int | None = None  # None: keep what --inputs holds / the model's own batch
    shapes: dict[str, list[int | str]] = field(default_factory=dict)  # --input-shape: sizes, or a dim's symbol
    dtypes: dict[str, str] = field(default_factory=dict)  # --input-dtype, for inputs without a declared dtype
    value_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    seed: int = 0
    inputs: dict[str, np.ndarray] | None = None  # real inputs (--inputs), keyed by source or artifact name


def _resolve(name: str, model_shape: list | None, override: list | None, batch: int | None) -> list[int]:
    if model_shape is None and override is None:
        raise UsageError(f"input {name!r} has no known shape: pass --input-shape {name}:D1,D2,...")
    shape = list(model_shape if model_shape is not None else override)
    if override is not None and model_shape is not None:
        if len(override) != len(model_shape):
            raise Skip(f"input {name} has rank {len(model_shape)}; --input-shape gives {len(override)} dims")
        for axis, (d, o) in enumerate(zip(model_shape, override)):
            if isinstance(d, int) and d >= 0 and isinstance(o, int) and o != d and not (axis == 0 and batch):
                raise Skip(f"input {name} is fixed at {_text(model_shape)}; --input-shape asks for {_text(override)}")
            if not (isinstance(d, int) and d >= 0):
                shape[axis] = o
    if batch is not None and shape:
        if not _dynamic(model_shape, 0) and model_shape[0] != batch:
            raise Skip(f"static batch of {model_shape[0]} (input {name} is {_text(model_shape)})")
        shape[0] = batch
    return [d if isinstance(d, int) and d >= 0 else input_data.DEFAULT_DYNAMIC_SIZE for d in shape]


def _dynamic(shape: list | None, axis: int) -> bool:
    return shape is None or not (isinstance(shape[axis], int) and shape[axis] >= 0)


def _text(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]" if shape is not None else "?"


def build_feed(specs: list[TensorSpec], io_map: IOMap | None, req: FeedRequest) -> dict[str, np.ndarray]:
    """The artifact's feed (its names, layout and dtypes); raises Skip or UsageError."""
    by_artifact = {m.artifact: m for m in (io_map.inputs if io_map else [])}
    shapes, dtypes, ranges = req.shapes, req.dtypes, req.value_ranges
    feed = {}
    for spec in specs:
        m = by_artifact.get(spec.name)
        source, perm = (m.source, m.perm) if m is not None else (spec.name, None)
        dtype = spec.dtype if spec.dtype not in (ANY_DTYPE, None) else dtypes.get(source, dtypes.get(spec.name, "float32"))
        if req.inputs is not None:
            x = _given(req.inputs, source, spec.name, perm)
        else:
            model_shape = spec.shape if perm is None or spec.shape is None else [spec.shape[i] for i in inverse_perm(perm)]
            shape = _resolve(source, model_shape, shapes.get(source, shapes.get(spec.name)), req.batch_size)
            one = TensorSpec(source, shape, dtype)
            x = input_data.generate([one], seed=req.seed + zlib.crc32(source.encode()) % 10_000,
                                    value_ranges=ranges)[source]
            if perm is not None:
                x = np.ascontiguousarray(x.transpose(perm))
        feed[spec.name] = x.astype(np.dtype(dtype if dtype != "bfloat16" else "float32"), copy=False)
    return feed


def _given(arrays: dict[str, np.ndarray], source: str, name: str, perm: list[int] | None) -> np.ndarray:
    """A real input by its source name (permuted into the artifact's layout) or the artifact's own."""
    if source in arrays:
        x = arrays[source]
        return np.ascontiguousarray(x.transpose(perm)) if perm is not None else x
    if name in arrays:
        return arrays[name]
    raise UsageError(f"--inputs has no array named {source!r}" + (f" or {name!r}" if name != source else "")
                     + f" (it has: {', '.join(sorted(arrays))})")
