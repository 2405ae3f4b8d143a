"""Read a model's I/O signature and a summary of its content, per format (`modelport inspect`).

Each reader imports only its own library. Errors from a library reading a damaged file become
UsageError (bad input, exit 2); a library that is not installed becomes UnavailableError (exit 4).
"""

from __future__ import annotations

import collections
import os
from typing import Any

from modelport.errors import UsageError
from modelport.manifest import size_on_disk
from modelport.libraries import require
from modelport.specs import from_tf_spec, from_tflite_detail, from_tfjs, keras_output_names
from modelport.types import Format, IOSpec, TensorSpec
from modelport.formats import Detected, detect, is_callable_reference


# ---------------------------------------------------------------- ONNX
_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
                9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}


def _onnx_value_spec(v) -> TensorSpec:
    t = v.type.tensor_type
    shape = None
    if t.HasField("shape"):
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
    return TensorSpec(v.name, shape, _ONNX_DTYPES.get(t.elem_type, f"onnx:{t.elem_type}"))


def load_onnx(path: str):
    """The ModelProto without external data (enough for signatures and op lists)."""
    return _load_onnx(path)


def _load_onnx(path: str):
    onnx = require("onnx", "reading ONNX")
    try:
        return onnx.load_model(path, load_external_data=False)
    except Exception as e:
        raise UsageError(f"{path}: not a readable ONNX model ({type(e).__name__})") from None


def onnx_io(path: str, model=None) -> IOSpec:
    m = model if model is not None else _load_onnx(path)
    inits = {i.name for i in m.graph.initializer}
    return IOSpec([_onnx_value_spec(v) for v in m.graph.input if v.name not in inits],
                  [_onnx_value_spec(v) for v in m.graph.output])


def _onnx_summary(path: str) -> dict[str, Any]:
    m = _load_onnx(path)
    ops = collections.Counter(f"{n.domain + '.' if n.domain else ''}{n.op_type}" for n in m.graph.node)
    return {
        "opset": {(o.domain or "ai.onnx"): o.version for o in m.opset_import},
        "ir_version": m.ir_version,
        "producer": f"{m.producer_name} {m.producer_version}".strip(),
        "op_counts": dict(ops.most_common()),
        "parameters": sum(_numel(i.dims) for i in m.graph.initializer),
    }


def _numel(dims) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


# ---------------------------------------------------------------- TFLite
def _tflite_interpreter(path: str):
    from modelport.tflite_flatbuffer import verify

    litert = require("ai_edge_litert.interpreter", "reading TFLite")
    try:
        verify(path)
    except ValueError as e:
        raise UsageError(f"{path}: corrupt or truncated TFLite file ({e})") from None
    try:
        return litert.Interpreter(model_path=path)
    except (ValueError, RuntimeError) as e:
        raise UsageError(f"{path}: not a loadable TFLite model ({str(e).splitlines()[0]})") from None


def tflite_io(path: str) -> IOSpec:
    it = _tflite_interpreter(path)
    sigs = it.get_signature_list()
    if sigs:
        key = "serving_default" if "serving_default" in sigs else next(iter(sigs))
        runner = it.get_signature_runner(key)
        ins, outs = runner.get_input_details(), runner.get_output_details()
        return IOSpec([from_tflite_detail(d, n) for n, d in ins.items()], [from_tflite_detail(d, n) for n, d in outs.items()])
    return IOSpec([from_tflite_detail(d) for d in it.get_input_details()], [from_tflite_detail(d) for d in it.get_output_details()])


def _tflite_summary(path: str) -> dict[str, Any]:
    it = _tflite_interpreter(path)
    ops = collections.Counter(op["op_name"] for op in it._get_ops_details())  # no public API for the op list
    return {"op_counts": dict(ops.most_common()), "signatures": list(it.get_signature_list())}


def tflite_custom_ops(path: str) -> list[str]:
    """Custom ops in a .tflite (onnx2tf writes unlowerable ONNX ops as custom `ONNX_*`, trap 9)."""
    from modelport.tflite_flatbuffer import custom_op_names

    return custom_op_names(path)


# ---------------------------------------------------------------- SavedModel
def load_savedmodel_signature(path: str, signature: str = "serving_default"):
    tf = require("tensorflow", "reading a SavedModel")
    try:
        obj = tf.saved_model.load(path)
    except Exception as e:
        raise UsageError(f"{path}: not a loadable SavedModel ({str(e).splitlines()[0][:200]})") from None
    sigs = getattr(obj, "signatures", {})
    if signature not in sigs:
        raise UsageError(f"{path}: SavedModel has no signature {signature!r} (has: {', '.join(sigs) or 'none'})")
    return obj, sigs[signature]


def savedmodel_io(path: str, signature: str = "serving_default", fn=None) -> IOSpec:
    if fn is None:
        _, fn = load_savedmodel_signature(path, signature)
    ins = fn.structured_input_signature[1]
    outs = fn.structured_outputs
    return IOSpec([from_tf_spec(k, v) for k, v in sorted(ins.items())], [from_tf_spec(k, v) for k, v in sorted(outs.items())])


# ---------------------------------------------------------------- PyTorch
def pytorch_io(src: str, flavor: str, options=None) -> IOSpec:
    from modelport.converters.pytorch_sources import load_module, module_io

    module = load_module(src, flavor, weights=getattr(options, "weights", None), task=getattr(options, "task", None))
    return module_io(module, flavor)


# ---------------------------------------------------------------- Keras
def load_keras(path: str):
    """A Keras 3 `.keras` file, loaded safely (no lambda layers) without its training configuration,
    or the model a `file.py:callable` builds (seeded, modelport/callables.py)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if is_callable_reference(path):
        from modelport.callables import build_keras

        require("keras", "building a Keras model")
        return build_keras(path)
    keras = require("keras", "reading a Keras model")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:
        raise UsageError(f"{path}: not a loadable Keras model ({str(e).splitlines()[0][:200]})") from None


def keras_io(path: str, model=None) -> IOSpec:
    """The I/O of a Keras model (`model` when the caller has loaded it already)."""
    import numpy as np

    model = model if model is not None else load_keras(path)

    def spec(name, t):
        shape = [d if d is not None else f"d{i}" for i, d in enumerate(t.shape)]
        return TensorSpec(name, shape, np.dtype(t.dtype).name)

    return IOSpec([spec(t.name, t) for t in model.inputs],
                  [spec(n, t) for n, t in zip(keras_output_names(model), model.outputs)])


# ---------------------------------------------------------------- TensorFlow.js
def tfjs_io(path: str) -> IOSpec:
    """A TF.js graph model's signature, read from model.json (the names are the SavedModel's keys)."""
    from modelport.formats import tfjs_model_json

    sig = tfjs_model_json(path).get("signature") or {}

    def specs(entries: dict) -> list[TensorSpec]:
        out = []
        for key, t in (entries or {}).items():
            dims = ((t.get("tensorShape") or {}).get("dim")) if isinstance(t, dict) else None
            out.append(from_tfjs(key, None if dims is None else [d.get("size", -1) for d in dims], t.get("dtype")))
        return out

    if not sig.get("inputs") or not sig.get("outputs"):
        raise UsageError(f"{path}: the TF.js model's model.json has no signature (inputs and outputs by name)")
    return IOSpec(specs(sig["inputs"]), specs(sig["outputs"]))


def _tfjs_summary(path: str) -> dict[str, Any]:
    """Shards, weight count and the weights' quantization, from model.json."""
    from modelport.formats import tfjs_model_json

    spec = tfjs_model_json(path)
    groups = spec.get("weightsManifest") or []
    weights = [w for g in groups for w in g.get("weights", [])]
    quantized = collections.Counter((w.get("quantization") or {}).get("dtype") for w in weights if w.get("quantization"))
    return {"converted_by": spec.get("convertedBy"), "generated_by": spec.get("generatedBy"),
            "weight_shards": sum(len(g.get("paths", [])) for g in groups), "weights": len(weights),
            "weight_quantization": dict(quantized) or None,
            "op_counts": dict(collections.Counter(n.get("op") for n in (spec.get("modelTopology") or {}).get("node", [])).most_common())}


# ---------------------------------------------------------------- dispatch
def read_io(src: str, detected: Detected, options=None) -> IOSpec:
    if detected.format == Format.ONNX:
        return onnx_io(src)
    if detected.format == Format.TFLITE:
        return tflite_io(src)
    if detected.format == Format.SAVEDMODEL:
        return savedmodel_io(src)
    if detected.format == Format.PYTORCH:
        return pytorch_io(src, detected.flavor or "callable", options)
    if detected.format == Format.KERAS:
        return keras_io(src)
    if detected.format == Format.TFJS:
        return tfjs_io(src)
    raise UsageError(f"{src}: cannot read the signature of a {detected.format.value} model")


def describe(src: str) -> dict[str, Any]:
    """Everything `modelport inspect` shows, as JSON-able data."""
    detected = detect(src)
    extra: dict[str, Any] = {}
    if detected.format == Format.SAVEDMODEL:  # load once: a SavedModel takes seconds to load
        obj, fn = load_savedmodel_signature(src)
        io = savedmodel_io(src, fn=fn)
        extra["signatures"] = list(obj.signatures)
    else:
        io = read_io(src, detected)
    info: dict[str, Any] = {
        "path": src,
        "format": detected.format.value,
        "flavor": detected.flavor,
        "note": detected.note,
        "size_bytes": size_on_disk(src) if os.path.exists(src) else None,
        "inputs": [vars(t) for t in io.inputs],
        "outputs": [vars(t) for t in io.outputs],
    }
    if detected.format == Format.ONNX:
        info.update(_onnx_summary(src))
    elif detected.format == Format.TFLITE:
        info.update(_tflite_summary(src))
        custom = tflite_custom_ops(src)
        if custom:
            info["custom_ops"] = custom
    elif detected.format == Format.TFJS:
        info.update(_tfjs_summary(src))
    info.update(extra)
    return info
