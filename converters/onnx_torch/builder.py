"""Walk an ONNX graph and build a torch.fx GraphModule, one registered converter per node.

The builder owns what every converter needs and should not re-implement: the map from ONNX value
names to fx nodes, the module whose parameters and buffers hold the initializers, and static
values (initializers and Constant outputs known at conversion time). Converters ask for static
values where ONNX moved an attribute into an input (Reshape's shape, Reduce*-18's axes, Pad's
pads, Slice's starts...): a static value becomes a Python constant in the graph, which keeps the
module exportable with torch.export; a computed one stays a tensor.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from modelport.errors import ConversionError
from modelport.converters.onnx_torch.dtypes import is_carried, tensor_of
from modelport.converters.onnx_torch.registry import _load_all, lookup


class UnsupportedOperators(ConversionError):
    """Every operator of the model without a converter, named with its opset, in one message."""


def _attrs(node) -> dict[str, Any]:
    from onnx import helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [x.decode("utf-8") for x in v]
        out[a.name] = v
    return out


def _ident(name: str, taken: set[str]) -> str:
    """A Python identifier for an ONNX name (parameters and placeholders need one), unique."""
    base = re.sub(r"\W", "_", name) or "v"
    if base[0].isdigit():
        base = "v_" + base
    ident, i = base, 1
    while ident in taken:
        ident, i = f"{base}_{i}", i + 1
    taken.add(ident)
    return ident


class Builder:
    """Builds one graph: the model's, or (with `parent`) a subgraph of If / Loop / Scan, which may
    read values of the graphs around it. Those become extra inputs of the subgraph's module, after
    its own, in the order first read (`captured`), and the parent passes them in."""

    def __init__(self, model, graph=None, parent: "Builder | None" = None):
        import torch
        import torch.fx as fx

        self.torch = torch
        self.model = model
        self.onnx_graph = graph if graph is not None else model.graph
        self.parent = parent
        self.graph = fx.Graph()
        self.root = torch.nn.Module()
        self.opsets = parent.opsets if parent is not None else opsets_of(model)
        self.values: dict[str, Any] = {}  # ONNX name -> fx node
        self.statics: dict[str, np.ndarray] = {}  # ONNX name -> value known at conversion time
        self.captured: list[str] = []  # outer names this subgraph reads, in the order of its extra inputs
        self._names: set[str] = set()

    # -- what converters use ------------------------------------------------------------------------
    def call(self, fn, *args, **kwargs):
        """Emit `fn(*args, **kwargs)` (a torch function or a helper of an ops module)."""
        return self.graph.call_function(fn, tuple(args), kwargs)

    def method(self, name: str, *args, **kwargs):
        return self.graph.call_method(name, tuple(args), kwargs)

    def static(self, node, index: int) -> np.ndarray | None:
        """The value of the node's input `index` if known now (initializer or Constant), else None."""
        if index >= len(node.input) or not node.input[index]:
            return None
        return self._static(node.input[index])

    def _static(self, name: str) -> np.ndarray | None:
        if name in self.values and name not in self.statics:  # computed here, even if an outer name matches
            return None
        if name in self.statics:
            return self.statics[name]
        return self.parent._static(name) if self.parent is not None else None

    def subgraph(self, graph, name: str):
        """(fx node of the subgraph's module, fx nodes of the outer values it reads): the module is a
        submodule of this one, called with its own inputs followed by those values."""
        sub = Builder(self.model, graph, parent=self)
        gm = sub.build()
        ident = _ident(name, self._names)
        self.root.add_module(ident, gm)
        return self.graph.get_attr(ident), [self._value(n) for n in sub.captured]

    def constant(self, value, name: str = "const"):
        """A tensor constant as a buffer of the module (floats too: a constant is not a weight). Types torch
        lacks (int4, float4e2m1...) become their carriers, bfloat16 and float8 keep their bits (dtypes.py)."""
        tensor = tensor_of(value)
        ident = _ident(name, self._names)
        self.root.register_buffer(ident, tensor)
        return self.graph.get_attr(ident)

    def opset(self, domain: str = "") -> int:
        return self.opsets.get(domain, 1)

    # -- the walk -----------------------------------------------------------------------------------
    def _value(self, name: str):
        if not name:
            return None
        if name not in self.values:
            if name in self.statics:  # a Constant's output used as a tensor
                self.values[name] = self.constant(self.statics[name], name)
            elif self.parent is not None and self.parent._knows(name):  # read from an outer graph
                self.captured.append(name)
                self.values[name] = self.graph.placeholder(_ident(name, self._names))
            else:
                raise ConversionError(f"ONNX value {name!r} is used before it is produced (not a topologically sorted graph)")
        return self.values[name]

    def _knows(self, name: str) -> bool:
        return name in self.values or name in self.statics or (self.parent is not None and self.parent._knows(name))

    def build(self):
        import torch.fx as fx
        from onnx import numpy_helper

        g = self.onnx_graph
        init_names = {t.name for t in g.initializer}
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        # Running statistics are state, not weights: buffers, as in torch.nn.BatchNorm (a parameter
        # there would also stop torch.export, which refuses gradients for them).
        statistics = {n.input[i] for n in g.node if n.op_type == "BatchNormalization" for i in (3, 4)
                      if len(n.input) > i}
        for t in g.initializer:
            arr = numpy_helper.to_array(t)
            self.statics[t.name] = arr
            if t.name not in used:
                continue
            ident = _ident(t.name, self._names)
            tensor = tensor_of(arr)  # a writable copy: the module owns its weights; int4... as carriers
            # A float-carried quantized type (float4e2m1, float8e8m0) is data on a grid, not a weight to train.
            if tensor.is_floating_point() and t.name not in statistics and not is_carried(t.data_type):
                self.root.register_parameter(ident, self.torch.nn.Parameter(tensor))
            else:
                self.root.register_buffer(ident, tensor)
            self.values[t.name] = self.graph.get_attr(ident)
        for inp in g.input:
            if inp.name in init_names:
                continue
            self.values[inp.name] = self.graph.placeholder(_ident(inp.name, self._names))
        for node in g.node:
            self._convert(node)
        outs = [self._value(o.name) for o in g.output]
        # A subgraph always returns a tuple: its caller (If, Loop, Scan) unpacks it by position.
        self.graph.output(outs[0] if len(outs) == 1 and self.parent is None else tuple(outs))
        self._drop_dead()
        gm = fx.GraphModule(self.root, self.graph, class_name="ConvertedFromOnnx")
        if self.parent is None:  # which fx node computes each ONNX value: the step's tensor map (provenance.py)
            gm.meta["onnx_values"] = {name: node.name for name, node in self.values.items()
                                      if isinstance(node, fx.Node) and not getattr(node, "_erased", False)
                                      and node.op in ("call_function", "call_method", "call_module")}
        return gm

    def _drop_dead(self) -> None:
        """Remove nodes nothing uses, and the weights only they read: an initializer a converter took
        as a static value (Reshape's shape, Pad's pads) need not be a buffer of the module."""
        self.graph.eliminate_dead_code()
        used = {n.target for n in self.graph.nodes if n.op == "get_attr"}
        for name in [n for n, _ in self.root.named_parameters(recurse=False) if n not in used]:
            delattr(self.root, name)
        for name in [n for n, _ in self.root.named_buffers(recurse=False) if n not in used]:
            delattr(self.root, name)

    def _convert(self, node) -> None:
        from onnx import numpy_helper

        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        if node.op_type == "Constant" and domain == "":
            self.statics[node.output[0]] = _constant_value(node, numpy_helper)
            return
        fn = lookup(domain, node.op_type, self.opset(domain))
        inputs = [self._value(name) for name in node.input]
        out = fn(self, node, inputs, _attrs(node))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        for name, value in zip(node.output, outs):
            if name:
                self.values[name] = value


def _constant_value(node, numpy_helper) -> np.ndarray:
    a = node.attribute[0]
    if a.name == "value":
        return numpy_helper.to_array(a.t)
    simple = {"value_float": np.float32(a.f), "value_int": np.int64(a.i),
              "value_floats": np.array(list(a.floats), np.float32), "value_ints": np.array(list(a.ints), np.int64)}
    if a.name in simple:
        return np.asarray(simple[a.name])
    raise ConversionError(f"Constant with attribute {a.name!r} is not supported")


def opsets_of(model) -> dict[str, int]:
    """The model's opset per domain ('' for the default ONNX domain)."""
    return {("" if d.domain in ("", "ai.onnx") else d.domain): d.version for d in model.opset_import}


def all_nodes(graph):
    """Every node of an ONNX graph and of the subgraphs of its If / Loop / Scan / SequenceMap nodes."""
    for node in graph.node:
        yield node
        for a in node.attribute:
            if a.g.node:
                yield from all_nodes(a.g)


def unsupported(model) -> list[str]:
    """'Op (domain, opset N)' for every node type that has no converter, once each, in order."""
    _load_all()
    opsets = opsets_of(model)
    missing: dict[str, None] = {}
    for node in all_nodes(model.graph):
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        if not (node.op_type == "Constant" and domain == "") and lookup(domain, node.op_type,
                                                                      opsets.get(domain, 1)) is None:
            missing[f"{node.op_type} ({domain or 'ai.onnx'} opset {opsets.get(domain, 1)})"] = None
    return list(missing)


def to_fx(model):
    """An onnx.ModelProto as a torch.fx.GraphModule; UnsupportedOperators names every missing op."""
    missing = unsupported(model)
    if missing:
        raise UnsupportedOperators(f"{len(missing)} operator(s) have no PyTorch converter: {', '.join(missing)}")
    return Builder(model).build()
