"""Small ONNX graph rewrites that let onnx2tf and onnxsim take what they otherwise reject.

Shared by the edges that read ONNX (onnx -> tflite/savedmodel, onnx -> pytorch). Hand-written
because no library does these: models of IR < 4 list weights among graph inputs, which onnxsim
rejects; onnx's version converter cannot take Gelu (opset 20) to an older opset ("No Previous
Version of Gelu exists"), and onnx2tf's SavedModel writer has no GELU or HARD_SWISH kernel
(trap 10). `DECOMPOSITIONS` is the one table of such rewrites: each op becomes the ops of its
ONNX definition, which every backend has; the `decompose` strategy of the onnx2tf edges applies it.
"""

from __future__ import annotations

import math

import numpy as np


def expand_gelu(model) -> int:
    """Replace every Gelu node by its definition (exact: Erf; approximate="tanh": Tanh). Returns the count."""
    from onnx import helper, numpy_helper

    graph = model.graph
    new_nodes, count = [], 0
    for node in graph.node:
        if node.op_type != "Gelu" or node.domain not in ("", "ai.onnx"):
            new_nodes.append(node)
            continue
        count += 1
        approx = next((a.s.decode() for a in node.attribute if a.name == "approximate"), "none")
        x, y, p = node.input[0], node.output[0], f"{node.name or 'gelu'}_{count}_expanded"

        def const(name: str, value: float) -> str:
            graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.float32), f"{p}_{name}"))
            return f"{p}_{name}"

        if approx == "tanh":
            new_nodes += [
                helper.make_node("Mul", [x, x], [f"{p}_x2"]),
                helper.make_node("Mul", [f"{p}_x2", x], [f"{p}_x3"]),
                helper.make_node("Mul", [f"{p}_x3", const("c", 0.044715)], [f"{p}_cx3"]),
                helper.make_node("Add", [x, f"{p}_cx3"], [f"{p}_inner"]),
                helper.make_node("Mul", [f"{p}_inner", const("k", math.sqrt(2 / math.pi))], [f"{p}_scaled"]),
                helper.make_node("Tanh", [f"{p}_scaled"], [f"{p}_t"]),
            ]
        else:
            new_nodes += [
                helper.make_node("Mul", [x, const("rsqrt2", 1 / math.sqrt(2))], [f"{p}_scaled"]),
                helper.make_node("Erf", [f"{p}_scaled"], [f"{p}_t"]),
            ]
        new_nodes += [
            helper.make_node("Add", [f"{p}_t", const("one", 1.0)], [f"{p}_1pt"]),
            helper.make_node("Mul", [x, f"{p}_1pt"], [f"{p}_x1pt"]),
            helper.make_node("Mul", [f"{p}_x1pt", const("half", 0.5)], [y]),
        ]
    if count:
        del graph.node[:]
        graph.node.extend(new_nodes)
    return count


def _expand_hard_sigmoid(node, graph, prefix: str, *, swish: bool) -> list:
    """HardSigmoid(x) = clip(alpha*x + beta, 0, 1) (alpha 0.2, beta 0.5 by default);
    HardSwish(x) = x * HardSigmoid(x) with alpha 1/6, beta 0.5 (its ONNX definition)."""
    from onnx import helper, numpy_helper

    attrs = {a.name: a.f for a in node.attribute}
    alpha = 1 / 6 if swish else attrs.get("alpha", 0.2)
    beta = 0.5 if swish else attrs.get("beta", 0.5)
    for name, value in (("alpha", alpha), ("beta", beta), ("zero", 0.0), ("one", 1.0)):
        graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.float32), f"{prefix}_{name}"))
    x = node.input[0]
    clipped = f"{prefix}_hs" if swish else node.output[0]
    out = [
        helper.make_node("Mul", [x, f"{prefix}_alpha"], [f"{prefix}_ax"]),
        helper.make_node("Add", [f"{prefix}_ax", f"{prefix}_beta"], [f"{prefix}_axb"]),
        helper.make_node("Max", [f"{prefix}_axb", f"{prefix}_zero"], [f"{prefix}_lo"]),
        helper.make_node("Min", [f"{prefix}_lo", f"{prefix}_one"], [clipped]),
    ]
    if swish:
        out.append(helper.make_node("Mul", [x, clipped], [node.output[0]]))
    return out


def _expand_gelu_node(node, graph, prefix: str) -> list:
    tmp = type(graph)()  # expand_gelu works on a graph: give it this one node
    tmp.node.append(node)
    holder = type("M", (), {"graph": tmp})()
    expand_gelu(holder)
    graph.initializer.extend(tmp.initializer)
    return list(tmp.node)


def _static_shapes(graph) -> dict[str, list[int | None]]:
    """Shapes onnx's inference knows for the graph's values, None for a dim it knows only by name
    (a dynamic batch): depthwise needs its input's C, H and W, Split its axis' size, and neither
    needs the batch, so a graph that keeps its batch dynamic is decomposed too."""
    import onnx

    model = onnx.helper.make_model(graph)
    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph
    except Exception:
        return {}
    out = {}
    for vi in list(inferred.input) + list(inferred.value_info):
        if not vi.type.tensor_type.HasField("shape"):
            continue
        dims = vi.type.tensor_type.shape.dim
        if dims:
            out[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    return out


def _expand_depthwise(node, graph, prefix: str, shapes: dict) -> list | None:
    """A 2-D depthwise Conv (group = input channels = output channels) as a sum over its kernel
    taps: pad, then for each tap a strided slice times the tap's per-channel weight. onnx2tf 2.6.9's
    SavedModel writer fails on DEPTHWISE_CONV_2D ("`input.shape.rank` must be at least 5": it passes
    4-element dilations to tf.nn.depthwise_conv2d, which takes 2), and slices, products and sums
    it writes. None (left as is) for any other Conv, or when the input's shape is not known."""
    from onnx import helper, numpy_helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    inits = {i.name: i for i in graph.initializer}
    x, w_name = node.input[0], node.input[1]
    if w_name not in inits or x not in shapes or len(shapes[x]) != 4:
        return None
    w = numpy_helper.to_array(inits[w_name])
    _, c, h, wd = shapes[x]  # the batch may be dynamic (None): the expansion does not depend on it
    if None in (c, h, wd) or w.ndim != 4 or attrs.get("group", 1) != c or w.shape[0] != c or w.shape[1] != 1:
        return None
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        return None
    kh, kw = w.shape[2:]
    sh, sw = attrs.get("strides", [1, 1])
    dh, dw = attrs.get("dilations", [1, 1])
    pads = attrs.get("pads", [0, 0, 0, 0])
    hp, wp = h + pads[0] + pads[2], wd + pads[1] + pads[3]
    oh, ow = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1

    def const(name, value):
        graph.initializer.append(numpy_helper.from_array(np.asarray(value), f"{prefix}_{name}"))
        return f"{prefix}_{name}"

    out = []
    src = x
    if any(pads):
        out.append(helper.make_node("Pad", [x, const("pads", np.array([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]], np.int64))],
                                    [f"{prefix}_padded"]))
        src = f"{prefix}_padded"
    axes, steps = const("axes", np.array([2, 3], np.int64)), const("steps", np.array([sh, sw], np.int64))
    acc = None
    for i in range(kh):
        for j in range(kw):
            t = f"{prefix}_t{i}_{j}"
            starts = const(f"s{i}_{j}", np.array([i * dh, j * dw], np.int64))
            ends = const(f"e{i}_{j}", np.array([i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1], np.int64))
            out.append(helper.make_node("Slice", [src, starts, ends, axes, steps], [f"{t}_x"]))
            tap = const(f"w{i}_{j}", w[:, 0, i, j].reshape(1, c, 1, 1).astype(w.dtype))
            out.append(helper.make_node("Mul", [f"{t}_x", tap], [f"{t}_wx"]))
            if acc is not None:
                out.append(helper.make_node("Add", [acc, f"{t}_wx"], [f"{t}_acc"]))
                acc = f"{t}_acc"
            else:
                acc = f"{t}_wx"
    if len(node.input) > 2 and node.input[2]:
        b = numpy_helper.to_array(inits[node.input[2]]) if node.input[2] in inits else None
        if b is None:
            return None
        out.append(helper.make_node("Add", [acc, const("bias", b.reshape(1, c, 1, 1))], [node.output[0]]))
    else:
        out.append(helper.make_node("Identity", [acc], [node.output[0]]))
    return out


def _is_depthwise(node) -> bool:
    group = next((a.i for a in node.attribute if a.name == "group"), 1)
    return node.op_type == "Conv" and group > 1


def _has_num_outputs(node) -> bool:
    return node.op_type == "Split" and any(a.name == "num_outputs" for a in node.attribute)


def _explicit_split(node, graph, prefix: str, shapes: dict) -> list | None:
    """Split-18's `num_outputs` as explicit sizes in a `split` input. onnx2tf 2.6.9 writes a Split
    given only num_outputs as a custom ONNX_SPLIT op no interpreter runs (timm's EdgeNeXt through
    the dynamo exporter); the sizes it needs follow from the input's static dim: ceil(dim / n) each,
    the last chunk smaller when dim does not divide, as ONNX defines it."""
    from onnx import helper, numpy_helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    x, n = node.input[0], int(attrs["num_outputs"])
    axis = int(attrs.get("axis", 0))
    if x not in shapes or len(node.input) > 1 and node.input[1] or n != len(node.output):
        return None
    dim = shapes[x][axis]
    if dim is None:
        return None
    chunk = -(-dim // n)
    sizes = [chunk] * (n - 1) + [dim - chunk * (n - 1)]
    if sizes[-1] < 0:
        return None
    graph.initializer.append(numpy_helper.from_array(np.asarray(sizes, np.int64), f"{prefix}_sizes"))
    return [helper.make_node("Split", [x, f"{prefix}_sizes"], list(node.output), name=node.name, axis=axis)]


# op type -> rewrite(node, graph, unique prefix[, shapes]) -> replacement nodes (None: keep the node)
DECOMPOSITIONS = {
    "Gelu": _expand_gelu_node,
    "HardSwish": lambda node, graph, prefix: _expand_hard_sigmoid(node, graph, prefix, swish=True),
    "HardSigmoid": lambda node, graph, prefix: _expand_hard_sigmoid(node, graph, prefix, swish=False),
}
# op type -> (applies(node), rewrite(node, graph, prefix, shapes), label); these need static shapes
SHAPED_DECOMPOSITIONS = {
    "Conv": (_is_depthwise, _expand_depthwise, "depthwise Conv"),
    "Split": (_has_num_outputs, _explicit_split, "Split with num_outputs"),
}


ERF_DIVISION = "Div before Erf (exact GELU)"


def _erf_divisions(graph) -> list:
    """Div nodes by a scalar constant whose output feeds only Erf nodes: exact GELU as torch's
    exporters write it (x / sqrt(2) -> Erf -> +1 -> *x -> *0.5). onnx2tf 2.6.9 fuses that chain
    (Div first) back into one GELU op, which its SavedModel writer lacks (trap 10), so expanding
    Gelu nodes alone cannot help; a product by the reciprocal is not fused, and equals the
    quotient to one rounding."""
    scalars = {i.name for i in graph.initializer if int(np.prod(i.dims)) == 1}
    scalars |= {o for n in graph.node if n.op_type == "Constant" for o in n.output
                if any(a.name == "value" and int(np.prod(a.t.dims)) == 1 for a in n.attribute)}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    return [n for n in graph.node if n.op_type == "Div" and n.domain in ("", "ai.onnx") and len(n.input) == 2
            and n.input[1] in scalars and consumers.get(n.output[0])
            and all(c.op_type == "Erf" for c in consumers[n.output[0]])]


def _divisions_as_products(graph) -> int:
    """Every Div of _erf_divisions() rewritten in place as a Mul by the divisor's reciprocal."""
    from onnx import helper, numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    values.update({n.output[0]: numpy_helper.to_array(a.t) for n in graph.node if n.op_type == "Constant"
                   for a in n.attribute if a.name == "value"})
    divisions = _erf_divisions(graph)
    for k, node in enumerate(divisions):
        divisor = values[node.input[1]]
        name = f"{node.name or 'div'}_{k}_reciprocal"
        graph.initializer.append(numpy_helper.from_array((1 / divisor).astype(divisor.dtype), name))
        node.CopyFrom(helper.make_node("Mul", [node.input[0], name], list(node.output), name=node.name))
    return len(divisions)


def decomposable(model) -> list[str]:
    """The labels of the table's rewrites that apply in the model's top-level graph, once each."""
    found = []
    for n in model.graph.node:
        if n.domain not in ("", "ai.onnx"):
            continue
        if n.op_type in DECOMPOSITIONS:
            found.append(n.op_type)
        elif n.op_type in SHAPED_DECOMPOSITIONS and SHAPED_DECOMPOSITIONS[n.op_type][0](n):
            found.append(SHAPED_DECOMPOSITIONS[n.op_type][2])
    if _erf_divisions(model.graph):
        found.append(ERF_DIVISION)
    return list(dict.fromkeys(found))


def decompose(model) -> dict[str, int]:
    """Apply every rewrite of DECOMPOSITIONS in place; return how many nodes of each op were rewritten."""
    graph = model.graph
    new_nodes, counts = [], {}
    shapes = _static_shapes(graph) if any(n.op_type in SHAPED_DECOMPOSITIONS for n in graph.node) else {}
    for node in graph.node:
        prefix = f"{node.name or node.op_type}_{len(new_nodes)}_decomposed"
        replaced, label = None, node.op_type
        if node.domain in ("", "ai.onnx") and node.op_type in DECOMPOSITIONS:
            replaced = DECOMPOSITIONS[node.op_type](node, graph, prefix)
        elif node.domain in ("", "ai.onnx") and node.op_type in SHAPED_DECOMPOSITIONS:
            applies, rewrite, label = SHAPED_DECOMPOSITIONS[node.op_type]
            replaced = rewrite(node, graph, prefix, shapes) if applies(node) else None
        if replaced is None:
            new_nodes.append(node)
            continue
        counts[label] = counts.get(label, 0) + 1
        new_nodes += replaced
    if counts:
        del graph.node[:]
        graph.node.extend(new_nodes)
    products = _divisions_as_products(graph)  # after the Gelu expansion: it writes a product already
    if products:
        counts[ERF_DIVISION] = products
    if counts:
        used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        keep = [i for i in graph.initializer if i.name in used]  # the depthwise weights, now per tap
        del graph.initializer[:]
        graph.initializer.extend(keep)
    return counts


def normalise_legacy_inputs(model) -> None:
    """IR < 4 models list weights among graph inputs; onnxsim rejects them. Keep real inputs only."""
    produced = {o for n in model.graph.node for o in n.output}
    inits = {i.name for i in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name not in produced and i.name not in inits]
    if len(keep) != len(model.graph.input):
        del model.graph.input[:]
        model.graph.input.extend(keep)
    model.ir_version = max(model.ir_version, 7)
