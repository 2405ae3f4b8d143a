"""`--mode local`: each artifact layer run alone, fed the source's own values.

For a compared tensor T, the layer is the artifact's sub-graph between the nearest compared tensors
(or graph inputs) and T (graphs.TensorGraph.frontier): one Conv, or a CONV_2D with the TRANSPOSE
onnx2tf put before it. That sub-graph is cut out as a model of its own (an ONNX graph, a TFLite
flatbuffer with only its operators, tensors and buffers) and run on the source's values of its
inputs, put into the artifact's layout. Its error is the layer's own; in accumulated mode it adds
to what the layer inherits.

Why cut models rather than feed a running interpreter: neither ONNX Runtime nor LiteRT lets a
caller overwrite an intermediate tensor and resume, and a cut-out graph runs the very same
kernels.
"""

from __future__ import annotations

import numpy as np

from modelport.errors import first_line


class LayerError(Exception):
    """The cut-out layer cannot be built or run (reported on that tensor, never fatal)."""


# ------------------------------------------------------------------ ONNX


def onnx_layer(model, producers: list[str], feed: dict[str, np.ndarray], output: str, name: str = "layer"):
    """The nodes that produce `producers` (tensor names, topological order) as a model of their own,
    whose inputs are `feed`'s tensors (typed by their values) and whose output is `output`."""
    import onnx
    from onnx import helper

    graph = model.graph
    wanted = set(producers)
    nodes = [n for n in graph.node if any(o in wanted for o in n.output)]
    used = {i for n in nodes for i in n.input if i} - set(feed)
    constants = [n for n in graph.node if n.op_type == "Constant" and any(o in used for o in n.output)]
    inits = [t for t in graph.initializer if t.name in used]
    inputs = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
              for k, v in feed.items()]
    sub = helper.make_graph(constants + nodes, name, inputs, [onnx.ValueInfoProto(name=output)], inits)
    return helper.make_model(sub, opset_imports=list(model.opset_import), ir_version=model.ir_version)


def run_onnx_layer(model, producers: list[str], feed: dict[str, np.ndarray], output: str) -> np.ndarray:
    """Run the nodes that produce `producers` (tensor names, topological order) on `feed`."""
    import onnxruntime as ort

    layer = onnx_layer(model, producers, feed, output)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(layer.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        return session.run([output], feed)[0]
    except Exception as e:
        raise LayerError(f"the layer alone does not run in ONNX Runtime ({first_line(e, 160)})") from None


# ------------------------------------------------------------------ TFLite


def run_tflite_layer(model_t, ops: list[int], inputs: list[int], output: int, feed: dict[int, np.ndarray],
                     quantization: dict[int, dict]) -> np.ndarray:
    """Run operators `ops` of subgraph 0 as a model whose inputs are tensors `inputs` (fed `feed`,
    by tensor index, float values quantized where the tensor is int8/uint8) and output `output`."""
    import copy

    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    import flatbuffers

    sg = model_t.subgraphs[0]
    operators = [sg.operators[k] for k in ops]
    used = sorted({i for op in operators for i in [*(op.inputs if op.inputs is not None else []),
                                                     *(op.outputs if op.outputs is not None else [])] if i >= 0}
                  | set(inputs) | {output})
    new_index = {old: k for k, old in enumerate(used)}
    buffers = [schema.BufferT()]  # buffer 0 is the empty sentinel by convention
    tensors = []
    for old in used:
        t = copy.copy(sg.tensors[old])
        if t.buffer and old not in inputs:
            buffers.append(model_t.buffers[t.buffer])
            t.buffer = len(buffers) - 1
        else:
            t.buffer = 0
        tensors.append(t)
    sub = schema.SubGraphT()
    sub.tensors = tensors
    sub.inputs = [new_index[i] for i in inputs]
    sub.outputs = [new_index[output]]
    sub.operators = []
    for op in operators:
        o = copy.copy(op)
        o.inputs = [new_index[i] if i >= 0 else -1 for i in (op.inputs if op.inputs is not None else [])]
        o.outputs = [new_index[i] for i in (op.outputs if op.outputs is not None else [])]
        sub.operators.append(o)
    layer = schema.ModelT()
    layer.version, layer.operatorCodes, layer.description = model_t.version, model_t.operatorCodes, b"locate layer"
    layer.subgraphs, layer.buffers = [sub], buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(layer.Pack(builder), file_identifier=b"TFL3")
    try:
        it = Interpreter(model_content=bytes(builder.Output()),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        details = it.get_input_details()
        for d, old in zip(details, inputs):
            if list(d["shape"]) != list(feed[old].shape):
                it.resize_tensor_input(d["index"], feed[old].shape)
        it.allocate_tensors()
        for d, old in zip(it.get_input_details(), inputs):
            it.set_tensor(d["index"], quantize(feed[old], d["dtype"], quantization.get(old)))
        it.invoke()
        out = it.get_output_details()[0]
        return it.get_tensor(out["index"]).copy()
    except Exception as e:
        raise LayerError(f"the layer alone does not run in LiteRT ({first_line(e, 160)})") from None


def quantize(value: np.ndarray, dtype, q: dict | None) -> np.ndarray:
    """A float value for an int8/uint8 tensor, with its (single) scale and zero point."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and value.dtype.kind == "f" and q is not None and len(q.get("scales", [])) == 1:
        info = np.iinfo(dtype)
        q_value = np.round(value.astype(np.float64) / q["scales"][0]) + q["zero_points"][0]
        return np.clip(q_value, info.min, info.max).astype(dtype)
    return value.astype(dtype, copy=False)


def write_repro(folder: str, layer, inputs: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    """`layer` and one test case in the ONNX backend-test layout: model.onnx and
    test_data_set_0/input_K.pb, output_K.pb (TensorProtos named after the model's inputs and
    outputs), which onnx's and ONNX Runtime's test runners read as they are."""
    import os

    import onnx
    from onnx import numpy_helper

    os.makedirs(os.path.join(folder, "test_data_set_0"))
    onnx.save(layer, os.path.join(folder, "model.onnx"))
    for kind, values in (("input", inputs), ("output", expected)):
        for k, (name, value) in enumerate(values.items()):
            with open(os.path.join(folder, "test_data_set_0", f"{kind}_{k}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(np.ascontiguousarray(value), name).SerializeToString())
