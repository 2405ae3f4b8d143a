"""`modelport locate --bisect`: the ONNX side of the bisection fallback.

When the tensors of SOURCE and ARTIFACT cannot be paired (or the user asks), locate re-runs the
conversion on pieces of the source instead, as Polygraphy's `debug reduce` does: with the ONNX
nodes in topological order, the prefix up to node k is the model whose outputs are node k's
outputs, from the source's own inputs. Each prefix is converted along the artifact's route and
validated against itself (modelport/pipeline/locate_bisect.py runs that part: converting is the
pipeline's business); a binary search over k finds the first node whose prefix fails while the
one before passes. This module holds what needs no converter: the nodes a prefix can end at, the
prefix models, the search, and the node's repro (its inputs' values from ONNX Runtime on the
source, in the backend-test layout of local.write_repro).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

# What correspondence.match's caller says when nothing pairs (locate.py): the fallback's trigger.
NOTHING_PAIRED = "corresponds to one inside"


@dataclass(frozen=True)
class Cut:
    """A node a prefix can end at: its index in the graph, name, op and the outputs the prefix exposes."""

    index: int
    name: str
    op: str
    outputs: tuple[str, ...]


def cuts(model) -> list[Cut]:
    """The nodes a prefix can end at, in topological order: every node that depends on a graph
    input (a node fed by weights alone is a constant: its prefix has no input to convert) and is
    not a Constant. A node's outputs are the ones something reads (another node, a graph output),
    its first output where nothing does."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    live = {i.name for i in graph.input if i.name not in inits}
    read = {i for n in graph.node for i in n.input if i} | {o.name for o in graph.output}
    found = []
    for k, node in enumerate(graph.node):
        if node.op_type == "Constant" or not any(i in live for i in node.input if i):
            continue
        live.update(o for o in node.output if o)
        outputs = tuple(o for o in node.output if o and o in read) or (node.output[0],)
        found.append(Cut(k, node.name or f"node {k}", node.op_type, outputs))
    return found


def prefix_model(model, cut: Cut):
    """The source's nodes that `cut`'s outputs depend on, as a model whose outputs they are (its
    inputs: the graph inputs those nodes read), as onnx.utils.Extractor cuts, without its shape
    inference failing on a tensor it cannot type (then the output is left untyped)."""
    import onnx
    from onnx import helper

    graph = model.graph
    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # noqa: BLE001 - typing the outputs is a courtesy
        inferred = graph
    infos = {v.name: v for v in [*inferred.value_info, *inferred.input, *inferred.output]}
    producer = {o: n for n in graph.node for o in n.output if o}
    wanted, keep, stack = set(), set(), list(cut.outputs)
    while stack:
        name = stack.pop()
        if name in wanted:
            continue
        wanted.add(name)
        node = producer.get(name)
        if node is not None:
            keep.add(id(node))
            stack.extend(i for i in node.input if i)
            for attr in node.attribute:  # subgraphs (If, Loop) read outer names too
                for g in [attr.g, *attr.graphs]:
                    stack.extend(i for n in g.node for i in n.input if i)
    nodes = [n for n in graph.node if id(n) in keep]
    inits = [t for t in graph.initializer if t.name in wanted]
    init_names = {t.name for t in inits}
    inputs = [i for i in graph.input if i.name in wanted and i.name not in init_names]
    outputs = [infos.get(o) or onnx.ValueInfoProto(name=o) for o in cut.outputs]
    sub = helper.make_graph(nodes, f"prefix to {cut.name}", inputs, outputs, inits)
    prefix = helper.make_model(sub, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    prefix.graph.value_info.extend(v for v in inferred.value_info if v.name in wanted and v.name not in cut.outputs)
    return prefix


@dataclass
class Search:
    """The binary search's state: `lo` the last cut known to pass (-1: none, the empty prefix),
    `hi` the first known to fail (len(cuts): the whole model)."""

    lo: int
    hi: int
    probes: int = 0
    capped: bool = False


def max_probes(n: int) -> int:
    """log2(N) + 2 conversions at most: the whole model, then the halvings (Polygraphy's bound)."""
    return int(math.log2(max(n, 1))) + 2


def search(n: int, probe: Callable[[int], bool], budget: int) -> Search:
    """The first of `n` cuts whose probe fails, the whole model (cut `n`) known to fail: bisects
    [−1, n] while probes are left in `budget`. `probe(k)` is True when prefix k passes."""
    s = Search(-1, n)
    while s.hi - s.lo > 1:
        if s.probes >= budget:
            s.capped = True
            break
        mid = (s.lo + s.hi) // 2
        s.probes += 1
        if probe(mid):
            s.lo = mid
        else:
            s.hi = mid
    return s


def node_repro(source: str, node_index: int, feed: dict[str, np.ndarray], folder: str) -> str:
    """The source's node `node_index` alone, in the backend-test layout (local.write_repro): its
    inputs' values and its outputs' from ONNX Runtime on the source fed `feed`. Convert its
    model.onnx along the route to see the conversion break it. Returns what was written."""
    import onnx
    import onnxruntime as ort

    from modelport.validators.locate.local import onnx_layer, write_repro

    model = onnx.load(source)
    node = model.graph.node[node_index]
    inits = {t.name for t in model.graph.initializer}
    constants = {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    ins = [i for i in dict.fromkeys(node.input) if i and i not in inits and i not in constants]
    outs = [o for o in node.output if o]
    marked = onnx.ModelProto()
    marked.CopyFrom(model)
    have = {o.name for o in marked.graph.output}
    marked.graph.output.extend(onnx.ValueInfoProto(name=n) for n in [*ins, *outs] if n not in have)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # every marked value kept as is
    session = ort.InferenceSession(marked.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [*ins, *outs]
    values = dict(zip(names, session.run(names, {k: v for k, v in feed.items()
                                                 if k in {i.name for i in model.graph.input}})))
    node_feed = {i: values[i] for i in ins}
    layer = onnx_layer(model, [outs[0]], node_feed, outs[0], f"locate bisect repro {node.name}")
    del layer.graph.output[:]
    layer.graph.output.extend(onnx.ValueInfoProto(name=o) for o in outs)
    write_repro(folder, layer, node_feed, {o: values[o] for o in outs})
    return (f"the source's node {node.name or node_index} ({node.op_type}) alone, fed the source's values of "
            f"{', '.join(ins)}: convert its model.onnx along the same route to reproduce the divergence")


# ------------------------------------------------------------------ the worker's jobs


def sample_job(job: dict) -> dict:
    """The artifact's outputs against the source's on validate's first sample (as locate starts),
    the sample's inputs kept in `job['feed']` (.npz) for the repro."""
    from modelport.validators.locate.options import LocateOptions
    from modelport.validators.validate_options import ValidateOptions
    from modelport.validators.validation import open_sample

    opts = LocateOptions.from_dict(job["options"])
    vopts = ValidateOptions(seed=opts.seed, inputs=opts.inputs, input_shapes=opts.input_shapes,
                            input_dtypes=opts.input_dtypes, value_ranges=opts.value_ranges, atol=opts.atol,
                            rtol=opts.rtol, preset=opts.preset, weights=opts.weights)
    sample = open_sample(job["source"], job["artifact"], vopts)
    try:
        np.savez(job["feed"], **{k: np.asarray(v) for k, v in sample.feed.items()})
        failing = [o for o in sample.result.outputs if not o.passed]
        return {"passed": sample.result.passed, "precision": sample.precision, "notes": list(sample.notes),
                "reason": sample.result.error or (f"{failing[0].output}: {failing[0].reason}" if failing else "")}
    finally:
        for held in (sample.ref_runner, sample.runner):
            if held is not None:
                held.close()


def repro_job(job: dict) -> dict:
    with np.load(job["feed"]) as data:
        feed = {k: data[k] for k in data.files}
    return {"repro": node_repro(job["source"], job["node_index"], feed, job["folder"])}


def bisect_job(job: dict) -> dict:
    return sample_job(job) if job["kind"] == "sample" else repro_job(job)
