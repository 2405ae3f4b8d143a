"""pytorch -> tflite with litert-torch, Google's PyTorch-to-LiteRT converter (torch.export, then
LiteRT's MLIR converter): the alternative to the route through ONNX and onnx2tf.

Why a second route: onnx2tf is one library, and on some architectures every one of its strategies
fails where litert-torch converts the same module (measured on the corpus: skresnet18's TFLite
from onnx2tf has a tensor without data, edgenext's fails XNNPack's reshape; litert-torch's match
the source at 7.5e-6 and 5.4e-7). The planner tries this edge when the planned route fails
(converters/planner.py `alternative`), or when `--route pytorch->tflite` asks for it.

It runs in the litert layer (modelport/layers.py): litert-torch needs ai-edge-litert 2.3.0, and
onnx2tf pins 2.1.2, so the two cannot share one environment; the layer is a venv of its own whose
only packages are litert-torch's, on top of the pinned stack. The artifact is then validated in the
pinned stack's interpreter, like every other TFLite.

What it changes: layouts are kept (NCHW stays NCHW); int64 and float64 tensors become int32 and
float32 (litert-torch's default: most on-device kernels have no 64-bit form); dynamic dims are fixed
to the example sizes. Why: litert-torch 0.10 takes torch.export `dynamic_shapes`, but its JAX
lowering needs concrete shapes where a view reads a dynamic one (measured: the fixture CNN with its
batch as Dim.AUTO fails in its flatten, "Shapes must be 1D sequences of concrete values of integer
type", with the v1 and the v2 converter alike), so keeping them is not tried.
"""

from __future__ import annotations

import os

from modelport.converters.job import EdgeJob, EdgeResult
from modelport.converters.pytorch_sources import export_examples
from modelport.errors import ConversionError
from modelport.layout import mapping_by_shape
from modelport.libraries import require
from modelport.torch_modules import output_names
from modelport.types import IOMap

HOW = "litert-torch signature"


def _signature(path: str) -> tuple[dict, dict]:
    """(input details, output details) of the written file's serving signature, by name."""
    interpreter = require("ai_edge_litert.interpreter", "reading the written TFLite").Interpreter(model_path=path)
    runner = interpreter.get_signature_runner("serving_default")
    return runner.get_input_details(), runner.get_output_details()


def convert(job: EdgeJob) -> EdgeResult:
    litert_torch = require("litert_torch", "converting PyTorch to TFLite with litert-torch")
    model, module, inputs, args, outs = export_examples(job, "litert-torch")
    n_out = len(outs)
    # Keyword examples name the signature's inputs after the model's; positional ones would be args_0...
    kwargs = {s.name: a for (s, _), a in zip(inputs, args)}
    try:
        converted = litert_torch.convert(module, sample_kwargs=kwargs)
        converted.export(job.output)
    except Exception as e:  # torch.export and the MLIR converter raise many types: each is "this route fails"
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise ConversionError(f"litert-torch failed: {type(e).__name__}: {first}") from None
    if not os.path.exists(job.output):
        raise ConversionError("litert-torch reported success but wrote no file")
    sig_in, sig_out = _signature(job.output)
    missing = [s.name for s, _ in inputs if s.name not in sig_in]
    if missing or len(sig_out) != n_out:
        raise ConversionError(f"litert-torch's signature does not match the model (inputs {sorted(sig_in)}, "
                              f"{len(sig_out)} outputs for {n_out})")
    out_names = job.options.output_names or output_names(model, n_out)
    io_map = IOMap(
        [mapping_by_shape(s.name, ex, s.name, list(sig_in[s.name]["shape"]), HOW) for s, ex in inputs],
        [mapping_by_shape(name, list(o.shape), f"output_{i}", list(sig_out[f"output_{i}"]["shape"]), HOW)
         for i, (name, o) in enumerate(zip(out_names, outs))],
    )
    notes = ["converted by litert-torch (torch.export, then LiteRT's converter); layout kept"]
    narrowed = [s.name for s, _ in inputs if s.dtype in ("int64", "float64")]
    if narrowed:
        notes.append(f"64-bit inputs narrowed to 32 bits by litert-torch: {', '.join(narrowed)}")
    fixed = [f"{s.name}={ex}" for s, ex in inputs if s.dynamic_dims]
    if fixed:
        notes.append(f"dynamic dims fixed for TFLite: {', '.join(fixed)} (litert-torch's lowering needs concrete "
                     "shapes; the route through ONNX keeps them where running proves them)")
    details = {"example_shapes": {s.name: ex for s, ex in inputs}, "converter": "litert-torch"}
    version = getattr(litert_torch, "__version__", "?")
    return EdgeResult(io_map, f"litert-torch {version}", details, notes)
