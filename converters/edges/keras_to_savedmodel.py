"""keras -> savedmodel: load a Keras 3 `.keras` file (or build the model a `file.py:callable`
returns, seeded) and export its serving signature.

Keras 3 breaks TFLiteConverter.from_keras_model and parts of tf2onnx's from_keras (trap 8), so a
Keras model always enters the graph as a SavedModel.
"""

from __future__ import annotations

from modelport.errors import ConversionError
from modelport.types import IOMap, TensorMapping
from modelport.converters.job import EdgeJob, EdgeResult
from modelport.converters.signatures import keras_io, load_keras, savedmodel_io
from modelport.libraries import require


def convert(job: EdgeJob) -> EdgeResult:
    model = load_keras(job.source)
    keras = require("keras", "exporting a Keras model")
    try:
        model.export(job.output, format="tf_saved_model", verbose=False)
    except Exception as e:
        raise ConversionError(f"Keras export failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}") from None
    src_io = keras_io(job.source, model)
    dst_io = savedmodel_io(job.output)
    io_map = IOMap(
        [TensorMapping(s.name, d.name, None, "position") for s, d in zip(src_io.inputs, dst_io.inputs)],
        [TensorMapping(s.name, d.name, None, "position") for s, d in zip(src_io.outputs, dst_io.outputs)],
    )
    return EdgeResult(io_map, f"keras {keras.__version__}", {}, [])
