"""keras -> savedmodel: load a Keras 3 `.keras` file and export its serving signature.

Keras 3 breaks TFLiteConverter.from_keras_model and parts of tf2onnx's from_keras (trap 8), so a
Keras model always enters the graph as a SavedModel.
"""

from __future__ import annotations

import os

from modelport.errors import ConversionError, UsageError
from modelport.types import IOMap, IOSpec, TensorMapping, TensorSpec
from modelport.converters.job import EdgeJob, EdgeResult
from modelport.converters.signatures import require, savedmodel_io
from modelport.specs import keras_output_names


def _load(path: str):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    keras = require("keras", "reading a Keras model")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:
        raise UsageError(f"{path}: not a loadable Keras model ({str(e).splitlines()[0][:200]})") from None


def keras_io(path: str) -> IOSpec:
    import numpy as np

    model = _load(path)

    def spec(name, t):
        shape = [d if d is not None else f"d{i}" for i, d in enumerate(t.shape)]
        return TensorSpec(name, shape, np.dtype(t.dtype).name)

    return IOSpec([spec(t.name, t) for t in model.inputs],
                  [spec(n, t) for n, t in zip(keras_output_names(model), model.outputs)])


def convert(job: EdgeJob) -> EdgeResult:
    model = _load(job.source)
    keras = require("keras", "exporting a Keras model")
    try:
        model.export(job.output, format="tf_saved_model", verbose=False)
    except Exception as e:
        raise ConversionError(f"Keras export failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}") from None
    src_io = keras_io(job.source)
    dst_io = savedmodel_io(job.output)
    io_map = IOMap(
        [TensorMapping(s.name, d.name, None, "position") for s, d in zip(src_io.inputs, dst_io.inputs)],
        [TensorMapping(s.name, d.name, None, "position") for s, d in zip(src_io.outputs, dst_io.outputs)],
    )
    return EdgeResult(io_map, f"keras {keras.__version__}", {}, [])
