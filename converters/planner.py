"""The registry of direct conversion edges, and the planner that chains them into a route.

Adding a conversion is adding one `Edge` entry (and its module); the planner never changes.
Routes are the cheapest paths in the edge graph (Dijkstra on `cost`), with two constraints:
`--via FORMAT` forces a format along the way, and `--quantize` needs an edge that quantizes
as the last step (for TFLite only TFLiteConverter does, so a quantized TFLite always comes from a
SavedModel; for ONNX, ONNX Runtime's quantizer is an onnx -> onnx step after the route to ONNX).
An `alternative` edge (another library for a conversion a route already makes) is never in the
planned route: convert tries the routes through it when the planned one fails, in registry order
(`alternative_routes`), and `--route` names any route outright (`parse_route`).
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass

from modelport.converters.options import QUANTIZE_BY_TARGET
from modelport.errors import UsageError
from modelport.types import Format


@dataclass(frozen=True)
class Edge:
    source: Format
    target: Format
    library: str  # the distribution whose version goes into the manifest
    module: str  # module under modelport.converters.edges with a `convert(job) -> EdgeResult`
    changes: str  # what the conversion changes, shown by `modelport formats`
    quantizes: bool = False
    cost: int = 1
    alternative: bool = False  # only tried when the planned route fails, or asked for with --route
    layer: str | None = None  # runs in this environment layered on the pinned stack (modelport/layers.py)
    final_only: bool = False  # its artifact is no other converter's input (a route ends with it)

    @property
    def name(self) -> str:
        return f"{self.source.value}->{self.target.value}"


EDGES: tuple[Edge, ...] = (
    Edge(Format.PYTORCH, Format.ONNX, "torch", "pytorch_to_onnx",
         "dynamo exporter, then the TorchScript exporter; opset 18 by default; dynamic dims kept"),
    Edge(Format.ONNX, Format.TFLITE, "onnx2tf", "onnx_to_tf",
         "onnx2tf (flatbuffer_direct, then other strategies); NCHW inputs/outputs become NHWC; dynamic dims kept where running at two sizes proves them, else fixed to example sizes"),
    Edge(Format.ONNX, Format.SAVEDMODEL, "onnx2tf", "onnx_to_tf",
         "onnx2tf (flatbuffer_direct, then other strategies); NCHW inputs/outputs become NHWC; dynamic dims kept where running at two sizes proves them, else fixed to example sizes"),
    Edge(Format.SAVEDMODEL, Format.TFLITE, "tensorflow", "savedmodel_to_tflite",
         "TFLiteConverter; layout kept; optional fp16 / dynamic-range int8 / full int8 quantization",
         quantizes=True),
    Edge(Format.SAVEDMODEL, Format.ONNX, "tf2onnx", "tf_to_onnx",
         "tf2onnx; layout kept (NHWC stays NHWC); opset 18 by default"),
    Edge(Format.TFLITE, Format.ONNX, "tf2onnx", "tf_to_onnx",
         "tf2onnx; layout kept; custom TFLite ops unsupported; int8 models dequantized"),
    Edge(Format.TFLITE, Format.SAVEDMODEL, "onnx2tf", "onnx_to_tf",
         "onnx2tf reads the TFLite flatbuffer directly; layout kept"),
    Edge(Format.ONNX, Format.PYTORCH, "modelport", "onnx_to_pytorch",
         "modelport's own converter (torch.fx); ExportedProgram .pt2, or TorchScript; dynamic dims fixed to example sizes"),
    Edge(Format.KERAS, Format.SAVEDMODEL, "keras", "keras_to_savedmodel",
         "Keras 3 model.export(); serving signature from the model's inputs"),
    Edge(Format.ONNX, Format.ONNX, "onnxruntime", "onnx_quantize",
         "ONNX Runtime's quantization: dynamic-int8, static QDQ int8 (calibrated), fp16 (inputs/outputs kept "
         "float32); names and layout kept", quantizes=True),
    Edge(Format.SAVEDMODEL, Format.TFJS, "tensorflowjs", "savedmodel_to_tfjs",
         "tensorflowjs_converter (a graph model: model.json + weight shards); layout and names kept; "
         "optional fp16 / uint8 / uint16 weight quantization", quantizes=True, layer="tfjs"),
    Edge(Format.PYTORCH, Format.TFLITE, "litert-torch", "pytorch_to_tflite",
         "litert-torch (torch.export, then LiteRT's converter); layout kept (NCHW stays NCHW); int64 inputs "
         "become int32; dynamic dims fixed to example sizes; tried when the route through ONNX fails",
         alternative=True, layer="litert"),
    Edge(Format.PYTORCH, Format.SAVEDMODEL, "litert-torch", "pytorch_to_savedmodel",
         "torch.export, litert-torch's StableHLO, one XlaCallModule op; layout kept (NCHW stays NCHW); "
         "runs in TensorFlow / TF Serving on the CPU, not readable by TFLiteConverter or tf2onnx; dynamic dims "
         "fixed to example sizes; tried when the route through ONNX fails",
         alternative=True, layer="litert", final_only=True),
)


def edges_from(fmt: Format) -> list[Edge]:
    return [e for e in EDGES if e.source == fmt]


def _shortest(src: Format, dst: Format, *, last_must_quantize: bool = False) -> list[Edge] | None:
    """Cheapest path src→dst over the planned (not alternative) edges."""
    # Ties broken by fewer steps, then registry order (deterministic).
    if src == dst and not last_must_quantize:
        return []
    # State: (cost, steps, order, format, path)
    heap: list[tuple[int, int, int, str, list[Edge]]] = [(0, 0, 0, src.value, [])]
    seen: set[str] = set()
    order = 0
    while heap:
        cost, steps, _, fmt_value, path = heapq.heappop(heap)
        fmt = Format(fmt_value)
        if fmt == dst and path and (not last_must_quantize or path[-1].quantizes):
            return path
        if fmt_value in seen:
            continue
        seen.add(fmt_value)
        for e in edges_from(fmt):
            if e.alternative:
                continue
            if e.target == dst and last_must_quantize and not e.quantizes:
                continue
            order += 1
            heapq.heappush(heap, (cost + e.cost, steps + 1, order, e.target.value, path + [e]))
    return None


def _quantizer_of(fmt: Format) -> Edge | None:
    """The edge that quantizes a model without changing its format (onnx -> onnx), if any."""
    return next((e for e in EDGES if e.source == fmt and e.target == fmt and e.quantizes), None)


def plan(src: Format, dst: Format, *, via: Format | None = None, quantize: str | None = None) -> list[Edge]:
    """The route from src to dst, or UsageError saying why there is none."""
    if dst == Format.KERAS:
        raise UsageError("keras is a source format only; convert to savedmodel instead")
    if src == Format.TFJS or via == Format.TFJS:
        raise UsageError("tfjs is a target format only: convert the model it came from")
    need_q = quantize is not None
    if need_q and dst.value not in QUANTIZE_BY_TARGET:
        raise UsageError(f"--quantize applies to {', '.join(QUANTIZE_BY_TARGET)} outputs only, not {dst.value}")
    if need_q and quantize not in QUANTIZE_BY_TARGET[dst.value]:
        raise UsageError(f"--quantize {quantize} does not apply to a {dst.value} output (for {dst.value}: "
                         f"{', '.join(QUANTIZE_BY_TARGET[dst.value])})")
    quantizer = _quantizer_of(dst) if need_q else None
    if quantizer is not None:  # the route to the format, then its own quantizing step
        return ([] if src == dst and via is None else plan(src, dst, via=via)) + [quantizer]
    if src == dst and via is None:
        raise UsageError(f"the source is already {dst.value}; nothing to convert (--via FORMAT for a round trip)")
    if not any(e.target == dst for e in EDGES):
        raise UsageError(f"no converter writes {dst.value} yet (see `modelport formats`)")
    if via is not None:
        if via in (src, dst):
            raise UsageError(f"--via {via.value} must differ from the source and target formats")
        first = _shortest(src, via)
        second = _shortest(via, dst, last_must_quantize=need_q)
        if first is None or second is None:
            raise UsageError(f"no route from {src.value} to {dst.value} through {via.value}")
        return first + second
    route = _shortest(src, dst, last_must_quantize=need_q)
    if route is None:
        raise UsageError(f"no conversion route from {src.value} to {dst.value} (see `modelport formats`)")
    return route


def alternative_routes(src: Format, dst: Format, *, via: Format | None = None,
                       quantize: str | None = None) -> list[list[Edge]]:
    """The planned route with the part between an alternative edge's two formats replaced by that
    edge (pytorch -> onnx -> tflite becomes pytorch -> tflite), in registry order: what convert
    tries when the planned route fails. None when the user fixed the route's shape (--via,
    --quantize): a detour through other formats is not what either asked for."""
    if via is not None or quantize is not None:
        return []
    primary = plan(src, dst)
    formats = [src] + [e.target for e in primary]
    routes: list[list[Edge]] = []
    for e in (e for e in EDGES if e.alternative):
        if e.source not in formats or e.target not in formats:
            continue
        i, j = formats.index(e.source), formats.index(e.target)
        if j <= i or (j == i + 1 and primary[i] == e) or (e.final_only and j != len(formats) - 1):
            continue
        route = primary[:i] + [e] + primary[j:]
        if route not in routes:
            routes.append(route)
    return routes


def parse_route(text: str, src: Format, dst: Format, *, quantize: str | None = None) -> list[Edge]:
    """--route: formats joined by '->' (or ',' where a shell would read '>'), from the source's
    format to the target, e.g. pytorch->tflite or pytorch,onnx,tflite."""
    names = [n for n in re.split(r"\s*(?:->|,|>)\s*", text.strip().lower()) if n]
    try:
        formats = [Format(n) for n in names]
    except ValueError:
        raise UsageError(f"--route {text}: expected formats joined by '->' or ',', e.g. pytorch->tflite "
                         f"(formats: {', '.join(f.value for f in Format)})") from None
    if len(formats) < 2 or formats[0] != src or formats[-1] != dst:
        raise UsageError(f"--route {text}: it must start at the source's format ({src.value}) and end at the "
                         f"target ({dst.value})")
    route = []
    for a, b in zip(formats, formats[1:]):
        options = [e for e in EDGES if e.source == a and e.target == b]
        if not options:
            raise UsageError(f"--route {text}: no converter goes from {a.value} to {b.value} (see `modelport formats`)")
        route.append(options[0])
    if quantize is not None and not route[-1].quantizes:
        raise UsageError(f"--route {text}: --quantize needs a last step that quantizes "
                         "(savedmodel->tflite, TFLiteConverter; onnx->onnx, ONNX Runtime)")
    if quantize is None and any(e.source == e.target for e in route):
        raise UsageError(f"--route {text}: onnx->onnx is the quantizing step; it needs --quantize")
    return route


def route_text(route: list[Edge]) -> str:
    if not route:
        return ""
    return " -> ".join([route[0].source.value] + [e.target.value for e in route])


def matrix() -> list[dict]:
    """Every (source, target) pair with its route or the reason there is none, for `formats`."""
    rows = []
    sources = [Format.PYTORCH, Format.ONNX, Format.SAVEDMODEL, Format.TFLITE, Format.KERAS]
    targets = [Format.PYTORCH, Format.ONNX, Format.SAVEDMODEL, Format.TFLITE, Format.TFJS]
    for s in sources:
        for t in targets:
            if s == t:
                continue
            try:
                route = plan(s, t)
                rows.append({"source": s.value, "target": t.value, "route": route_text(route),
                             "direct": len(route) == 1, "libraries": [e.library for e in route],
                             "alternatives": [route_text(r) for r in alternative_routes(s, t)]})
            except UsageError as e:
                rows.append({"source": s.value, "target": t.value, "route": None, "direct": False,
                             "libraries": [], "reason": e.message})
    return rows
