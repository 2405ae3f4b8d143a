"""ONNX -> PyTorch: the ONNX backend node tests of the operators modelport must cover fully, round
trips of every fixture, the output formats, trainability, and unsupported operators."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from conftest import FIXTURES, assert_one_line_error, run_cli, shape_args
from modelport.converters.onnx_torch import UnsupportedOperators, to_fx
from modelport.converters.onnx_torch.conformance import MUST_PASS, node_tests_dir, operator_of, run_test

MODELS_PY = str(FIXTURES / "models.py")


def _must_pass_tests() -> list[str]:
    known = sorted({s.name for s in onnx.defs.get_all_schemas()})
    root = node_tests_dir()
    names = []
    for name in sorted(os.listdir(root)):
        model = onnx.load(os.path.join(root, name, "model.onnx"), load_external_data=False)
        if operator_of(name, model, known) in MUST_PASS:
            names.append(name)
    return names


# Node tests of must-pass operators that cannot pass, each with its reason (strict: one that starts
# passing must be moved out of this list). None left: the sub-byte types are carried in int8 /
# uint8 / float32, and seeded training-mode Dropout draws its mask as the reference does.
KNOWN_GAPS: list[tuple[re.Pattern, str]] = []


def _param(name: str):
    why = next((why for pattern, why in KNOWN_GAPS if pattern.search(name)), None)
    return pytest.param(name, marks=pytest.mark.xfail(reason=why, strict=True)) if why else name


@pytest.mark.parametrize("form", ["fx", "package"])
@pytest.mark.parametrize("name", [_param(n) for n in _must_pass_tests()])
def test_node_test_of_a_must_pass_operator(name, form):
    """Each test as the converted fx module, and as the Python package written from it and imported
    back (the helpers copied into model.py must behave as the converter's own)."""
    status, detail = run_test(os.path.join(node_tests_dir(), name), form)
    assert status == "pass", f"{name}: {status}: {detail}"


@pytest.mark.parametrize("model", ["cnn", "encoder", "two_io"])  # the MLP's ONNX -> PyTorch: test_converted_module_is_trainable...
def test_round_trip_pytorch_onnx_pytorch_passes_fp32(model, tmp_path):
    """models.py:X -> onnx -> pytorch (.pt2), validated against the PyTorch source at fp32."""
    out = tmp_path / f"{model}.pt2"
    res = run_cli("convert", f"{MODELS_PY}:{model}", "--to", "pytorch", "--via", "onnx", "-o", out, *shape_args(model),
                  "--json")
    assert res.code == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["route"] == "pytorch -> onnx -> pytorch" and report["validation"]["passed"]
    assert all(o["passed"] for c in report["validation"]["candidates"] for o in c["outputs"])
    ep = torch.export.load(str(out))  # a user loads it with torch alone
    assert isinstance(ep.module(), torch.nn.Module)


def test_onnx_file_to_torchscript_and_exported_program(tmp_path):
    for fmt, name in (("torchscript", "cnn.pt"), (None, "cnn.pt2")):
        args = ["--pytorch-format", fmt] if fmt else []
        res = run_cli("convert", FIXTURES / "onnx" / "cnn.onnx", "--to", "pytorch", "-o", tmp_path / name, *args)
        assert res.code == 0, res.stderr
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32))
    a = torch.jit.load(str(tmp_path / "cnn.pt"))(x)
    b = torch.export.load(str(tmp_path / "cnn.pt2")).module()(x)
    torch.testing.assert_close(a, b)


def test_converted_module_is_trainable_with_named_weights():
    gm = to_fx(onnx.load(FIXTURES / "onnx" / "mlp.onnx"))
    params = dict(gm.named_parameters())
    assert params and all(p.requires_grad for p in params.values())
    x = torch.randn(4, 20)
    loss = gm(x).square().mean()
    loss.backward()
    assert all(p.grad is not None for p in params.values())
    init_names = {t.name for t in onnx.load(FIXTURES / "onnx" / "mlp.onnx").graph.initializer}
    assert any(n.replace(".", "_") in params or n in params for n in init_names)


def _model_with(nodes, opset=18):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("com.example", 1)])


def test_unsupported_operators_are_all_listed_and_nothing_is_written(tmp_path):
    model = _model_with([helper.make_node("Relu", ["x"], ["a"]),
                         helper.make_node("Frobnicate", ["a"], ["b"], domain="com.example"),
                         helper.make_node("Wobble", ["b"], ["c"], domain="com.example")])
    with pytest.raises(UnsupportedOperators) as e:
        to_fx(model)
    assert "Frobnicate (com.example opset 1)" in e.value.message and "Wobble (com.example opset 1)" in e.value.message
    path = tmp_path / "custom.onnx"
    onnx.save(model, path)
    res = run_cli("convert", path, "--to", "pytorch", "-o", tmp_path / "out.pt2")
    assert_one_line_error(res, 3, "Frobnicate", "Wobble", "2 operator(s)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["custom.onnx"]


def test_versions_follow_the_models_opset():
    """Softmax before opset 13 flattens to 2-D at `axis`; from 13 it works along `axis` alone."""
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    outs = {}
    for opset in (11, 13):
        model = _model_with([helper.make_node("Softmax", ["x"], ["y"], axis=1)], opset)
        model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 3
        model.graph.input[0].type.tensor_type.shape.dim.add().dim_value = 4
        outs[opset] = to_fx(model)(torch.from_numpy(x)).numpy()
    flat = np.exp(x.reshape(2, 12)) / np.exp(x.reshape(2, 12)).sum(1, keepdims=True)
    np.testing.assert_allclose(outs[11], flat.reshape(2, 3, 4), rtol=1e-5)
    np.testing.assert_allclose(outs[13], np.exp(x) / np.exp(x).sum(1, keepdims=True), rtol=1e-5)


def test_tflite_routes_through_onnx_to_torchscript(tmp_path):
    """tflite -> onnx (tf2onnx) -> pytorch: names made identifiers, validated against the TFLite source."""
    res = run_cli("convert", FIXTURES / "tflite" / "keras_cnn.tflite", "--to", "pytorch", "--pytorch-format",
                  "torchscript", "-o", tmp_path / "kc.pt", "--json")
    assert res.code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["route"] == "tflite -> onnx -> pytorch" and report["validation"]["passed"]
    assert report["io_map"]["inputs"][0]["artifact"] == "serving_default_image_0"
    assert isinstance(torch.jit.load(str(tmp_path / "kc.pt")), torch.jit.ScriptModule)


def test_batchnorm_statistics_are_buffers_and_the_module_exports():
    """Running mean/variance are state (buffers), as in torch.nn.BatchNorm2d; as parameters they
    would stop torch.export (DenseNet-121 from the ONNX model zoo failed that way)."""
    rng = np.random.default_rng(0)
    inits = [onnx.numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), n) for n in ("scale", "bias", "mean")]
    inits.append(onnx.numpy_helper.from_array(rng.uniform(0.5, 2, 3).astype(np.float32), "var"))
    node = helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])
    model = helper.make_model(helper.make_graph([node], "bn", [x], [y], inits), opset_imports=[helper.make_opsetid("", 15)])
    gm = to_fx(model)
    assert set(dict(gm.named_parameters())) == {"scale", "bias"} and {"mean", "var"} <= set(dict(gm.named_buffers()))
    ep = torch.export.export(gm.eval(), (torch.randn(1, 3, 4, 4),))
    assert isinstance(ep.module(), torch.nn.Module)


def test_exported_program_keeps_dynamic_dims_where_torch_export_can(tmp_path):
    """cnn.onnx's batch stays dynamic in the .pt2; the encoder's sequence length, which its shape
    arithmetic reads from tensor values, is fixed to the example size, and a note says why."""
    import onnxruntime as ort

    res = run_cli("convert", FIXTURES / "onnx" / "cnn.onnx", "--to", "pytorch", "-o", tmp_path / "cnn.pt2", "--json")
    assert res.code == 0, res.stderr
    assert "dynamic dims kept: image[0]" in json.loads(res.stdout)["steps"][0]["notes"]
    module = torch.export.load(str(tmp_path / "cnn.pt2")).module()
    session = ort.InferenceSession(str(FIXTURES / "onnx" / "cnn.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 32, 32)).astype(np.float32)
        np.testing.assert_allclose(module(torch.from_numpy(x)).detach().numpy(), session.run(None, {"image": x})[0],
                                   atol=1e-5, rtol=1e-4)
    res = run_cli("convert", FIXTURES / "onnx" / "encoder.onnx", "--to", "pytorch", "-o", tmp_path / "enc.pt2",
                  "--input-shape", "input_ids:1,seq=16", "--json")
    assert res.code == 0, res.stderr
    notes = json.loads(res.stdout)["steps"][0]["notes"]
    assert any(n.startswith("dynamic dims could not stay dynamic in torch.export") for n in notes)
    assert "dynamic dims fixed to the example sizes: input_ids=[1, 16]" in notes


def test_savedmodel_to_exported_program_validates_beside_tensorflow(tmp_path):
    """savedmodel -> onnx -> .pt2: one validation process runs TensorFlow and torch.export.load,
    whose triton import crashed (SIGSEGV) after TensorFlow's until torch's side went first."""
    res = run_cli("convert", FIXTURES / "savedmodel" / "keras_cnn", "--to", "pytorch", "-o", tmp_path / "ks.pt2",
                  "--json")
    assert res.code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["route"] == "savedmodel -> onnx -> pytorch" and report["validation"]["passed"]


# --- shapes decided by input values: TorchScript would freeze them -------------------------------

def _topk_model(k_from_input: bool, through_shape: bool = False):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])
    outs = [helper.make_tensor_value_info("values", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("indices", TensorProto.INT64, None)]
    inputs, inits, nodes = [x], [], []
    if through_shape:  # k = the last dim of x, read through Shape: a shape, not a value
        nodes += [helper.make_node("Shape", ["x"], ["s"], start=-1), helper.make_node("Identity", ["s"], ["k"])]
    elif k_from_input:
        inputs.append(helper.make_tensor_value_info("kk", TensorProto.INT64, [1]))
        nodes.append(helper.make_node("Add", ["kk", "one"], ["k"]))  # through an op: the value still flows
        inits.append(helper.make_tensor("one", TensorProto.INT64, [1], [1]))
    else:
        inits.append(helper.make_tensor("k", TensorProto.INT64, [1], [2]))
    nodes.append(helper.make_node("TopK", ["x", "k"], ["values", "indices"], name="topk"))
    return helper.make_model(helper.make_graph(nodes, "g", inputs, outs, inits), opset_imports=[helper.make_opsetid("", 18)])


def test_value_decided_operands_follow_values_not_shapes():
    from modelport.converters.onnx_value_decided import value_decided

    found = value_decided(_topk_model(k_from_input=True))
    assert [(f.source, f.op, f.operand) for f in found] == [("kk", "TopK", 1)]
    assert "input 'kk' decides operand 1 ('k') of TopK node 'topk'" == found[0].describe()
    assert value_decided(_topk_model(k_from_input=False)) == []  # an initializer is the model's own value
    assert value_decided(_topk_model(k_from_input=False, through_shape=True)) == []


@pytest.mark.parametrize("sampling_ratio, decided", [(0, True), (2, False)])
def test_roi_align_boxes_decide_only_an_adaptive_grid(sampling_ratio, decided):
    """A fixed grid is computed from the boxes as tensors (traced right); an adaptive one is sized
    from their values in Python (a trace would freeze it)."""
    from modelport.converters.onnx_value_decided import value_decided

    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8]),
              helper.make_tensor_value_info("rois", TensorProto.FLOAT, [3, 4]),
              helper.make_tensor_value_info("batch", TensorProto.INT64, [3])]
    node = helper.make_node("RoiAlign", ["x", "rois", "batch"], ["y"], output_height=2, output_width=2,
                            sampling_ratio=sampling_ratio)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([node], "g", inputs, [y]), opset_imports=[helper.make_opsetid("", 16)])
    assert bool(value_decided(model)) is decided


def test_torchscript_refuses_a_shape_decided_by_an_input_value(tmp_path):
    """ONNX's test_top_k_same_values_2d takes k as an input: a trace would keep the example's k (it
    once wrote an artifact giving [3, 0] for k=3). Refused once, with the input named; the package
    (eager code) is the way, and the other preparations are not tried for nothing."""
    model = os.path.join(node_tests_dir(), "test_top_k_same_values_2d", "model.onnx")
    res = run_cli("convert", model, "--to", "pytorch", "--pytorch-format", "torchscript", "-o", tmp_path / "m.pt",
                  "--json")
    assert res.code == 3, res.stderr
    assert not (tmp_path / "m.pt").exists()
    report = json.loads(res.stdout)
    assert "input 'k' decides operand 1 ('k') of TopK" in report["error"] and "--pytorch-format package" in report["error"]
    outcomes = [a["outcome"] for a in report["attempts"]]
    assert outcomes[0] == "failed" and set(outcomes[1:]) == {"not tried"}
