"""Run ONNX backend node tests through the ONNX -> PyTorch converter (the coverage script and the
test suite share this).

The onnx package ships `onnx/backend/test/data/node/<test>/model.onnx` with input and expected
output `.pb` files. A test passes when the converted module's outputs match: allclose with atol
1e-4 and rtol 1e-3 for floats (same dtype), exact for integers and booleans, shapes equal.

Types torch lacks (int4, uint4, int2, uint2, float4e2m1, float8e8m0: ml_dtypes arrays in numpy) travel
as their carriers (dtypes.py): inputs are given as the carrier tensors, and an output must be the carrier
dtype holding exactly the expected values (float4e2m1 and float8e8m0 compared as float32 values, NaN
equal to NaN).
"""

from __future__ import annotations

import os
import re
import tempfile

MUST_PASS = ["Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid",
             "Tanh", "Gelu", "Erf", "Softmax", "LogSoftmax", "BatchNormalization", "LayerNormalization",
             "InstanceNormalization", "MaxPool", "AveragePool", "GlobalAveragePool", "Reshape", "Flatten", "Transpose",
             "Concat", "Split", "Slice", "Gather", "Squeeze", "Unsqueeze", "ReduceMean", "ReduceSum", "ReduceMax", "Pad",
             "Resize", "Clip", "Cast", "Shape", "Expand", "Where", "Pow", "Sqrt", "Identity", "Dropout"]


def node_tests_dir() -> str:
    """The onnx package's node tests, or $MODELPORT_ONNX_NODE_TESTS (for an onnx install that lacks
    its test data, as on the GPU machine: scripts/gpu_check.sh carries them there)."""
    import onnx

    return os.environ.get("MODELPORT_ONNX_NODE_TESTS") or \
        os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")


def _snake(op: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()


def operator_of(name: str, model, known_ops: list[str]) -> str:
    ops = {n.op_type for n in model.graph.node}
    if len(ops) == 1:
        return next(iter(ops))
    stem = name[len("test_"):]
    best = max((op for op in known_ops if stem.startswith(_snake(op))), key=lambda op: len(_snake(op)), default=None)
    return best or "(multi-node)"


def _load_pb(path: str, type_proto=None):
    """A tensor (numpy), a sequence (list) or an optional (value or None) from a test's .pb file,
    read as the graph declares the value (the bytes alone do not say which message they hold)."""
    import onnx
    from onnx import numpy_helper

    with open(path, "rb") as f:
        data = f.read()
    kind = type_proto.WhichOneof("value") if type_proto is not None else "tensor_type"
    if kind == "sequence_type":
        seq = onnx.SequenceProto()
        seq.ParseFromString(data)
        return numpy_helper.to_list(seq)
    if kind == "optional_type":
        opt = onnx.OptionalProto()
        opt.ParseFromString(data)
        return numpy_helper.to_optional(opt)
    if kind != "tensor_type":
        raise TypeError(f"a {kind} value")
    t = onnx.TensorProto()
    t.ParseFromString(data)
    return numpy_helper.to_array(t)


def _to_torch(value):
    import numpy as np
    import torch

    if value is None:
        return None
    if isinstance(value, list):
        return [_to_torch(v) for v in value]
    from modelport.converters.onnx_torch.dtypes import BIT_VIEWS, NUMPY_CARRIED, tensor_of

    arr = np.asarray(value)
    if arr.dtype.name in BIT_VIEWS or arr.dtype.name in NUMPY_CARRIED:  # bit views; carriers (dtypes.py)
        return tensor_of(arr)
    return torch.from_numpy(np.array(arr))


def _to_device(value, device: str):
    if isinstance(value, list):
        return [_to_device(v, device) for v in value]
    return value.to(device) if value is not None and device != "cpu" else value


def _to_cpu(value):
    import torch

    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value.cpu() if isinstance(value, torch.Tensor) else value


def _compare(got, want, where: str) -> str | None:
    """None when equal under the rule of the module docstring, else why not."""
    import numpy as np
    import torch

    from modelport.converters.onnx_torch.dtypes import BIT_VIEWS, NUMPY_CARRIED, carrier_array

    if want is None or isinstance(want, list):
        if isinstance(want, list) != isinstance(got, (list, tuple)) or (want is None) != (got is None):
            return f"{where}: expected {'a sequence' if isinstance(want, list) else 'no value'}, got {type(got).__name__}"
        if want is None:
            return None
        if len(got) != len(want):
            return f"{where}: sequence of {len(got)}, expected {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            why = _compare(g, w, f"{where}[{i}]")
            if why:
                return why
        return None
    if isinstance(got, torch.Tensor):
        got = got.detach()
        got = got.float().numpy() if got.dtype in (torch.bfloat16, *[getattr(torch, v) for _, v in BIT_VIEWS.values()]) \
            else got.numpy()
    got = np.asarray(got)
    want = np.asarray(want)
    if want.dtype.name in NUMPY_CARRIED:  # the carrier's dtype, holding the values exactly
        carried, want = want.dtype.name, carrier_array(want)
        if got.shape != want.shape:
            return f"{where}: shape {list(got.shape)} != {list(want.shape)}"
        if got.dtype != want.dtype:
            return f"{where}: dtype {got.dtype} != {want.dtype} (the carrier of {carried})"
        if not np.array_equal(got, want, equal_nan=want.dtype.kind == "f"):
            return f"{where}: values differ"
        return None
    if want.dtype.name in BIT_VIEWS:  # compared as float32 values, as ONNX defines their meaning
        want = want.astype(np.float32)
        got = got.astype(np.float32)
    if got.shape != want.shape:
        return f"{where}: shape {list(got.shape)} != {list(want.shape)}"
    if want.dtype.kind in "fc":
        if got.dtype != want.dtype:
            return f"{where}: dtype {got.dtype} != {want.dtype}"
        if not np.allclose(got, want, atol=1e-4, rtol=1e-3, equal_nan=True):
            return f"{where}: max abs {np.nanmax(np.abs(got.astype(np.float64) - want)):.3g}"
        return None
    if got.dtype.kind != want.dtype.kind or not np.array_equal(got.astype(want.dtype), want):
        return f"{where}: values or dtype differ ({got.dtype} vs {want.dtype})"
    return None


def _as_package(gm, model, scratch: str):
    """The module as the package output writes it, loaded back from its folder (form='package')."""
    from modelport.converters.onnx_torch.package import write
    from modelport.torch_modules import load_package

    init = {t.name for t in model.graph.initializer}
    placeholders = [n.target for n in gm.graph.nodes if n.op == "placeholder"]
    inputs = [(p, [], "") for p, v in zip(placeholders, [v for v in model.graph.input if v.name not in init])]
    folder = os.path.join(scratch, "pkg")
    write(gm, folder, source="model.onnx", doc="A node test.", inputs=inputs,
          outputs=[o.name for o in model.graph.output])
    return load_package(folder)[0]


def run_test(folder: str, form: str = "fx", device: str = "cpu", converter=None) -> tuple[str, str]:
    """(status, detail): status is pass, unsupported, convert, run, mismatch or io. `form` is what
    runs: the fx GraphModule, or the Python package written from it and imported back; `device`
    where it runs (inputs are moved there, outputs back to the CPU). `converter` replaces
    modelport's (ModelProto -> torch module), to measure another converter on the same tests; its
    NotImplementedError counts as an unsupported operator."""
    import onnx
    import torch

    from modelport.converters.onnx_torch import UnsupportedOperators, to_fx

    model = onnx.load(os.path.join(folder, "model.onnx"))
    try:
        inputs, expected = load_test_data(folder, model)
    except Exception as e:  # a map, or a value numpy cannot hold (4-bit types)
        return "io", f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    try:
        if converter is not None:
            try:
                gm = converter(model)
            except NotImplementedError as e:
                return "unsupported", str(e).splitlines()[0][:200] if str(e) else "NotImplementedError"
        else:
            gm = to_fx(model)
        if form == "package":
            with tempfile.TemporaryDirectory() as scratch:
                gm = _as_package(gm, model, scratch)
    except UnsupportedOperators as e:
        return "unsupported", e.message
    except Exception as e:
        return "convert", f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    try:
        gm = gm.to(device)
        with torch.no_grad():
            out = _to_cpu(gm(*[_to_device(_to_torch(x), device) for x in inputs]))
    except Exception as e:
        return "run", f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    why = compare_outputs(out, expected)
    return ("mismatch", why) if why else ("pass", "")


def load_test_data(folder: str, model) -> tuple[list, list]:
    """(inputs, expected outputs) of a node test's test_data_set_0, as numpy values (lists for
    sequences, None for empty optionals), typed by the model's graph inputs and outputs."""
    data = os.path.join(folder, "test_data_set_0")
    init = {t.name for t in model.graph.initializer}
    in_types = [v.type for v in model.graph.input if v.name not in init]
    out_types = [v.type for v in model.graph.output]
    files = sorted(os.listdir(data), key=lambda f: (f.split("_")[0], int(re.sub(r"\D", "", f) or 0)))
    inputs = [_load_pb(os.path.join(data, f), t) for f, t in zip([f for f in files if f.startswith("input_")], in_types)]
    expected = [_load_pb(os.path.join(data, f), t) for f, t in zip([f for f in files if f.startswith("output_")], out_types)]
    return inputs, expected


def to_torch(value):
    """A test value as the module takes it (tensors, lists of tensors, None)."""
    return _to_torch(value)


def compare_outputs(out, expected: list) -> str | None:
    """None when the module's outputs match the expected ones (the rule of run_test), else why not."""
    outs = list(out) if isinstance(out, tuple) or (len(expected) > 1 and isinstance(out, list)) else [out]
    if len(outs) != len(expected):
        return f"{len(outs)} outputs, expected {len(expected)}"
    for i, (got, want) in enumerate(zip(outs, expected)):
        why = _compare(_to_cpu(got), want, f"output {i}")
        if why:
            return why
    return None
