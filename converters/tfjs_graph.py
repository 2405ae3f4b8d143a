"""Rewrites of a written TF.js graph model (model.json + weight shards), for the savedmodel -> tfjs edge.

Why hand-written: no library edits TF.js graph models; the format is JSON plus raw little-endian
weight bytes in manifest order (tfjs-converter's `weights.proto`-like manifest), simple enough to
edit exactly.

`untranspose_matmul_weights`: a MatMul / _FusedMatMul with `transpose_b` whose weight is a constant
used by nothing else gets that weight stored transposed and `transpose_b` off. The values it
computes are the same (a transpose moves bytes, it rounds nothing). Measured with TF.js 4.22:
its wasm backend computes every row after the first of a batch wrong for such a node (max abs
0.26 to 0.53 on the cnn, mlp and two_io fixtures' graphs, whose Linear layers onnx2tf writes as
[out, in] weights with transpose_b) while the cpu backend is right; with the weights transposed
both backends match TensorFlow.
"""

from __future__ import annotations

import json
import os

import numpy as np

# Bytes per stored element: a quantized weight stores its codes (TF.js dequantizes them at load).
_STORED = {"float32": np.float32, "int32": np.int32, "bool": np.uint8, "uint8": np.uint8, "uint16": np.uint16,
           "float16": np.float16, "int8": np.int8, "int16": np.int16}


def _stored_dtype(weight: dict):
    q = weight.get("quantization") or {}
    return _STORED.get(q.get("dtype") or weight.get("dtype"))


def untranspose_matmul_weights(folder: str, *, dry_run: bool = False) -> list[str]:
    """Rewrite the model in `folder` in place; return the names of the nodes changed (none: untouched).
    `dry_run`: only name the nodes it would change."""
    path = os.path.join(folder, "model.json")
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    topology = spec.get("modelTopology") or {}
    nodes = topology.get("node") or []
    groups = spec.get("weightsManifest") or []
    weights = [w for g in groups for w in g.get("weights", [])]
    if topology.get("library") or any(_stored_dtype(w) is None for w in weights):
        return []  # functions (control flow) could use a weight too; a string weight has no fixed size
    offsets, at = {}, 0
    for w in weights:
        offsets[w["name"]] = at
        at += int(np.prod(w["shape"], dtype=np.int64)) * np.dtype(_stored_dtype(w)).itemsize
    by_name = {w["name"]: w for w in weights}
    users: dict[str, list[dict]] = {}
    for n in nodes:
        for i in n.get("input", []):
            users.setdefault(i.split(":")[0].lstrip("^"), []).append(n)
    targets = []
    for n in nodes:
        attr = n.get("attr") or {}
        if n.get("op") not in ("MatMul", "_FusedMatMul") or not (attr.get("transpose_b") or {}).get("b"):
            continue
        inputs = n.get("input") or []
        name = inputs[1].split(":")[0] if len(inputs) > 1 else None
        w = by_name.get(name)
        if w is None or len(w["shape"]) != 2 or any(u is not n for u in users.get(name, [])):
            continue
        targets.append((n, w))
    if not targets or dry_run:
        return [n["name"] for n, _ in targets]
    paths = [os.path.join(folder, p) for g in groups for p in g.get("paths", [])]
    sizes = [os.path.getsize(p) for p in paths]
    data = bytearray(b"".join(open(p, "rb").read() for p in paths))
    consts = {n["name"]: n for n in nodes if n.get("op") == "Const"}
    for n, w in targets:
        rows, cols = w["shape"]
        dtype = np.dtype(_stored_dtype(w))
        start = offsets[w["name"]]
        stop = start + rows * cols * dtype.itemsize
        codes = np.frombuffer(bytes(data[start:stop]), dtype=dtype).reshape(rows, cols)
        data[start:stop] = np.ascontiguousarray(codes.T).tobytes()
        w["shape"] = [cols, rows]
        n["attr"]["transpose_b"]["b"] = False
        const = consts.get(w["name"])
        tensor = ((const or {}).get("attr", {}).get("value") or {}).get("tensor")
        if tensor and tensor.get("tensorShape", {}).get("dim"):
            tensor["tensorShape"]["dim"] = [{"size": str(cols)}, {"size": str(rows)}]
    at = 0
    for p, size in zip(paths, sizes):
        with open(p, "wb") as f:
            f.write(bytes(data[at:at + size]))
        at += size
    with open(path, "w", encoding="utf-8") as f:
        json.dump(spec, f)
    return [n["name"] for n, _ in targets]


# Ops TF.js lacks, rewritten by their definition into ops it has: op -> (what it becomes, a builder of
# the replacement nodes). Keras' exact GELU is 0.5 * x * erfc(-x / sqrt(2)), so every Keras model with
# GELU (transformers) has an Erfc, which TF.js 4.22's op list does not: erfc(x) = 1 - erf(x).
DECOMPOSABLE = {"Erfc": "Sub(1, Erf(x))"}


def decompose_unsupported(graph_def):
    """A copy of a frozen GraphDef with each DECOMPOSABLE op rewritten (the node keeps its name, so its
    consumers are unchanged), and how many of each were rewritten."""
    from tensorflow.core.framework import graph_pb2, node_def_pb2
    import tensorflow as tf

    out = graph_pb2.GraphDef()
    out.CopyFrom(graph_def)
    counts: dict[str, int] = {}
    replaced = []
    for node in out.node:
        if node.op != "Erfc":
            continue
        counts[node.op] = counts.get(node.op, 0) + 1
        dtype = node.attr["T"].type
        one = node_def_pb2.NodeDef(name=f"{node.name}/modelport_one", op="Const")
        one.attr["dtype"].type = dtype
        one.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(1.0, dtype=tf.dtypes.as_dtype(dtype)))
        erf = node_def_pb2.NodeDef(name=f"{node.name}/modelport_erf", op="Erf", input=list(node.input))
        erf.attr["T"].type = dtype
        sub = node_def_pb2.NodeDef(name=node.name, op="Sub", input=[one.name, erf.name], device=node.device)
        sub.attr["T"].type = dtype
        replaced.append((node, [one, erf, sub]))
    for node, new_nodes in replaced:
        out.node.remove(node)
        out.node.extend(new_nodes)
    return out, counts
