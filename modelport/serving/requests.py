"""Request and answer bodies: tensors as JSON for TorchServe's handler, TF Serving's REST API
and the protobuf JSON mapping of its gRPC PredictRequest.

A tensor object is {"shape": [...], "dtype": "float32", "data": [flat, row-major]}: the shape
survives any size (nested lists lose it for an empty dim) and float32 values round-trip exactly.
"""

from __future__ import annotations

import numpy as np

# TensorFlow's DataType enum names (tensorflow/core/framework/types.proto) by numpy dtype name.
TF_DTYPES = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF", "int32": "DT_INT32",
             "int64": "DT_INT64", "int8": "DT_INT8", "uint8": "DT_UINT8", "int16": "DT_INT16", "bool": "DT_BOOL"}
# The TensorProto field that holds values of each dtype in the protobuf JSON mapping.
TF_VALUE_FIELDS = {"DT_FLOAT": "floatVal", "DT_DOUBLE": "doubleVal", "DT_HALF": "halfVal", "DT_INT32": "intVal",
                   "DT_INT64": "int64Val", "DT_INT8": "intVal", "DT_UINT8": "intVal", "DT_INT16": "intVal",
                   "DT_BOOL": "boolVal"}


def to_tensor_json(a: np.ndarray) -> dict:
    a = np.asarray(a)
    return {"shape": list(a.shape), "dtype": a.dtype.name, "data": a.reshape(-1).tolist()}


def from_tensor_json(value) -> np.ndarray:
    if isinstance(value, dict):
        return np.asarray(value["data"], dtype=np.dtype(value.get("dtype") or "float32")).reshape(value["shape"])
    return np.asarray(value)


def torchserve_body(feed: dict[str, np.ndarray]) -> dict:
    """The body modelport's TorchServe handler takes (modelport/serving/mar_handler.py)."""
    return {"inputs": {name: to_tensor_json(a) for name, a in feed.items()}}


def tfserving_rest_body(feed: dict[str, np.ndarray], signature: str = "serving_default") -> dict:
    """TF Serving's REST predict body in the columnar form ("inputs": one array per input name,
    batch dim included), which takes every signature, one input or several."""
    return {"signature_name": signature, "inputs": {name: np.asarray(a).tolist() for name, a in feed.items()}}


def tfserving_grpc_json(model: str, feed: dict[str, np.ndarray], signature: str = "serving_default",
                        version: int | None = 1) -> dict:
    """A tensorflow.serving.PredictRequest in the protobuf JSON mapping (what `json_format.Parse`
    reads, and what grpcurl sends)."""
    spec = {"name": model, "signatureName": signature}
    if version is not None:
        spec["version"] = str(version)  # int64 fields are strings in the JSON mapping
    inputs = {}
    for name, a in feed.items():
        a = np.asarray(a)
        dtype = TF_DTYPES.get(a.dtype.name)
        if dtype is None:
            raise ValueError(f"input {name!r}: no TensorFlow dtype for {a.dtype.name}")
        flat = a.reshape(-1).tolist()
        if dtype == "DT_INT64":
            flat = [str(v) for v in flat]
        inputs[name] = {"dtype": dtype, "tensorShape": {"dim": [{"size": str(d)} for d in a.shape]},
                        TF_VALUE_FIELDS[dtype]: flat}
    return {"modelSpec": spec, "inputs": inputs}


def rest_body_feed(body: dict, dtypes: dict[str, str]) -> dict[str, np.ndarray]:
    """Read a REST body's inputs back as arrays in the signature's dtypes (the check feeds the
    very body it wrote)."""
    if "inputs" in body:
        given = body["inputs"] if isinstance(body["inputs"], dict) else {next(iter(dtypes)): body["inputs"]}
        return {k: np.asarray(v, dtype=np.dtype(dtypes.get(k, "float32"))) for k, v in given.items()}
    rows = body["instances"]
    if rows and isinstance(rows[0], dict):
        return {k: np.asarray([r[k] for r in rows], dtype=np.dtype(dtypes.get(k, "float32"))) for k in rows[0]}
    name = next(iter(dtypes))
    return {name: np.asarray(rows, dtype=np.dtype(dtypes[name]))}
