"""ONNX preparation passes, run before onnx2tf and before ONNX -> PyTorch: one name per pass.

Each pass is one of the strategies those edges try (converters/strategies.py), because each fails
where another works: onnxsim rejects graphs that are not topologically sorted (the dynamo
exporter's `SequenceEmpty` + `Loop`, trap 11), onnxslim and ONNX Runtime's offline optimiser take
other subsets, and folding the static shape constructs removes control flow neither converter can
lower. `prepare(model, method, fixed)` returns the prepared model and one line saying what it did.

`fold` is written here because no library does it: onnxsim and onnxslim stop at the unsorted
graph, and ONNX Runtime's constant folding skips control-flow nodes. It evaluates, with onnx's
reference evaluator, every node whose inputs are known before any input arrives (initializers,
constants, shapes of tensors whose shape is static), subgraphs and sequences included.
"""

from __future__ import annotations

import os
import tempfile

from modelport.errors import ConversionError, first_line

METHODS = ("onnxsim", "fold", "onnxslim", "ort", "none")
CONTROL_FLOW_OPS = {"Loop", "If", "Scan", "SequenceMap"}
SEQUENCE_OPS = {"SequenceEmpty", "SequenceConstruct", "SequenceInsert", "SequenceAt", "SequenceErase",
                "SequenceLength", "ConcatFromSequence", "SplitToSequence"}
# Values that differ between runs or depend on nothing a fold can know.
_NOT_FOLDABLE = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                 "Bernoulli", "Dropout"}


def has_static_constructs(model) -> bool:
    """Control flow or sequences at the top level: what `fold` exists to remove."""
    return any(n.op_type in CONTROL_FLOW_OPS | SEQUENCE_OPS and n.domain in ("", "ai.onnx") for n in model.graph.node)


def fix_input_shapes(model, fixed: dict[str, list[int]]) -> None:
    """Give the named graph inputs these concrete shapes (in place)."""
    for inp in model.graph.input:
        if inp.name in fixed and inp.type.HasField("tensor_type"):
            dims = inp.type.tensor_type.shape.dim
            for d, size in zip(dims, fixed[inp.name]):
                d.Clear()
                d.dim_value = int(size)


def prepare(model, method: str, fixed: dict[str, list[int]] | None, *, skip_fuse_bn: bool = False):
    """(prepared model, what was done) for one of METHODS; ConversionError when the pass fails."""
    fixed = fixed or {}
    if method == "none":
        if fixed:
            fix_input_shapes(model, fixed)
        return model, "no graph preparation" + (" (input shapes fixed)" if fixed else "")
    if method == "onnxsim":
        return _onnxsim(model, fixed, skip_fuse_bn), "simplified by onnxsim"
    if method == "fold":
        fix_input_shapes(model, fixed)
        model, count = fold_static(model)
        try:
            model = _onnxsim(model, {}, skip_fuse_bn)
            then = ", then onnxsim"
        except ConversionError:
            then = " (onnxsim could not run after it)"
        return model, f"{count} static shape node(s) folded into constants{then}"
    if method == "onnxslim":
        return _onnxslim(model, fixed), "simplified by onnxslim"
    if method == "ort":
        return _ort_optimised(model, fixed), "optimised offline by ONNX Runtime (basic level)"
    raise ValueError(f"unknown preparation {method!r}")


def _onnxsim(model, fixed, skip_fuse_bn: bool):
    import onnxsim

    try:
        simplified, ok = onnxsim.simplify(model, overwrite_input_shapes=fixed or None, skip_fuse_bn=skip_fuse_bn)
    except Exception as e:
        raise ConversionError(f"onnxsim failed: {first_line(e)}") from None
    if not ok:
        raise ConversionError("onnxsim could not validate the simplified model")
    return simplified


def _onnxslim(model, fixed):
    import onnxslim

    fix_input_shapes(model, fixed)
    try:
        return onnxslim.slim(model)
    except Exception as e:
        raise ConversionError(f"onnxslim failed: {first_line(e)}") from None


def _ort_optimised(model, fixed):
    """ONNX Runtime's basic level only: constant folding and redundancy removal, standard ops
    (the extended level writes com.microsoft fused ops no converter knows)."""
    import onnx
    import onnxruntime as ort

    fix_input_shapes(model, fixed)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.onnx"), os.path.join(tmp, "out.onnx")
        onnx.save(model, src)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = dst
        so.log_severity_level = 3
        try:
            ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise ConversionError(f"ONNX Runtime's optimiser failed: {first_line(e)}") from None
        return onnx.load(dst)


# --- fold -------------------------------------------------------------------------------------

def outer_names(graph) -> set[str]:
    """Names a (sub)graph reads from its enclosing scope: used, and defined nowhere inside."""
    defined = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    used: set[str] = set()
    for node in graph.node:
        used.update(i for i in node.input if i)
        for attr in node.attribute:
            for sub in _subgraphs(attr):
                used |= outer_names(sub)
        defined.update(node.output)
    return used - defined


def _subgraphs(attr):
    from onnx import AttributeProto

    if attr.type == AttributeProto.GRAPH:
        return [attr.g]
    if attr.type == AttributeProto.GRAPHS:
        return list(attr.graphs)
    return []


def _node_reads(node) -> set[str]:
    reads = {i for i in node.input if i}
    for attr in node.attribute:
        for sub in _subgraphs(attr):
            reads |= outer_names(sub)
    return reads


def topological(graph) -> list:
    """The graph's nodes in an order where every value is produced before it is read (subgraph
    reads of outer values included). Unresolvable reads keep their place at the end."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        rest = []
        for node in pending:
            if _node_reads(node) <= available:
                ordered.append(node)
                available.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):  # a read no node produces: leave the model's own error to others
            ordered += rest
            break
        pending = rest
    return ordered


def _static_shapes(model) -> dict[str, list[int]]:
    """Every value whose shape is fully known (onnx shape inference on the model as given)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:
        inferred = model
    shapes = {}
    for vi in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        t = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and t.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
            if all(d is not None for d in dims):
                shapes[vi.name] = dims
    return shapes


def fold_static(model):
    """(model with its static nodes replaced by initializers, how many nodes were folded)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    graph = model.graph
    nodes = topological(graph)
    shapes = _static_shapes(model)
    known = {i.name for i in graph.initializer}
    computed: dict[str, np.ndarray] = {}
    foldable = []
    for node in nodes:
        if node.domain not in ("", "ai.onnx") or node.op_type in _NOT_FOLDABLE:
            continue
        if node.op_type == "Constant":
            foldable.append(node)
            known.update(node.output)
        elif node.op_type in ("Shape", "Size") and node.input[0] in shapes and node.input[0] not in known:
            shape = shapes[node.input[0]]
            if node.op_type == "Size":
                computed[node.output[0]] = np.array(int(np.prod(shape)), dtype=np.int64)
            else:
                attrs = {a.name: a.i for a in node.attribute}
                start, end = attrs.get("start", 0), attrs.get("end", len(shape))
                computed[node.output[0]] = np.array(shape[start:end] if end else shape[start:], dtype=np.int64)
            known.update(node.output)
        elif _node_reads(node) <= known | {""}:
            foldable.append(node)
            known.update(node.output)
    folded = {o for n in foldable for o in n.output} | set(computed)
    if not foldable and not computed:
        return model, 0
    # Values the rest of the graph (or its outputs) reads from the folded part.
    kept_nodes = [n for n in nodes if not (set(n.output) & folded)]
    needed = set().union(*(_node_reads(n) for n in kept_nodes)) if kept_nodes else set()
    needed |= {o.name for o in graph.output}
    boundary = sorted((folded & needed) - set(computed))
    values = dict(computed)
    if boundary:
        inits = {i.name: i for i in graph.initializer}
        sub_inputs = set().union(*(_node_reads(n) for n in foldable)) - {o for n in foldable for o in n.output}
        sub = helper.make_graph(
            foldable, "fold",
            inputs=[helper.make_tensor_value_info(k, TensorProto.INT64, list(computed[k].shape))
                    for k in sorted(sub_inputs & set(computed))],
            outputs=[helper.make_value_info(k, helper.TypeProto()) for k in boundary],
            initializer=[inits[k] for k in sorted(sub_inputs & set(inits))])
        sub_model = helper.make_model(sub, opset_imports=list(model.opset_import), ir_version=model.ir_version)
        results = _evaluate(sub_model, {k: v for k, v in computed.items() if k in sub_inputs})
        values.update(zip(boundary, results))
    new_inits = []
    outputs = {o.name for o in graph.output}
    extra_nodes = []
    for name in sorted(set(values) & needed):
        value = values[name]
        if isinstance(value, list):  # a sequence the rest still reads: keep it computed
            raise ConversionError(f"folding left a sequence value ({name}) that the graph still reads")
        if name in outputs:  # a graph output must be produced by a node
            new_inits.append(numpy_helper.from_array(np.asarray(value), f"{name}__folded"))
            extra_nodes.append(helper.make_node("Identity", [f"{name}__folded"], [name]))
        else:
            new_inits.append(numpy_helper.from_array(np.asarray(value), name))
    count = len(nodes) - len(kept_nodes)
    del graph.node[:]
    graph.node.extend(extra_nodes + kept_nodes)
    graph.initializer.extend(new_inits)
    _drop_unused_initializers(graph)
    return model, count


def _evaluate(model, feed: dict) -> list:
    """Run the static part once. ONNX Runtime first: onnx's reference evaluator returned a scalar
    for the dynamo exporter's index Loop (swin_t), where ONNX Runtime gives the right (1, 768, 1, 1)."""
    errors = []
    try:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        return session.run(None, feed)
    except Exception as e:
        errors.append(f"ONNX Runtime: {first_line(e)}")
    try:
        from onnx.reference import ReferenceEvaluator

        return ReferenceEvaluator(model).run(None, feed)
    except Exception as e:
        errors.append(f"onnx reference: {first_line(e)}")
    raise ConversionError("folding the static shape nodes failed (" + "; ".join(errors) + ")")


def _drop_unused_initializers(graph) -> None:
    used = set().union(*(_node_reads(n) for n in graph.node)) if graph.node else set()
    used |= {o.name for o in graph.output}
    keep = [i for i in graph.initializer if i.name in used]
    if len(keep) != len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(keep)
