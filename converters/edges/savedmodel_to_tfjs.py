"""savedmodel -> tfjs with tensorflowjs's converter: a TF.js graph model (model.json + weight shards).

Runs in the tfjs layer (modelport/layers.py, converters/tfjs_library.py). The converter freezes the
`serving_default` signature, checks every op against TF.js's op list (an op TF.js lacks is a
ConversionError naming it), and writes the graph with the SavedModel's signature keys as input
and output names, so the I/O map is by name and the layout is the SavedModel's. TF.js has no int64:
int64 inputs become int32 (said in a note). `--quantize fp16|uint8|uint16` stores the weights as
float16 or as 8/16-bit affine codes (weight-only: TF.js dequantizes them to float32 when it loads the
model, so activations stay float32); judged with the fp16 / int8 presets (modelport/types.py).
"""

from __future__ import annotations

import contextlib
import os

from modelport.errors import ConversionError, NotApplicable
from modelport.types import IOMap, TensorMapping
from modelport.converters.job import EdgeJob, EdgeResult
from modelport.converters.signatures import savedmodel_io, tfjs_io
from modelport.converters.tfjs_graph import DECOMPOSABLE, decompose_unsupported, untranspose_matmul_weights

QUANTIZATION = {"fp16": "float16", "uint8": "uint8", "uint16": "uint16"}  # --quantize -> tensorflowjs dtype
SHARD_BYTES = 4 << 20  # tensorflowjs's default: browsers cache files of this size well


def convert(job: EdgeJob) -> EdgeResult:
    from modelport.converters.tfjs_library import saved_model_conversion, tensorflowjs

    src_io = savedmodel_io(job.source)
    q = job.options.quantize
    dtype_map = {QUANTIZATION[q]: True} if q else None  # True: every weight
    os.makedirs(job.output, exist_ok=True)
    notes: list[str] = []
    try:
        with _decomposing(saved_model_conversion, notes, enabled=job.strategy == "decompose"):
            saved_model_conversion.convert_tf_saved_model(
                job.source, job.output, signature_def="serving_default", saved_model_tags="serve",
                quantization_dtype_map=dtype_map, strip_debug_ops=True, weight_shard_size_bytes=SHARD_BYTES)
    except NotApplicable:
        raise
    except Exception as e:
        raise ConversionError(f"tensorflowjs_converter failed: {_one_line(e)}") from None
    if job.strategy == "as_written":
        if not untranspose_matmul_weights(job.output, dry_run=True):
            raise NotApplicable("no MatMul with transpose_b to leave as written: the same model as untransposed")
    else:  # untransposed (converters/strategies.py; converters/tfjs_graph.py says why)
        changed = untranspose_matmul_weights(job.output)
        if changed:
            notes.append(f"{len(changed)} MatMul weight(s) stored transposed instead of transpose_b "
                         "(TF.js's wasm backend computes a batch wrong with it)")
    dst_io = tfjs_io(job.output)
    names = {t.name for t in dst_io.inputs + dst_io.outputs}
    missing = [t.name for t in src_io.inputs + src_io.outputs if t.name not in names]
    if missing:
        raise ConversionError(f"the TF.js model lost the signature name(s) {', '.join(missing)}")
    io_map = IOMap([TensorMapping(t.name, t.name, None, "signature name") for t in src_io.inputs],
                   [TensorMapping(t.name, t.name, None, "signature name") for t in src_io.outputs])
    if q:
        notes.append(f"quantized: {q} weights (dequantized to float32 when TF.js loads the model)")
    narrowed = [t.name for t in src_io.inputs if t.dtype == "int64"]
    if narrowed:
        notes.append(f"TF.js has no int64: input(s) {', '.join(narrowed)} take int32")
    details = {"quantize": q, "weight_shard_bytes": SHARD_BYTES, "strategy": job.strategy}
    return EdgeResult(io_map, f"tensorflowjs {tensorflowjs.__version__}", details, notes)


@contextlib.contextmanager
def _decomposing(conversion, notes: list[str], *, enabled: bool):
    """The decompose strategy: tensorflowjs's freezing step wrapped so that the frozen graph's ops TF.js
    lacks are rewritten (converters/tfjs_graph.py) before its op check reads it. Why a wrap: the
    converter has no hook between freezing and checking, and its op list is what refuses Erfc."""
    if not enabled:
        yield
        return
    import tensorflow as tf

    freeze = conversion._freeze_saved_model_v2

    def freeze_and_decompose(concrete_func, control_flow_v2=False):
        graph = freeze(concrete_func, control_flow_v2)
        graph_def, counts = decompose_unsupported(graph.as_graph_def())
        if not counts:
            raise NotApplicable(f"no op to decompose ({', '.join(DECOMPOSABLE)})")
        notes.append("rewritten for TF.js: " + ", ".join(f"{n} {op} as {DECOMPOSABLE[op]}" for op, n in counts.items()))
        rewritten = tf.Graph()
        with rewritten.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        return rewritten

    conversion._freeze_saved_model_v2 = freeze_and_decompose
    try:
        yield
    finally:
        conversion._freeze_saved_model_v2 = freeze


def _one_line(e: Exception) -> str:
    """tensorflowjs's op check lists the unsupported ops over several lines: keep them on one."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()] or [type(e).__name__]
    if lines[0].lower().startswith("unsupported ops"):
        return f"{lines[0].rstrip(':')}: {', '.join(lines[1:])}"[:400]
    return lines[0][:400]
