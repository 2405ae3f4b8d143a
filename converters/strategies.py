"""Each conversion edge's ordered strategies: the ways it knows to do its one conversion.

One library limitation must not be a dead end (traps 5, 10, 11): when a strategy fails (the
converter raises or exits, the artifact does not load or run, or it fails parity), the pipeline
(modelport/pipeline/attempts.py) tries the next one, and the first artifact that converts and
passes validation wins. The edge module runs the strategy it is given (`EdgeJob.strategy`) and
raises `NotApplicable` at once when the strategy would change nothing for this model, so a skip
costs a process start, not a conversion. The order is the cheapest likely success first.
`--strategy EDGE=NAME` forces one (parse_forced); `--no-fallback` keeps the first.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelport.errors import UsageError


@dataclass(frozen=True)
class Strategy:
    name: str
    summary: str  # shown by `modelport formats --strategies` and in `--strategy` errors


ONNX2TF = (
    Strategy("flatbuffer_direct", "onnx2tf's flatbuffer_direct backend, after onnxsim where the model needs it"),
    Strategy("fold", "static Sequence/Loop/If constructs folded into constants, then onnxsim and flatbuffer_direct"),
    Strategy("decompose", "ops the writers lack rewritten by their definition (HardSwish, HardSigmoid, Gelu, "
                          "depthwise Conv, Split with num_outputs), then flatbuffer_direct"),
    Strategy("tf_converter", "onnx2tf's TensorFlow backend (slower, broader), after onnxsim"),
    Strategy("onnxslim", "onnxslim instead of onnxsim, then flatbuffer_direct"),
    Strategy("ort", "ONNX Runtime's offline graph optimisation instead of onnxsim, then flatbuffer_direct"),
    Strategy("none", "the model as it is, straight to flatbuffer_direct"),
)

ONNX_TORCH = (
    Strategy("onnxsim", "shape arithmetic folded by onnxsim (skipped where onnxsim cannot run)"),
    Strategy("fold", "static Sequence/Loop/If constructs folded into constants and the graph sorted, then onnxsim"),
    Strategy("onnxslim", "shape arithmetic folded by onnxslim"),
    Strategy("ort", "ONNX Runtime's offline graph optimisation"),
    Strategy("none", "the graph as it is"),
)

STRATEGIES: dict[str, tuple[Strategy, ...]] = {
    "pytorch->onnx": (
        Strategy("dynamo", "torch.onnx.export with the dynamo exporter and its optimizer"),
        Strategy("torchscript", "torch.onnx.export with the TorchScript exporter (opset 20 at most)"),
    ),
    "onnx->tflite": ONNX2TF,
    "onnx->savedmodel": ONNX2TF,
    "onnx->pytorch": ONNX_TORCH,
    "savedmodel->tfjs": (
        Strategy("untransposed", "tensorflowjs_converter, then MatMul weights stored transposed instead of "
                                 "transpose_b (exact; TF.js 4.22's wasm backend computes a batch wrong with it)"),
        Strategy("decompose", "ops TF.js lacks rewritten by their definition in the frozen graph (Erfc = 1 - Erf: "
                              "Keras' exact GELU), then untransposed"),
        Strategy("as_written", "tensorflowjs_converter's graph model as it writes it"),
    ),
}
SINGLE = (Strategy("default", "the edge's one way"),)


def strategies_for(edge: str) -> tuple[Strategy, ...]:
    return STRATEGIES.get(edge, SINGLE)


def edge_name(text: str) -> str:
    """'onnx->tflite', 'onnx-tflite', 'onnx_to_tflite' and 'onnx:tflite' all name one edge
    (the arrow needs quoting in a shell)."""
    for sep in ("->", "_to_", ":", "-"):
        if sep in text:
            src, _, dst = text.partition(sep)
            return f"{src.strip().lower()}->{dst.strip().lower()}"
    return text


def parse_forced(texts) -> dict[str, str]:
    """--strategy EDGE=NAME (repeatable) -> {edge: strategy}; UsageError naming the choices."""
    forced: dict[str, str] = {}
    for text in texts or ():
        edge_text, sep, name = text.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--strategy {text}: expected EDGE=NAME, e.g. onnx-savedmodel=tf_converter")
        edge, name = edge_name(edge_text.strip()), name.strip()
        if edge not in STRATEGIES:
            raise UsageError(f"--strategy {text}: {edge} has one way only; edges with strategies: "
                             + ", ".join(STRATEGIES))
        names = [s.name for s in STRATEGIES[edge]]
        if name not in names:
            raise UsageError(f"--strategy {text}: {edge} has no strategy {name!r} (choose from {', '.join(names)})")
        if edge in forced:
            raise UsageError(f"--strategy given twice for {edge}")
        forced[edge] = name
    return forced


def plan_strategies(edge: str, forced: dict[str, str], fallback: bool) -> list[str]:
    """The strategies to try for `edge`, in order."""
    if edge in forced:
        return [forced[edge]]
    names = [s.name for s in strategies_for(edge)]
    return names if fallback else names[:1]
