"""The registry of direct conversion edges, and the planner that chains them into a route.

Adding a conversion is adding one `Edge` entry (and its module); the planner never changes.
Routes are the cheapest paths in the edge graph (Dijkstra on `cost`), with two constraints:
`--via FORMAT` forces a format along the way, and `--quantize` needs an edge that quantizes
as the last step (only TFLiteConverter does, so a quantized TFLite always comes from a SavedModel).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

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

    @property
    def name(self) -> str:
        return f"{self.source.value}->{self.target.value}"


EDGES: tuple[Edge, ...] = (
    Edge(Format.PYTORCH, Format.ONNX, "torch", "pytorch_to_onnx",
         "dynamo exporter, then the TorchScript exporter; opset 18 by default; dynamic dims kept"),
    Edge(Format.ONNX, Format.TFLITE, "onnx2tf", "onnx_to_tf",
         "onnx2tf (flatbuffer_direct, then other strategies); NCHW inputs/outputs become NHWC; dynamic dims fixed to example sizes"),
    Edge(Format.ONNX, Format.SAVEDMODEL, "onnx2tf", "onnx_to_tf",
         "onnx2tf (flatbuffer_direct, then other strategies); NCHW inputs/outputs become NHWC; dynamic dims fixed to example sizes"),
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
)


def edges_from(fmt: Format) -> list[Edge]:
    return [e for e in EDGES if e.source == fmt]


def _shortest(src: Format, dst: Format, *, last_must_quantize: bool = False) -> list[Edge] | None:
    """Cheapest path src→dst; ties broken by fewer steps, then registry order (deterministic)."""
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
            if e.target == dst and last_must_quantize and not e.quantizes:
                continue
            order += 1
            heapq.heappush(heap, (cost + e.cost, steps + 1, order, e.target.value, path + [e]))
    return None


def plan(src: Format, dst: Format, *, via: Format | None = None, quantize: str | None = None) -> list[Edge]:
    """The route from src to dst, or UsageError saying why there is none."""
    if dst == Format.KERAS:
        raise UsageError("keras is a source format only; convert to savedmodel instead")
    if src == dst and via is None:
        raise UsageError(f"the source is already {dst.value}; nothing to convert (--via FORMAT for a round trip)")
    if not any(e.target == dst for e in EDGES):
        raise UsageError(f"no converter writes {dst.value} yet (see `modelport formats`)")
    need_q = quantize is not None
    if need_q and dst != Format.TFLITE:
        raise UsageError(f"--quantize applies to tflite output only, not {dst.value}")
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


def route_text(route: list[Edge]) -> str:
    if not route:
        return ""
    return " -> ".join([route[0].source.value] + [e.target.value for e in route])


def matrix() -> list[dict]:
    """Every (source, target) pair with its route or the reason there is none, for `formats`."""
    rows = []
    sources = [Format.PYTORCH, Format.ONNX, Format.SAVEDMODEL, Format.TFLITE, Format.KERAS]
    targets = [Format.PYTORCH, Format.ONNX, Format.SAVEDMODEL, Format.TFLITE]
    for s in sources:
        for t in targets:
            if s == t:
                continue
            try:
                route = plan(s, t)
                rows.append({"source": s.value, "target": t.value, "route": route_text(route),
                             "direct": len(route) == 1, "libraries": [e.library for e in route]})
            except UsageError as e:
                rows.append({"source": s.value, "target": t.value, "route": None, "direct": False,
                             "libraries": [], "reason": e.message})
    return rows
