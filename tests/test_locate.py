"""`modelport locate`: faults injected on purpose, each named as the first divergence.

- PyTorch -> ONNX: one Conv's weight nudged in a converted ONNX file;
- ONNX -> TFLite: a TRANSPOSE that swaps H and W inserted into a converted TFLite graph (shapes
  still fit; only values tell);
- PyTorch: a layer that behaves differently in training mode, exported by hand in training mode
  (an ONNX file without a manifest, matched by name).
A correct conversion reports no divergence; bad input is one line and exit 2. The faults are made
by tests/locate_faults.py; each run goes through the CLI as a user runs it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, assert_one_line_error, run_cli, shape_args
from locate_faults import insert_tflite_transpose, nudge_onnx_weight

F = str(FIXTURES)
CNN_ONNX = f"{F}/onnx/cnn.onnx"
MODELS = f"{F}/models.py"


def _copy(artifact: Path, dest: Path, manifest: bool = True) -> Path:
    shutil.copy(artifact, dest)
    if manifest:
        shutil.copy(str(artifact) + ".modelport.json", str(dest) + ".modelport.json")
    return dest


def _report(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def cnn_onnx_from_torch(artifacts):
    return artifacts(f"{MODELS}:cnn", "onnx", *shape_args("cnn"), "--no-validate", name="cnn_dynamo")


def test_correct_conversions_report_no_divergence(cnn_onnx_from_torch, artifacts, tmp_path):
    tflite = artifacts(CNN_ONNX, "tflite", "--no-validate", name="cnn_plain")
    for source, artifact, extra in [(f"{MODELS}:cnn", cnn_onnx_from_torch, shape_args("cnn")), (CNN_ONNX, tflite, [])]:
        res = run_cli("locate", source, artifact, *extra, "--json", tmp_path / "r.json")
        assert res.code == 0, res.stdout + res.stderr
        assert "no divergence: every compared tensor matches the source" in res.stdout
        report = _report(tmp_path / "r.json")
        inside = [t for t in report["tensors"] if not t["how"].startswith("I/O map")]
        assert len(inside) >= 4 and all(t["passed"] for t in report["tensors"]), report["tensors"]
        assert report["first"] is None and report["outputs_passed"]


def test_a_nudged_conv_weight_in_the_onnx_is_the_first_divergence(cnn_onnx_from_torch, tmp_path):
    bad = _copy(cnn_onnx_from_torch, tmp_path / "cnn.onnx")
    nudged = nudge_onnx_weight(str(bad), str(bad), "Conv", 1)  # the second conv (features.4, its BN folded in)
    res = run_cli("locate", f"{MODELS}:cnn", bad, *shape_args("cnn"), "--json", tmp_path / "r.json",
                  "--model-explorer", tmp_path / "me.json", "--repro", tmp_path / "repro")
    assert res.code == 1, res.stdout + res.stderr
    # the repro: the artifact's nudged node alone, fed the source's values, fails its own test case
    model, inputs, expected = _read_repro(tmp_path / "repro")
    assert [n.op_type for n in model.graph.node] == ["Conv"], model.graph.node
    assert np.abs(_run_onnx(tmp_path / "repro" / "model.onnx", inputs) - expected).max() > 0.01
    report = _report(tmp_path / "r.json")
    assert report["first"] == nudged and report["divergences"] == [nudged], report["divergences"]
    first = next(t for t in report["tensors"] if t["source"] == nudged)
    assert first["candidate_op"] == "Conv" and first["module"].startswith("features.5 (BatchNorm2d)"), first
    # upstream passes, downstream inherits (and is not reported as a divergence of its own)
    statuses = {t["source"]: t["status"] for t in report["tensors"]}
    assert statuses["getitem"] == "ok" and statuses["relu_1"] == "inherits" and statuses["linear"] == "inherits"
    assert f"first divergence: {nudged}" in res.stdout and "FIRST DIVERGENCE" in res.stdout
    overlay = _report(tmp_path / "me.json")
    assert overlay["results"][first["candidate"]]["bgColor"] and overlay["results"][first["candidate"]]["value"] > 1
    assert overlay["results"]["getitem"]["value"] <= 1 and overlay["thresholds"][0]["value"] == 1


def test_a_wrong_transpose_in_the_tflite_is_found_and_its_layer_fails_alone(artifacts, tmp_path):
    tflite = artifacts(CNN_ONNX, "tflite", "--no-validate", name="cnn_plain")
    good = _report_of(run_cli("locate", CNN_ONNX, tflite, "--json", tmp_path / "good.json"), tmp_path / "good.json")
    # the first conv's output in the TFLite (the ONNX Relu after it, fused), a square NHWC tensor
    relu = next(t for t in good["tensors"] if t["source"] == "relu")
    assert relu["layout"] == "NCHW->NHWC" and relu["candidate_shape"][1] == relu["candidate_shape"][2], relu
    bad = _copy(tflite, tmp_path / "cnn.tflite")
    inserted = insert_tflite_transpose(str(bad), str(bad), relu["candidate"])
    res = run_cli("locate", CNN_ONNX, bad, "--mode", "local", "--json", tmp_path / "r.json", "--repro", tmp_path / "repro")
    assert res.code == 1, res.stdout + res.stderr
    report = _report(tmp_path / "r.json")
    # the repro: the source's own nodes for that layer, with the source's values (its test case passes
    # in ONNX Runtime: converted along the same route, a converter's bug would show there)
    model, inputs, expected = _read_repro(tmp_path / "repro")
    assert [i.name for i in model.graph.input] == ["relu"] and model.graph.output[0].name == report["first"]
    assert np.abs(_run_onnx(tmp_path / "repro" / "model.onnx", inputs) - expected).max() < 1e-5
    order = [t["source"] for t in report["tensors"]]
    first = next(t for t in report["tensors"] if t["source"] == report["first"])
    # the first compared tensor after the insertion, whose layer (alone, on the source's values) holds it
    assert order.index(report["first"]) == order.index("relu") + 1 + (order[order.index("relu") + 1] == "max_pool2d"), order
    assert first["local"]["passed"] is False and any("TRANSPOSE" in op for op in first["local"]["layer"]), first
    assert report["divergences"] == [report["first"]], report["divergences"]  # every later layer passes alone
    assert next(t for t in report["tensors"] if t["source"] == "relu")["status"] == "ok"
    assert inserted.startswith(relu["candidate"])


def test_an_int8_tflite_with_a_broken_scale_is_found_by_structure(artifacts, tmp_path):
    """onnx -> savedmodel -> tflite: TFLiteConverter keeps no ONNX names, so tensors are paired by
    structure (weights' shapes, op order); int8 tensors are judged by their relative RMS error,
    told in quantization scales too. One conv's filter scale times 1.5 is that conv's layer."""
    from ai_edge_litert import schema_py_generated as schema

    from locate_faults import scale_tflite_quantization

    int8 = artifacts(CNN_ONNX, "tflite", "--quantize", "int8", "--calibration-data",
                     f"{F}/calibration/cnn_calibration.npz", "--no-validate", name="cnn_int8_plain")
    res = run_cli("locate", CNN_ONNX, int8, "--json", tmp_path / "good.json")
    good = _report_of(res, tmp_path / "good.json")
    assert "paired by structure" in good["correspondence"] and good["precision"] == "int8", good["correspondence"]
    paired = {t["source"]: t["candidate_op"] for t in good["tensors"]}
    assert paired.get("relu") == "CONV_2D" and paired.get("relu_1") == "CONV_2D" and paired.get("max_pool2d") == "MAX_POOL_2D"
    with open(int8, "rb") as f:
        graph = schema.Model.GetRootAsModel(f.read(), 0).Subgraphs(0)
    second = next(k for k in range(graph.OperatorsLength()) if graph.Tensors(int(graph.Operators(k).OutputsAsNumpy()[0]))
                  .Name().decode() == next(t["candidate"] for t in good["tensors"] if t["source"] == "relu_1"))
    weight = graph.Tensors(int(graph.Operators(second).InputsAsNumpy()[1])).Name().decode()
    bad = _copy(int8, tmp_path / "bad.tflite")
    scale_tflite_quantization(str(bad), str(bad), weight, 1.5)
    res = run_cli("locate", CNN_ONNX, bad, "--mode", "local", "--json", tmp_path / "r.json")
    assert res.code == 1, res.stdout + res.stderr
    report = _report(tmp_path / "r.json")
    first = next(t for t in report["tensors"] if t["source"] == report["first"])
    assert report["first"] == "relu_1" and first["candidate_node"] == f"op {second}", first
    assert first["local"]["passed"] is False and "quantization scales RMS" in first["local"]["reason"], first["local"]
    assert report["divergences"] == ["relu_1"]


def test_a_nudged_kernel_in_a_savedmodel_is_found_by_structure(artifacts, tmp_path):
    """onnx -> savedmodel: the signature frozen (its function inlined) and its tensors fetched by a
    pruned function; TensorFlow's op names are not ONNX's, so tensors pair by structure, an ONNX
    Conv with the BiasAdd after TensorFlow's Conv2D. The corpus's SavedModel mutant (its largest
    kernel, here the second conv's, nudged by +-1e-2) is named at that conv."""
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT))
    from benchmarks.zoo.mutants import mutate_savedmodel

    saved = artifacts(CNN_ONNX, "savedmodel", "--no-validate", name="cnn_plain")
    good = _report_of(run_cli("locate", CNN_ONNX, saved, "--json", tmp_path / "good.json"), tmp_path / "good.json")
    paired = {t["source"]: t["candidate_op"] for t in good["tensors"]}
    assert paired.get("getitem_3") == "BiasAdd" and paired.get("relu_1") == "Relu" and paired.get("output") == "BiasAdd"
    mutant = tmp_path / "mutant_sm"
    nudged = mutate_savedmodel(str(saved), str(mutant))
    shutil.copy(str(saved) + ".modelport.json", str(mutant) + ".modelport.json")
    res = run_cli("locate", CNN_ONNX, mutant, "--mode", "local", "--json", tmp_path / "r.json")
    assert res.code == 1, res.stdout + res.stderr
    report = _report(tmp_path / "r.json")
    first = next(t for t in report["tensors"] if t["source"] == report["first"])
    assert report["first"] == "getitem_3" and report["divergences"] == ["getitem_3"], (nudged, report["divergences"])
    assert first["local"]["passed"] is False and any(op.startswith("Conv2D") for op in first["local"]["layer"]), first


def test_a_savedmodel_source_is_followed_into_its_onnx_by_tensor_name(artifacts, tmp_path):
    """savedmodel -> onnx (tf2onnx): the ONNX values keep TensorFlow's tensor names, the convs run
    channel-first between Transposes (layout NHWC->NCHW, settled by the shapes), and the BiasAdd
    after TensorFlow's conv folds into the ONNX Conv. A nudged Conv weight is named there."""
    onnx_path = artifacts(f"{F}/savedmodel/keras_cnn", "onnx", "--no-validate", name="keras_cnn_plain")
    good = _report_of(run_cli("locate", f"{F}/savedmodel/keras_cnn", onnx_path, "--json", tmp_path / "good.json"),
                      tmp_path / "good.json")
    assert good["correspondence"].startswith("along the route savedmodel -> onnx")
    relu = next(t for t in good["tensors"] if t["source"].endswith("conv1_1/Relu:0"))
    assert relu["candidate"] == relu["source"] and relu["layout"] == "NHWC->NCHW", relu
    bad = _copy(onnx_path, tmp_path / "bad.onnx")
    nudged = nudge_onnx_weight(str(bad), str(bad), "Conv", 1)
    res = run_cli("locate", f"{F}/savedmodel/keras_cnn", bad, "--json", tmp_path / "r.json")
    assert res.code == 1, res.stdout + res.stderr
    report = _report(tmp_path / "r.json")
    first = next(t for t in report["tensors"] if t["source"] == report["first"])
    assert first["candidate"] == nudged and first["source"].endswith("conv2_1/BiasAdd:0"), first


def test_parallel_layers_alike_are_left_unpaired_rather_than_crossed():
    """Two branches' convs with equal weight shapes, stored by the converter in the other order:
    structure cannot tell them apart, so neither is paired (a crossed pair is a false divergence)."""
    from modelport.validators.locate.correspondence import align
    from modelport.validators.locate.graphs import INPUT, TensorGraph, TensorInfo

    def graph(order, kind_of_conv, add_op):
        convs = {n: TensorInfo(n, kind_of_conv, n, ["x"], [1, 4, 8, 8], weight=[4, 3, 3, 3]) for n in ("a", "b")}
        head = TensorInfo("head", kind_of_conv, "head", ["sum"], [1, 2, 8, 8], weight=[2, 4, 1, 1])
        return TensorGraph([TensorInfo("x", INPUT, ""), *[convs[n] for n in order],
                            TensorInfo("sum", add_op, "sum", ["a", "b"], [1, 4, 8, 8]), head], ["head"], "g")

    corr = align(graph("ab", "Conv", "Add"), graph("ba", "CONV_2D", "ADD"), [], "test")
    paired = {(p.source, p.candidate) for p in corr.pairs}
    assert ("head", "head") in paired and ("sum", "sum") in paired
    assert not {p.source for p in corr.pairs} & {"a", "b"}, paired


def _read_repro(folder: Path):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(folder / "model.onnx")
    inputs = {}
    for i in sorted((folder / "test_data_set_0").glob("input_*.pb")):
        tensor = onnx.load_tensor(str(i))
        inputs[tensor.name] = numpy_helper.to_array(tensor)
    expected = numpy_helper.to_array(onnx.load_tensor(str(folder / "test_data_set_0" / "output_0.pb")))
    return model, inputs, expected


def _run_onnx(path: Path, feed: dict) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)[0]


def _report_of(res, path: Path) -> dict:
    assert res.code == 0, res.stdout + res.stderr
    return _report(path)


TRAINING_ONLY = '''
import torch
from torch import nn


class HalvesInTraining(nn.Module):
    """Scales by 0.5 in training mode only: exported in the wrong mode, it is the layer that differs."""

    def forward(self, x):
        return x * (0.5 if self.training else 1.0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.ReLU()
        self.odd = HalvesInTraining()
        self.conv2 = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, image):
        return self.conv2(self.odd(self.act(self.conv1(image))))


def build():
    torch.manual_seed(0)
    return Net().eval()
'''


def test_a_layer_exported_in_training_mode_is_named(tmp_path):
    import torch

    (tmp_path / "net.py").write_text(TRAINING_ONLY)
    import importlib.util

    spec = importlib.util.spec_from_file_location("locate_net", tmp_path / "net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build().train()  # the user's mistake: exported in training mode
    onnx_path = tmp_path / "net.onnx"
    torch.onnx.export(model, (torch.rand(1, 3, 16, 16),), dynamo=True, input_names=["image"],
                      output_names=["output"]).save(str(onnx_path))
    res = run_cli("locate", f"{tmp_path}/net.py:build", onnx_path, "--input-shape", "image:1,3,16,16",
                  "--json", tmp_path / "r.json")
    assert res.code == 1, res.stdout + res.stderr
    report = _report(tmp_path / "r.json")
    first = next(t for t in report["tensors"] if t["source"] == report["first"])
    assert first["module"].startswith("odd (HalvesInTraining)") and first["source_op"].startswith("aten.mul"), first
    assert report["correspondence"] == "by name" and report["divergences"] == [report["first"]]


# ------------------------------------------------------------------ bad input


def test_bad_input_is_one_line_and_exit_2(cnn_onnx_from_torch, artifacts, tmp_path):
    tflite = artifacts(CNN_ONNX, "tflite", "--no-validate", name="cnn_plain")
    # an artifact that is not from this source (its manifest names models.py:cnn)
    assert_one_line_error(run_cli("locate", f"{MODELS}:mlp", cnn_onnx_from_torch, *shape_args("mlp")), 2,
                          "was not converted from")
    # a TFLite artifact without its manifest: nothing to follow its tensors by
    bare = _copy(tflite, tmp_path / "bare.tflite", manifest=False)
    assert_one_line_error(run_cli("locate", CNN_ONNX, bare), 2, "has no modelport manifest")
    # inputs that do not fit the source
    np.savez(tmp_path / "wrong.npz", pixels=np.zeros((1, 3, 32, 32), np.float32))
    assert_one_line_error(run_cli("locate", CNN_ONNX, tflite, "--inputs", tmp_path / "wrong.npz"), 2,
                          "no data for input(s) image")
    np.savez(tmp_path / "shape.npz", image=np.zeros((1, 3, 7, 5), np.float32))
    assert_one_line_error(run_cli("locate", CNN_ONNX, tflite, "--inputs", tmp_path / "shape.npz"), 2,
                          "the reference fails on the given inputs")
    # a format locate does not read yet, a missing file, a report path that is a folder
    assert_one_line_error(run_cli("locate", CNN_ONNX, f"{F}/keras/keras_cnn.keras"), 2,
                          "ONNX, TFLite, SavedModel and PyTorch artifacts")
    assert_one_line_error(run_cli("locate", CNN_ONNX, tmp_path / "missing.onnx"), 2)
    assert_one_line_error(run_cli("locate", CNN_ONNX, tflite, "--json", tmp_path), 2, "is a folder")
    assert_one_line_error(run_cli("locate", CNN_ONNX, tflite, "--repro", tmp_path), 2, "already exists")
    assert not list(tmp_path.glob("*.json"))


# ------------------------------------------------------------------ units


def test_fused_tensors_keep_only_the_last_claimant():
    from modelport.types import IOMap, TensorMapping
    from modelport.validators.locate import correspondence
    from modelport.validators.locate.graphs import INPUT, TensorGraph, TensorInfo

    src = TensorGraph([TensorInfo("x", INPUT, ""), TensorInfo("conv", "Conv", "n0", ["x"]),
                       TensorInfo("relu", "Relu", "n1", ["conv"]), TensorInfo("pool", "MaxPool", "n2", ["relu"])],
                      ["pool"], "onnx")
    cand = TensorGraph([TensorInfo("x_nhwc", INPUT, ""), TensorInfo("conv_relu", "CONV_2D", "op 0", ["x_nhwc"], activation="RELU"),
                        TensorInfo("pool", "MAX_POOL_2D", "op 1", ["conv_relu"])], ["pool"], "tflite")
    step = {"conv": ("conv_relu", "rewritten", True), "relu": ("conv_relu", "rewritten", True),
            "pool": ("pool", "direct", True)}
    io_map = IOMap([TensorMapping("x", "x_nhwc", [0, 2, 3, 1])], [])
    corr = correspondence.match(src, cand, [None, step], io_map, "test", ["pool"])
    assert [(p.source, p.candidate) for p in corr.pairs] == [("x", "x_nhwc"), ("relu", "conv_relu"), ("pool", "pool")]
    assert corr.fused == [{"source": "conv", "candidate": "conv_relu", "into": "relu"}]
    assert corr.pairs[0].known_layout and not corr.pairs[1].known_layout  # only onnx2tf's step may move axes
    # the layer that computes `pool` from the nearest compared tensor, and a failure's reach downstream
    assert cand.frontier("pool", {"x_nhwc", "conv_relu", "pool"}) == (["conv_relu"], ["pool"])
    assert cand.frontier("pool", {"x_nhwc", "pool"}) == (["x_nhwc"], ["conv_relu", "pool"])
    assert src.failing_upstream({"relu"}) == {"pool"}
    # a name that outlived its op: the artifact's "relu" is written by a Conv with no activation (a
    # quantizer removed the Relu before its QuantizeLinear), so it holds the values before the Relu
    renamed = TensorGraph([TensorInfo("x_nhwc", INPUT, ""), TensorInfo("relu", "Conv", "n0", ["x_nhwc"]),
                           TensorInfo("pool", "MaxPool", "n1", ["relu"])], ["pool"], "onnx")
    corr = correspondence.match(src, renamed, [None], io_map, "test", ["pool"])
    assert "relu" not in {p.source for p in corr.pairs} and ("pool", "pool") in [(p.source, p.candidate) for p in corr.pairs]
    assert any(f["source"] == "relu" and "Conv" in f["into"] for f in corr.fused), corr.fused


def test_tensor_tolerance_scales_with_magnitude_and_layouts_are_settled_by_running():
    from modelport.validators.locate.compare import judge

    rng = np.random.default_rng(0)
    ref = (rng.standard_normal((1, 4, 4, 4)) * 300).astype(np.float32)
    rounded = ref + (rng.standard_normal(ref.shape) * 1e-5 * 300).astype(np.float32)  # rounding at that scale
    out, perm, how = judge("t", ref, rounded, precision="fp32", overrides=None, candidate_name="t")
    assert out.passed and perm is None
    # C == H == W: both layouts fit; the converter claims channel-first, running shows channel-last
    nhwc = ref.transpose(0, 2, 3, 1).copy()
    out, perm, how = judge("t", ref, nhwc, precision="fp32", overrides=None, candidate_name="t", channel_last=False)
    assert out.passed and perm == [0, 2, 3, 1] and "settled by running" in how
    # a swap of H and W is neither layout: it fails under both
    out, perm, how = judge("t", ref, ref.transpose(0, 1, 3, 2).copy(), precision="fp32", overrides=None,
                           candidate_name="t")
    assert not out.passed and "neither matches" in how
    out, _, how = judge("t", ref, ref.reshape(1, 64, 1, 1), precision="fp32", overrides=None, candidate_name="t")
    assert out is None and "shapes differ" in how


def test_a_capture_that_changes_the_artifacts_outputs_is_said():
    """Capturing runs LiteRT without its XNNPACK delegate (and ORT with tensors marked): where that
    changes the artifact's own outputs, per-tensor capture cannot see the fault, and the report says
    so; within the tensors' own rule (fp32 here; int8 rounding by the int8 rule) it says nothing."""
    from types import SimpleNamespace

    from modelport.types import Format
    from modelport.validators.locate.locate import _capture_notes

    plain = np.linspace(-1, 1, 40, dtype=np.float32).reshape(4, 10)
    sample = SimpleNamespace(got={"output": plain})
    moved = SimpleNamespace(outputs_seen=[{"output": plain + 0.05}])
    notes = _capture_notes(moved, sample, Format.TFLITE, "fp32")
    assert len(notes) == 1 and "XNNPACK" in notes[0] and "output" in notes[0], notes
    rounded = SimpleNamespace(outputs_seen=[{"output": plain + 1e-7}])
    assert _capture_notes(rounded, sample, Format.ONNX, "fp32") == []
    int8_rounding = SimpleNamespace(outputs_seen=[{"output": plain + 0.01}])
    assert _capture_notes(int8_rounding, sample, Format.TFLITE, "int8") == []


def test_a_layer_before_a_hardsigmoid_is_not_compared_by_structure():
    """clip(alpha * x + beta): a converter folds the affine step into the conv before it, whose
    artifact tensor then holds alpha * conv + beta. Paired by structure, that conv is listed as
    fused into the hardsigmoid, not compared (its values were never the conv's)."""
    from modelport.validators.locate.correspondence import align
    from modelport.validators.locate.graphs import INPUT, TensorGraph, TensorInfo

    src = TensorGraph([TensorInfo("x", INPUT, ""), TensorInfo("fc2", "Conv", "n0", ["x"], [1, 8, 1, 1], weight=[8, 4, 1, 1]),
                       TensorInfo("gate", "HardSigmoid", "n1", ["fc2"], [1, 8, 1, 1])], ["gate"], "onnx")
    cand = TensorGraph([TensorInfo("x", INPUT, ""), TensorInfo("conv", "Conv2D", "c0", ["x"], [1, 1, 1, 8], weight=[1, 1, 4, 8]),
                        TensorInfo("biased", "BiasAdd", "c1", ["conv"], [1, 1, 1, 8]),
                        TensorInfo("gate", "Relu6", "c2", ["biased"], [1, 1, 1, 8])], ["gate"], "savedmodel")
    corr = align(src, cand, [], "test")
    assert "fc2" not in {p.source for p in corr.pairs}
    assert {"source": "fc2", "candidate": "biased", "into": "gate"} in corr.fused, corr.fused
