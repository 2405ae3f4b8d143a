"""Small ONNX graph rewrites that let onnx2tf and onnxsim take what they otherwise reject.

Shared by the edges that read ONNX (onnx -> tflite/savedmodel, onnx -> pytorch). Hand-written
because no library does these: models of IR < 4 list weights among graph inputs, which onnxsim
rejects; onnx's version converter cannot take Gelu (opset 20) to an older opset ("No Previous
Version of Gelu exists"), and onnx2tf's SavedModel writer has no GELU kernel. Gelu is expanded
into the ops of its ONNX definition, which every backend has.
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


def normalise_legacy_inputs(model) -> None:
    """IR < 4 models list weights among graph inputs; onnxsim rejects them. Keep real inputs only."""
    produced = {o for n in model.graph.node for o in n.output}
    inits = {i.name for i in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name not in produced and i.name not in inits]
    if len(keep) != len(model.graph.input):
        del model.graph.input[:]
        model.graph.input.extend(keep)
    model.ir_version = max(model.ir_version, 7)
