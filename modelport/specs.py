"""TensorSpecs from the runtimes' own descriptions, shared by converters (signatures) and
validators (runners), which may not import each other's internals."""

from __future__ import annotations

from modelport.types import TensorSpec


def from_tflite_detail(detail: dict, name: str | None = None) -> TensorSpec:
    """A LiteRT input/output detail; -1 in shape_signature is a dynamic dim, named d<axis>."""
    import numpy as np

    sig = detail.get("shape_signature", detail["shape"])
    return TensorSpec(name or detail["name"], [int(x) if x >= 0 else f"d{i}" for i, x in enumerate(sig)],
                      np.dtype(detail["dtype"]).name)


def from_tf_spec(name: str, spec) -> TensorSpec:
    """A tf.TensorSpec from a SavedModel signature; None dims are dynamic, named d<axis>."""
    import numpy as np

    shape = None
    if spec.shape.rank is not None:
        shape = [d if d is not None else f"d{i}" for i, d in enumerate(spec.shape.as_list())]
    return TensorSpec(name, shape, np.dtype(spec.dtype.as_numpy_dtype).name)


# TF.js has float32, int32 and bool tensors: its converter stores int64 (and smaller ints) as int32 and
# float16/64 as float32. Keys: model.json's signature dtypes, or TF.js's own names.
TFJS_DTYPES = {"DT_FLOAT": "float32", "DT_HALF": "float32", "DT_DOUBLE": "float32", "DT_BFLOAT16": "float32",
               "DT_INT32": "int32", "DT_INT64": "int32", "DT_INT16": "int32", "DT_INT8": "int32", "DT_UINT8": "int32",
               "DT_BOOL": "bool", "float32": "float32", "int32": "int32", "bool": "bool"}


def from_tfjs(name: str, shape: list[int] | None, dtype: str | None) -> TensorSpec:
    """A TF.js signature entry (model.json, or the runner's report of it); -1 is a dynamic dim, named d<axis>."""
    dims = None if shape is None else [int(d) if int(d) >= 0 else f"d{i}" for i, d in enumerate(shape)]
    return TensorSpec(name, dims, TFJS_DTYPES.get(dtype, str(dtype)))


def keras_output_names(model) -> list[str]:
    """Outputs are named by the layer that makes them: Keras' own tensor names ("keras_tensor_23")
    come from a process-wide counter and change from one load to the next."""
    names = []
    for i, t in enumerate(model.outputs):
        history = getattr(t, "_keras_history", None)
        names.append(history.operation.name if history is not None else f"output_{i}")
    return names
