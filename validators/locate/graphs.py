"""A model as `locate` walks it: its tensors in topological order, each with the op that produces
it and the tensors that op reads.

One shape for three kinds of graph, so the comparison, the search for the first divergence and
the local mode are written once:
- an ONNX graph (nodes are topologically sorted by the standard; Constant nodes and initializers
  are constants, not tensors to compare);
- the FX graph of the ExportedProgram torch.onnx exported from: its node names are the ONNX value
  names the dynamo exporter writes, and each node knows the nn.Module it came from;
- a TFLite subgraph, read from the flatbuffer (operators run in their stored order, which is a
  topological one); tensor names are not unique in TFLite, so a repeated or empty name gets
  `#index`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INPUT = "input"  # the op of a graph input


@dataclass
class TensorInfo:
    name: str
    op: str  # the producing op's type ("Conv", "CONV_2D", "aten.conv2d.default"); INPUT for graph inputs
    producer: str  # the producing node: ONNX node name, FX node name, "op N" in TFLite
    inputs: list[str] = field(default_factory=list)  # the tensors that op reads, constants left out
    shape: list[int] | None = None
    module: str | None = None  # PyTorch: the nn.Module it came from, "features.1 (BatchNorm2d)"
    index: int | None = None  # TFLite: the tensor's index in its subgraph
    weight: list[int] | None = None  # a Conv / Gemm / MatMul's constant weight shape (structural alignment)
    activation: str | None = None  # TFLite: the activation fused into the op ("RELU", "RELU6"), None for none

    @property
    def kind(self) -> str | None:
        """The op's kind across formats (KINDS), None for ops no other format names alike."""
        return KIND_OF.get(self.op.split("[")[0]) or KIND_OF.get(".".join(self.op.split(".")[:2]))


# Op kinds across ONNX, FX (aten) and TFLite, for the structural alignment (correspondence.align):
# where a route loses tensor names, ops are paired by kind, order and shape.
KINDS = {  # ONNX, TFLite, FX (aten) and TensorFlow (SavedModel) op names
    "conv": ("Conv", "ConvTranspose", "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "CONV_3D", "aten.conv1d",
             "aten.conv2d", "aten.conv3d", "aten.convolution", "aten.conv_transpose2d", "Conv2D",
             "DepthwiseConv2dNative", "Conv2DBackpropInput", "Conv3D"),
    "dense": ("Gemm", "MatMul", "FULLY_CONNECTED", "BATCH_MATMUL", "aten.linear", "aten.addmm", "aten.mm", "aten.matmul",
              "BatchMatMulV2"),
    "maxpool": ("MaxPool", "MAX_POOL_2D", "aten.max_pool2d"),
    "avgpool": ("AveragePool", "GlobalAveragePool", "ReduceMean", "AVERAGE_POOL_2D", "MEAN", "aten.mean",
                "aten.avg_pool2d", "aten.adaptive_avg_pool2d", "AvgPool", "Mean"),
    "add": ("Add", "Sum", "ADD", "aten.add", "AddV2"),
    "mul": ("Mul", "MUL", "aten.mul"),
    "concat": ("Concat", "CONCATENATION", "aten.cat", "ConcatV2"),
    "softmax": ("Softmax", "SOFTMAX", "aten.softmax", "aten._softmax"),
    "reshape": ("Reshape", "Flatten", "RESHAPE", "aten.view", "aten.reshape", "aten.flatten"),
    "relu": ("Relu", "RELU", "aten.relu"),
    "relu6": ("Clip", "RELU6", "aten.hardtanh", "Relu6"),
    "sigmoid": ("Sigmoid", "LOGISTIC", "aten.sigmoid"),
    "tanh": ("Tanh", "TANH", "aten.tanh"),
    "hardswish": ("HardSwish", "HARD_SWISH", "aten.hardswish"),
}
# An artifact op that finishes what the aligned op before it started: TensorFlow writes an ONNX
# Conv's or Gemm's bias as a BiasAdd after the Conv2D or MatMul (correspondence.align moves there).
FINISHES_PREVIOUS = ("BiasAdd",)
KIND_OF = {op: kind for kind, ops in KINDS.items() for op in ops}


class TensorGraph:
    """Tensors in topological order; `outputs` are the graph's outputs."""

    def __init__(self, tensors: list[TensorInfo], outputs: list[str], kind: str):
        self.tensors = tensors
        self.outputs = outputs
        self.kind = kind  # "onnx", "fx", "tflite"
        self.by_name = {t.name: t for t in tensors}
        self.position = {t.name: i for i, t in enumerate(tensors)}
        self._consumers: dict[str, list[TensorInfo]] | None = None

    def __contains__(self, name: str) -> bool:
        return name in self.by_name

    def consumers(self, name: str) -> list[TensorInfo]:
        """The tensors whose producing op reads `name` (constants are never read: they are not tensors here)."""
        if self._consumers is None:
            self._consumers = {}
            for t in self.tensors:
                for i in t.inputs:
                    self._consumers.setdefault(i, []).append(t)
        return self._consumers.get(name, [])

    def failing_upstream(self, failed: set[str]) -> set[str]:
        """The tensors with a failed tensor among their ancestors (one pass in topological order)."""
        tainted: set[str] = set()
        for t in self.tensors:
            if any(p in failed or p in tainted for p in t.inputs):
                tainted.add(t.name)
        return tainted

    def frontier(self, name: str, known: set[str]) -> tuple[list[str], list[str]]:
        """The sub-graph that computes `name` from the nearest tensors in `known` (or graph inputs):
        (its input tensors, the producers of the tensors it computes, in topological order)."""
        inputs, inside, stack = [], set(), [name]
        while stack:
            current = stack.pop()
            info = self.by_name.get(current)
            if info is None:
                continue
            if current != name and (current in known or info.op == INPUT):
                if current not in inputs:
                    inputs.append(current)
                continue
            if info.op == INPUT:  # the graph input itself asked for: nothing to compute
                inputs.append(current)
                continue
            if current not in inside:
                inside.add(current)
                stack.extend(info.inputs)
        producers = [t.name for t in self.tensors if t.name in inside]
        return sorted(inputs, key=lambda n: self.position[n]), producers


# ------------------------------------------------------------------ ONNX


def from_onnx(model, input_shapes: dict[str, list[int]] | None = None) -> TensorGraph:
    """The top-level graph (an If's or Loop's body is run by its node, not compared inside);
    `input_shapes`, the sizes it will run at, make its dynamic dims concrete for shape inference."""
    graph = model.graph
    constant = {i.name for i in graph.initializer} | {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    dims = {i.name: list(i.dims) for i in graph.initializer}
    dims.update({n.output[0]: list(a.t.dims) for n in graph.node if n.op_type == "Constant" for a in n.attribute
                 if a.name == "value"})
    shapes = _onnx_shapes(model, input_shapes or {})
    tensors = [TensorInfo(i.name, INPUT, "", [], shapes.get(i.name)) for i in graph.input if i.name not in constant]
    for i, node in enumerate(graph.node):
        if node.op_type == "Constant":
            continue
        reads = [x for x in node.input if x and x not in constant]
        weight = dims.get(node.input[1]) if node.op_type in KINDS["conv"] + KINDS["dense"] and len(node.input) > 1 else None
        for out in node.output:
            if out:
                tensors.append(TensorInfo(out, node.op_type, node.name or f"node {i}", reads, shapes.get(out),
                                          weight=weight))
    return TensorGraph(tensors, [o.name for o in graph.output], "onnx")


def _onnx_shapes(model, input_shapes: dict[str, list[int]]) -> dict[str, list[int]]:
    """Static shapes the graph declares or ONNX's shape inference finds, on a copy whose inputs have
    the sizes it runs at (sizes for chunking, shapes for the structural alignment). The copy is
    cheap for a skeleton whose weights are in external data (capture.OnnxCapture)."""
    import onnx

    if input_shapes:
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        for i in copy.graph.input:
            for d, size in zip(i.type.tensor_type.shape.dim, input_shapes.get(i.name, [])):
                d.Clear()
                d.dim_value = size
        model = copy
    try:
        inferred = onnx.shape_inference.infer_shapes(model)  # weights in external data: the graph alone
    except Exception:  # shape inference fails on some valid graphs: sizes are then guessed
        inferred = model
    out = {}
    for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = v.type.tensor_type.shape.dim
        if v.type.HasField("tensor_type") and dims and all(d.HasField("dim_value") for d in dims):
            out[v.name] = [d.dim_value for d in dims]
    return out


# ------------------------------------------------------------------ FX (torch.export)


def from_fx(graph_module) -> TensorGraph:
    """An ExportedProgram's module: placeholders are the inputs, call_function nodes the tensors
    (a node whose value is a tuple is read through its getitem nodes)."""
    import torch

    tensors = []
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            tensors.append(TensorInfo(node.name, INPUT, "", [], _fx_shape(node)))
        elif node.op == "call_function":
            reads = []
            torch.fx.node.map_arg((node.args, node.kwargs), lambda a: reads.append(a.name) if a.op != "get_attr" else None)
            op = _fx_target(node)
            if op == "getitem" and node.args and hasattr(node.args[0], "target"):  # one output of a tuple-valued op
                op = f"{_fx_target(node.args[0])}[{node.args[1]}]"
            tensors.append(TensorInfo(node.name, op, node.name, reads, _fx_shape(node), _fx_module(node),
                                      weight=_fx_weight(graph_module, node, op)))
    outputs = []
    for node in graph_module.graph.nodes:
        if node.op == "output":
            torch.fx.node.map_arg(node.args, lambda a: outputs.append(a.name))
    return TensorGraph(tensors, outputs, "fx")


def _fx_target(node) -> str:
    """aten.conv2d (an OpOverload's packet name) or a Python function's name (getitem)."""
    target = node.target
    if hasattr(target, "_schema"):
        return str(target).removesuffix(".default")
    return getattr(target, "__name__", str(target))


def _fx_weight(graph_module, node, op: str) -> list[int] | None:
    """A conv's or linear's parameter shape (args[1]; addmm's is args[2]), read off the module."""
    kind = KIND_OF.get(".".join(op.split(".")[:2]))
    if kind not in ("conv", "dense"):
        return None
    index = 2 if op.startswith("aten.addmm") else 1
    arg = node.args[index] if len(node.args) > index else None
    if getattr(arg, "op", None) != "get_attr":
        return None
    value = graph_module
    for part in str(arg.target).split("."):
        value = getattr(value, part, None)
    shape = getattr(value, "shape", None)
    return [int(d) for d in shape] if shape is not None else None


def _fx_shape(node) -> list[int] | None:
    val = node.meta.get("val")
    shape = getattr(val, "shape", None)
    if shape is None:
        return None
    try:
        return [int(d) for d in shape]
    except (TypeError, ValueError):  # a symbolic size
        return None


def _fx_module(node) -> str | None:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return None
    path, kind = list(stack.values())[-1]
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    return f"{path or '(top)'} ({kind.rsplit('.', 1)[-1]})"


# ------------------------------------------------------------------ TFLite


# ------------------------------------------------------------------ TensorFlow (a frozen SavedModel signature)


def from_tf_graph(graph, inputs: list[str], outputs: list[str]) -> TensorGraph:
    """The graph of a SavedModel signature frozen with its function bodies inlined
    (capture.SavedModelCapture): tensors named as TensorFlow names them ("op:0"); an op computed
    from constants alone (a Transpose of a kernel) is a constant too."""
    constant: set[str] = set()
    tensors = [TensorInfo(name, INPUT, "", [], _tf_shape(graph.get_tensor_by_name(name))) for name in inputs]
    placeholders = {name.split(":")[0] for name in inputs}
    for op in graph.get_operations():
        if op.name in placeholders or op.type in ("NoOp", "Placeholder"):
            continue
        reads = [t.name for t in op.inputs]
        if op.type == "Const" or (reads and all(r in constant for r in reads)):
            constant.update(t.name for t in op.outputs)
            continue
        weight = None
        if op.type in KINDS["conv"] + KINDS["dense"] and len(op.inputs) > 1 and op.inputs[1].name in constant:
            weight = _tf_shape(op.inputs[1])
        for t in op.outputs:
            tensors.append(TensorInfo(t.name, op.type, op.name, [r for r in reads if r not in constant], _tf_shape(t),
                                      weight=weight))
    return TensorGraph(tensors, outputs, "savedmodel")


def _tf_shape(tensor) -> list[int] | None:
    dims = tensor.shape.as_list() if tensor.shape.rank is not None else None
    return None if dims is None or any(d is None for d in dims) else dims


def tflite_op_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def from_tflite(path: str, subgraph: int = 0) -> TensorGraph:
    """Subgraph `subgraph` of a .tflite, read through the flatbuffer's accessors (no copy of its
    weights), after the same Python walk the runner does first: the C++ side can crash the process
    on a damaged file (modelport/tflite_flatbuffer.py)."""
    from ai_edge_litert import schema_py_generated as schema

    from modelport.tflite_flatbuffer import verify

    verify(path)
    with open(path, "rb") as f:
        buf = f.read()
    model = schema.Model.GetRootAsModel(buf, 0)
    sg = model.Subgraphs(subgraph)
    names = [(sg.Tensors(i).Name() or b"").decode("utf-8", "replace") for i in range(sg.TensorsLength())]
    count: dict[str, int] = {}
    for n in names:
        count[n] = count.get(n, 0) + 1
    unique = [n if n and count[n] == 1 else f"{n or 'tensor'}#{i}" for i, n in enumerate(names)]
    ops = [sg.Operators(k) for k in range(sg.OperatorsLength())]
    produced = {int(o) for op in ops for o in op.OutputsAsNumpy()} if ops else set()
    inputs = [int(i) for i in sg.InputsAsNumpy()] if sg.InputsLength() else []
    op_names = tflite_op_names()

    def shape(i: int):
        t = sg.Tensors(i)
        return [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []

    def op_type(op) -> str:
        code = model.OperatorCodes(op.OpcodeIndex())
        if code.CustomCode():
            return code.CustomCode().decode("utf-8", "replace")
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        return op_names.get(builtin, f"op{builtin}")

    def weight(op, kind: str) -> list[int] | None:
        """The constant weight operand's shape (TRANSPOSE_CONV's is its second input too)."""
        args = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
        if KIND_OF.get(kind) not in ("conv", "dense") or len(args) < 2 or args[1] < 0:
            return None
        if args[1] in produced or args[1] in inputs or not sg.Tensors(args[1]).Buffer():
            return None
        return shape(args[1])

    tensors = [TensorInfo(unique[i], INPUT, "", [], shape(i), index=i) for i in inputs]
    for k, op in enumerate(ops):
        reads = [unique[int(i)] for i in (op.InputsAsNumpy() if op.InputsLength() else []) if i >= 0
                 and (int(i) in produced or int(i) in inputs)]
        kind = op_type(op)
        for o in op.OutputsAsNumpy() if op.OutputsLength() else []:
            tensors.append(TensorInfo(unique[int(o)], kind, f"op {k}", reads, shape(int(o)), index=int(o),
                                      weight=weight(op, kind), activation=_fused_activation(schema, op)))
    outputs = [unique[int(i)] for i in sg.OutputsAsNumpy()] if sg.OutputsLength() else []
    return TensorGraph(tensors, outputs, "tflite")


_ACTIVATIONS = {1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
# builtin options tables that carry a fused activation (the schema's own classes)
_FUSED_OPTIONS = ("Conv2DOptions", "DepthwiseConv2DOptions", "FullyConnectedOptions", "AddOptions", "MulOptions",
                  "SubOptions", "DivOptions", "Pool2DOptions", "ConcatenationOptions", "TransposeConvOptions")


def _fused_activation(schema, op) -> str | None:
    table = op.BuiltinOptions()
    kind = op.BuiltinOptionsType()
    if table is None:
        return None
    for name in _FUSED_OPTIONS:
        if getattr(schema.BuiltinOptions, name.removesuffix("Options") + "Options", None) == kind:
            options = getattr(schema, name)()
            options.Init(table.Bytes, table.Pos)
            return _ACTIVATIONS.get(options.FusedActivationFunction())
    return None


def unpack_tflite(path: str):
    """The flatbuffer unpacked with the schema's object API (schema.ModelT), buffers included."""
    from ai_edge_litert import schema_py_generated as schema

    with open(path, "rb") as f:
        return schema.ModelT.InitFromPackedBuf(f.read(), 0)
