"""Faults injected on purpose into converted models, for `modelport locate`'s tests: each leaves a
model that loads and runs with the same signature, wrong in one known place.

- nudge_onnx_weight: one initializer of one node moved by `delta` (a weight nudged in one Conv);
- insert_tflite_transpose: a TRANSPOSE that swaps H and W of one square NHWC tensor, put between
  its producer and its consumers (shapes still fit: only the values tell);
- scale_tflite_quantization: one int8 tensor's scale multiplied (a broken requantisation).
"""

from __future__ import annotations

import copy

import numpy as np


def nudge_onnx_weight(path: str, out: str, op_type: str, index: int, delta: float = 0.5) -> str:
    """The `index`-th node of `op_type`'s weight (its second input) nudged at one element; returns
    the name of that node's output."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    node = [n for n in model.graph.node if n.op_type == op_type][index]
    init = next(i for i in model.graph.initializer if i.name == node.input[1])
    value = numpy_helper.to_array(init).copy()
    value.flat[int(np.argmax(np.abs(value)))] += delta
    init.CopyFrom(numpy_helper.from_array(value, init.name))
    onnx.save(model, out)
    return node.output[0]


def _load(path: str):
    from ai_edge_litert import schema_py_generated as schema

    with open(path, "rb") as f:
        return schema.ModelT.InitFromPackedBuf(f.read(), 0)


def _save(model_t, out: str) -> None:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model_t.Pack(builder), file_identifier=b"TFL3")
    with open(out, "wb") as f:
        f.write(bytes(builder.Output()))


def _name(t) -> str:
    return t.name.decode() if isinstance(t.name, bytes) else (t.name or "")


def insert_tflite_transpose(path: str, out: str, tensor: str) -> str:
    """After the op that writes `tensor` (rank 4, NHWC, H == W), a TRANSPOSE [0, 2, 1, 3] whose
    output its consumers read instead. Returns the name of the inserted tensor."""
    from ai_edge_litert import schema_py_generated as schema

    model = _load(path)
    sg = model.subgraphs[0]
    idx = next(i for i, t in enumerate(sg.tensors) if _name(t) == tensor)
    shape = list(sg.tensors[idx].shape)
    assert len(shape) == 4 and shape[1] == shape[2], f"{tensor} {shape}: not a square NHWC tensor"
    # the permutation as a constant int32 tensor
    perm_buffer = schema.BufferT()
    perm_buffer.data = np.array([0, 2, 1, 3], np.int32).tobytes()
    model.buffers.append(perm_buffer)
    perm = schema.TensorT()
    perm.shape, perm.type, perm.name, perm.buffer = [4], schema.TensorType.INT32, b"injected_perm", len(model.buffers) - 1
    wrong = copy.copy(sg.tensors[idx])
    wrong.name, wrong.buffer = (tensor + "_wrong_transpose").encode(), 0
    sg.tensors += [perm, wrong]
    perm_i, wrong_i = len(sg.tensors) - 2, len(sg.tensors) - 1
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.TRANSPOSE
    code.version = 1
    model.operatorCodes.append(code)
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = len(model.operatorCodes) - 1, [idx, perm_i], [wrong_i]
    op.builtinOptionsType = schema.BuiltinOptions.TransposeOptions
    op.builtinOptions = schema.TransposeOptionsT()
    producer = next(k for k, o in enumerate(sg.operators) if idx in list(o.outputs))
    for o in sg.operators:
        o.inputs = [wrong_i if i == idx else i for i in o.inputs]
    sg.outputs = [wrong_i if i == idx else i for i in sg.outputs]
    sg.operators.insert(producer + 1, op)
    _save(model, out)
    return _name(wrong)


def scale_tflite_quantization(path: str, out: str, tensor: str, factor: float) -> None:
    """`tensor`'s quantization scale(s) multiplied by `factor`: what it stores now means other values."""
    model = _load(path)
    t = next(t for t in model.subgraphs[0].tensors if _name(t) == tensor)
    t.quantization.scale = [s * factor for s in t.quantization.scale]
    _save(model, out)
