"""Which graph inputs' *values* decide a shape or another constant a trace would freeze.

Why: TorchScript tracing (`--pytorch-format torchscript`) records one run. Where an operand that
ONNX takes as a tensor but that works like an attribute (Reshape's shape, a Reduce's axes, TopK's
k, Resize's scales, Trilu's k...) is computed from a graph input's values, the converted module
reads it as a Python number at run time and the trace keeps the example's number: the artifact
runs, and gives the wrong shape or the wrong result for any other value. The ONNX node tests have
dozens of such models (their axes, k or sizes are graph inputs). torch.export refuses those
modules by itself (a data-dependent expression); the package runs eagerly and is right. So the
TorchScript writer asks this module first and refuses with the input and the operator named.

The analysis follows values, not shapes: a tensor depends on an input's values when any of the
node inputs it is computed from does, except through Shape and Size (their result depends on the
input's shape, which a trace at fixed sizes fixes by design, and the docs say so). Initializers
and Constant nodes are values of the model, not of the input.
"""

from __future__ import annotations

from dataclasses import dataclass

# op type -> the operand positions that the converter reads as Python numbers (attributes that
# ONNX moved into inputs at later opsets). From the ONNX operator specification.
_REDUCE = ("ReduceMax", "ReduceMin", "ReduceSum", "ReduceMean", "ReduceProd", "ReduceL1", "ReduceL2",
           "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")
VALUE_OPERANDS: dict[str, tuple[int, ...]] = {
    **{op: (1,) for op in _REDUCE},
    "Reshape": (1,), "Expand": (1,), "ConstantOfShape": (0,), "Tile": (1,), "Range": (0, 1, 2),
    "Slice": (1, 2, 3, 4), "Resize": (1, 2, 3), "Upsample": (1,), "TopK": (1,), "OneHot": (1,),
    "Pad": (1, 3), "Unsqueeze": (1,), "Squeeze": (1,), "Split": (1,), "SplitToSequence": (1,),
    "CenterCropPad": (1,), "Trilu": (1,), "AffineGrid": (1,), "Col2Im": (1, 2), "MaxUnpool": (2,),
    "CumSum": (1,), "DFT": (1, 2), "STFT": (2, 3), "MelWeightMatrix": (0, 1, 2, 3, 4),
    "HannWindow": (0,), "HammingWindow": (0,), "BlackmanWindow": (0,),
    # the converter loops over these in Python: the boxes and their count are read as numbers
    "RoiAlign": (1, 2), "NonMaxSuppression": (0, 1, 2, 3, 4),
    # control flow: the branch taken and the trip count are Python decisions in the converted module;
    # decided by an input's values, no graph preparation can fold them (converters/edges/onnx_to_pytorch.py)
    "If": (0,), "Loop": (0, 1),
}
# ops whose operands are read as numbers only in some configurations: RoiAlign computes a fixed
# sampling grid (sampling_ratio > 0) from the boxes as tensors, and reads them as numbers only to
# size an adaptive one (sampling_ratio 0, the default)
_ONLY_WHEN = {
    "RoiAlign": lambda node: next((a.i for a in node.attribute if a.name == "sampling_ratio"), 0) == 0,
}
# their outputs depend on the input's shape only
_SHAPE_ONLY = {"Shape", "Size"}


@dataclass(frozen=True)
class ValueDecided:
    """Graph input `source` decides operand `operand` (named `operand_name`) of node `node` (`op`)."""

    source: str
    op: str
    node: str
    operand: int
    operand_name: str

    def describe(self) -> str:
        where = f"{self.op} node '{self.node}'" if self.node else self.op
        return f"input '{self.source}' decides operand {self.operand} ('{self.operand_name}') of {where}"


def _empty(value_info) -> bool:
    dims = value_info.type.tensor_type.shape.dim if value_info.type.HasField("tensor_type") else []
    return any(d.HasField("dim_value") and d.dim_value == 0 for d in dims)


def value_decided(model) -> list[ValueDecided]:
    """Every (graph input, node operand) pair where the operand's value comes from the input's values,
    in graph order, the first per node. Top-level graph only: an If's condition and a Loop's trip
    count and condition are operands here, what their bodies compute is not followed."""
    graph = model.graph
    constant = {i.name for i in graph.initializer}
    # name -> the graph inputs whose values it depends on (an input with a 0-sized dim has none)
    depends: dict[str, frozenset[str]] = {i.name: frozenset({i.name}) for i in graph.input
                                          if i.name not in constant and not _empty(i)}
    found: list[ValueDecided] = []
    for node in graph.node:
        positions = VALUE_OPERANDS.get(node.op_type, ()) if node.domain in ("", "ai.onnx") else ()
        if positions and not _ONLY_WHEN.get(node.op_type, lambda n: True)(node):
            positions = ()
        for pos in positions:
            if pos < len(node.input) and node.input[pos] and depends.get(node.input[pos]):
                source = sorted(depends[node.input[pos]])[0]
                found.append(ValueDecided(source, node.op_type, node.name, pos, node.input[pos]))
                break
        if node.op_type in _SHAPE_ONLY:
            continue
        sources = frozenset().union(*(depends.get(name, frozenset()) for name in node.input if name))
        if sources:
            for out in node.output:
                depends[out] = sources
    return found
