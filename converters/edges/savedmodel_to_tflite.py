"""savedmodel -> tflite with TensorFlow's TFLiteConverter, the edge that quantizes TFLite outputs.

fp16: weights stored as float16. dynamic-int8: weights int8, activations float at run time.
int8: full integer quantization calibrated on the user's representative inputs; int8 builtin ops
only, float32 input/output tensors kept so the artifact is a drop-in replacement.
"""

from __future__ import annotations

from modelport.errors import ConversionError
from modelport.types import IOMap, TensorMapping
from modelport.converters.job import EdgeJob, EdgeResult
from modelport.converters.calibration_data import representative_samples
from modelport.converters.signatures import savedmodel_io, tflite_custom_ops, tflite_io


def convert(job: EdgeJob) -> EdgeResult:
    import tensorflow as tf

    src_io = savedmodel_io(job.source)
    converter = tf.lite.TFLiteConverter.from_saved_model(job.source, signature_keys=["serving_default"])
    q = job.options.quantize
    details: dict = {"quantize": q}
    if q == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif q == "dynamic-int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif q == "int8":
        gen, count = representative_samples(job.options.calibration_data, src_io)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ({k: v for k, v in s.items()} for s in gen())
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        details["calibration_samples"] = count
    try:
        flatbuffer = converter.convert()
    except Exception as e:
        msg = [ln for ln in str(e).splitlines() if "error" in ln.lower()] or str(e).splitlines() or [type(e).__name__]
        raise ConversionError(f"TFLiteConverter failed: {msg[0].strip()[:300]}") from None
    with open(job.output, "wb") as f:
        f.write(flatbuffer)
    custom = tflite_custom_ops(job.output)
    if custom:
        raise ConversionError(f"unsupported operator(s) for TFLite: {', '.join(custom)}")
    dst_io = tflite_io(job.output)
    by_name = {t.name: t for t in dst_io.inputs + dst_io.outputs}
    io_map = IOMap(
        [TensorMapping(t.name, t.name if t.name in by_name else d.name, None, "signature name")
         for t, d in zip(src_io.inputs, dst_io.inputs)],
        [TensorMapping(t.name, t.name if t.name in by_name else d.name, None, "signature name")
         for t, d in zip(src_io.outputs, dst_io.outputs)],
    )
    notes = [f"quantized: {q}"] if q else []
    return EdgeResult(io_map, f"tensorflow {tf.__version__}", details, notes)
