"""savedmodel -> onnx and tflite -> onnx with tf2onnx.

tf2onnx's command-line entry point is used (inside the worker process) rather than its private
loader functions: it is the interface tf2onnx documents for SavedModels (trap 4). Its default
opset is 15, so modelport always passes one explicitly; tf2onnx 1.17 knows opsets up to 18.
"""

from __future__ import annotations

import re
import sys

from modelport.errors import ConversionError, UsageError
from modelport.types import IOMap, IOSpec, TensorMapping
from modelport.converters.job import EdgeJob, EdgeResult
from modelport.converters.signatures import onnx_io, savedmodel_io, tflite_io

MAX_OPSET = 18


def _clean(name: str) -> str:
    """tf2onnx names TFLite tensors like 'serving_default_image:0'; compare on the bare name."""
    name = re.sub(r":\d+$", "", name)
    return re.sub(r"^serving_default_", "", name)


def _match(src: list, dst: list) -> list[TensorMapping]:
    by_name = {t.name: t for t in dst}
    by_clean = {_clean(t.name): t for t in dst}
    out = []
    for i, s in enumerate(src):
        if s.name in by_name:
            out.append(TensorMapping(s.name, s.name, None, "name"))
        elif _clean(s.name) in by_clean:
            out.append(TensorMapping(s.name, by_clean[_clean(s.name)].name, None, "name (tf2onnx suffix removed)"))
        elif len(src) == len(dst):
            out.append(TensorMapping(s.name, dst[i].name, None, "position"))
    return out


def convert(job: EdgeJob) -> EdgeResult:
    import tf2onnx
    from tf2onnx import convert as tf2onnx_cli

    opset = job.options.opset or MAX_OPSET
    if opset > MAX_OPSET:
        raise UsageError(f"--opset {opset}: tf2onnx {tf2onnx.__version__} supports opsets up to {MAX_OPSET}")
    if job.source_format == "savedmodel":
        src_io: IOSpec = savedmodel_io(job.source)
        argv = ["--saved-model", job.source, "--signature_def", "serving_default"]
    else:
        src_io = tflite_io(job.source)
        argv = ["--tflite", job.source, "--dequantize"]
    argv += ["--output", job.output, "--opset", str(opset)]
    saved_argv = sys.argv
    sys.argv = ["tf2onnx.convert"] + argv
    try:
        tf2onnx_cli.main()
    except SystemExit as e:
        if e.code not in (0, None):
            raise ConversionError(f"tf2onnx stopped with exit status {e.code}; see the log (--verbose)") from None
    except Exception as e:
        msg = str(e).strip().splitlines()
        raise ConversionError(f"tf2onnx failed: {type(e).__name__}: {(msg[-1] if msg else '')[:300]}") from None
    finally:
        sys.argv = saved_argv
    dst_io = onnx_io(job.output)
    _check_unsupported(job.output)
    io_map = IOMap(_match(src_io.inputs, dst_io.inputs), _match(src_io.outputs, dst_io.outputs))
    notes = [f"opset {opset}; layout kept (NHWC stays NHWC)"]
    return EdgeResult(io_map, f"tf2onnx {tf2onnx.__version__}", {"opset": opset}, notes)


def _check_unsupported(path: str) -> None:
    """tf2onnx continues past ops it cannot convert and leaves them in the graph under their TF
    names (e.g. `Erfc` from Keras' exact GELU), which no ONNX runtime loads. Name them all."""
    import onnx
    from onnx import defs

    model = onnx.load(path, load_external_data=False)
    opsets = {o.domain or "": o.version for o in model.opset_import}
    bad = sorted({
        n.op_type for n in model.graph.node
        if (n.domain or "") in ("", "ai.onnx", "ai.onnx.ml") and not defs.has(n.op_type, n.domain or "")
        or (n.domain or "") not in ("", "ai.onnx", "ai.onnx.ml", "com.microsoft") and n.domain not in opsets
    })
    if bad:
        raise ConversionError(
            f"unsupported operator(s) for ONNX: {', '.join(bad)} (tf2onnx left them unconverted)"
        )
