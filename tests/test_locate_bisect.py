"""`modelport locate --bisect`: prefixes of an ONNX source re-converted along the artifact's route,
bisecting for the first node whose conversion breaks parity (Polygraphy's `debug reduce`).

The divergence is a real converter's, not an injected one: a Conv whose weights on a dead input
channel (always 0 after the Relu before it) are huge is harmless in float, but TFLiteConverter's
full-int8 quantization scales each filter by its largest weight, so every other weight rounds to
0 and the layer outputs its bias alone. Bisection must name that Conv; the same model without the
outlier converts correctly and bisection finds nothing. Each probe is a real conversion (about
15-20 s here), so the failing case bisects once and every assertion reads that one run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, assert_one_line_error, run_cli


def build_model(path: Path, outlier: bool) -> Path:
    """image [1,3,16,16] -> conv1 -> relu1 -> conv2 -> relu2 -> pool -> flatten -> head [1,10]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
    b1 = (rng.standard_normal(8) * 0.1).astype(np.float32)
    w1[7], b1[7] = 0.0, -1.0  # channel 7 never fires after relu1
    w2 = (rng.standard_normal((8, 8, 3, 3)) * 0.2).astype(np.float32)
    if outlier:
        w2[:, 7] = 500.0  # read only from the dead channel: float ignores it, int8 rounds the rest of each filter to 0
    arrays = {"w1": w1, "b1": b1, "w2": w2, "b2": np.zeros(8, np.float32),
              "w3": (rng.standard_normal((10, 8)) * 0.5).astype(np.float32), "b3": np.zeros(10, np.float32)}
    nodes = [helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="pool"),
             helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
             helper.make_node("Gemm", ["flat", "w3", "b3"], ["output"], name="head", transB=1)]
    graph = helper.make_graph(nodes, "outlier", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])],
                              [numpy_helper.from_array(v, k) for k, v in arrays.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Both models and their int8 TFLite conversions (onnx -> savedmodel -> tflite, full int8 with
    calibration data drawn as validate draws its inputs), converted with --no-validate: the
    outlier's artifact fails parity, which is what locate is for."""
    base = tmp_path_factory.mktemp("bisect")
    calibration = base / "calibration.npz"
    np.savez(calibration, image=np.random.default_rng(1).standard_normal((16, 3, 16, 16)).astype(np.float32))
    out = {}
    for name, outlier in (("outlier", True), ("plain", False)):
        source = build_model(base / f"{name}.onnx", outlier)
        artifact = base / f"{name}_int8.tflite"
        res = run_cli("convert", source, "--to", "tflite", "--quantize", "int8", "--calibration-data", calibration,
                      "-o", artifact, "--no-validate")
        assert res.code == 0, res.stdout + res.stderr
        out[name] = (source, artifact)
    out["calibration"] = calibration
    return out


@pytest.fixture(scope="module")
def bisected(models, tmp_path_factory):
    base = tmp_path_factory.mktemp("bisected")
    source, artifact = models["outlier"]
    res = run_cli("locate", source, artifact, "--bisect", "--repro", base / "repro", "--json", base / "r.json",
                  "--model-explorer", base / "overlay.json")
    return res, json.loads((base / "r.json").read_text()) if (base / "r.json").exists() else None, base / "repro"


def test_bisection_names_the_conv_that_int8_destroys(bisected):
    res, report, _ = bisected
    assert res.code == 1, res.stdout + res.stderr
    assert report["first"] == "c2" and report["bisection"]["node"]["name"] == "conv2", report["bisection"]
    assert report["outputs_passed"] is False and report["precision"].startswith("int8")
    probes = report["bisection"]["probes"]
    assert len(probes) <= report["bisection"]["max_probes"] == 4, probes  # log2(7 cuts) + 2
    by_node = {p["node"]: p for p in probes}
    assert by_node["(the whole source)"]["verdict"] == "fail"  # the re-conversion reproduces the failure
    assert by_node["conv2"]["verdict"] == "fail" and by_node["relu1"]["verdict"] == "pass", probes
    assert all(p["seconds"] > 0 and p["op"] or p["node"] == "(the whole source)" for p in probes)
    assert "first divergence (found by bisection): node conv2 (Conv)" in res.stdout
    assert "found by bisection" in res.stderr and "Traceback" not in res.stderr
    # the overlay colours the source's graph: the probed nodes by their outputs, conv2's in red
    overlay = json.loads((bisected[2].parent / "overlay.json").read_text())["results"]
    assert overlay["c2"]["bgColor"] and overlay["c2"]["value"] > 1 and overlay["r1"]["value"] <= 1, overlay


def test_the_repro_is_the_node_alone_in_the_backend_test_layout(bisected):
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    res, _, repro = bisected
    assert res.code == 1
    model = onnx.load(repro / "model.onnx")
    assert [(n.name, n.op_type) for n in model.graph.node] == [("conv2", "Conv")]
    given = numpy_helper.to_array(onnx.load_tensor(str(repro / "test_data_set_0" / "input_0.pb")))
    expected = numpy_helper.to_array(onnx.load_tensor(str(repro / "test_data_set_0" / "output_0.pb")))
    assert given.shape == (1, 8, 16, 16) and float(given[:, 7].max()) == 0.0  # the dead channel, as the source has it
    got = ort.InferenceSession(str(repro / "model.onnx"), providers=["CPUExecutionProvider"]).run(None, {"r1": given})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_correct_conversion_bisects_to_nothing(models, tmp_path):
    source, artifact = models["plain"]
    res = run_cli("locate", source, artifact, "--bisect", "--json", tmp_path / "r.json")
    assert res.code == 0, res.stdout + res.stderr
    assert "no divergence found by bisection" in res.stdout and "nothing to bisect" in res.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["first"] is None and report["outputs_passed"] and report["bisection"]["probes"] == []


TORCH_OUTLIER = '''
import numpy as np
import torch
from torch import nn


class Outlier(nn.Module):
    """The ONNX outlier model of this file as PyTorch: conv2's weights on conv1's dead channel are 500."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        w1 = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
        b1 = (rng.standard_normal(8) * 0.1).astype(np.float32)
        w1[7], b1[7] = 0.0, -1.0
        w2 = (rng.standard_normal((8, 8, 3, 3)) * 0.2).astype(np.float32)
        w2[:, 7] = 500.0
        self.conv1, self.conv2, self.head = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.Linear(8, 10)
        with torch.no_grad():
            self.conv1.weight.copy_(torch.from_numpy(w1)); self.conv1.bias.copy_(torch.from_numpy(b1))
            self.conv2.weight.copy_(torch.from_numpy(w2)); self.conv2.bias.zero_()
            self.head.weight.copy_(torch.from_numpy((rng.standard_normal((10, 8)) * 0.5).astype(np.float32)))
            self.head.bias.zero_()

    def forward(self, image):
        x = torch.relu(self.conv2(torch.relu(self.conv1(image))))
        return self.head(x.mean(dim=(2, 3)))


def build():
    return Outlier().eval()
'''


def test_a_pytorch_source_is_bisected_from_its_routes_first_onnx(models, tmp_path):
    """pytorch -> onnx -> savedmodel -> tflite, full int8: the first step is re-run as recorded (it
    passes), then its ONNX is bisected along the rest of the route, naming the second conv."""
    (tmp_path / "outlier.py").write_text(TORCH_OUTLIER)
    source, artifact = f"{tmp_path}/outlier.py:build", tmp_path / "outlier_int8.tflite"
    res = run_cli("convert", source, "--to", "tflite", "--quantize", "int8", "--calibration-data",
                  models["calibration"], "--input-shape", "image:1,3,16,16", "-o", artifact, "--no-validate")
    assert res.code == 0, res.stdout + res.stderr
    res = run_cli("locate", source, artifact, "--bisect", "--json", tmp_path / "r.json")
    assert res.code == 1, res.stdout + res.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    probes = report["bisection"]["probes"]
    assert probes[0]["node"] == "(the first step, pytorch -> onnx)" and probes[0]["verdict"] == "pass", probes
    node = report["bisection"]["node"]
    assert node["op"] == "Conv" and node["outputs"] == ["conv2d_1"], report["bisection"]  # conv2, as the exporter names it
    assert report["source"] == source and report["source_format"] == "pytorch"
    assert "the route's first step was re-run" in res.stdout


def test_bad_input_is_one_line_and_exit_2(models, tmp_path):
    source, artifact = models["outlier"]
    res = run_cli("locate", f"{FIXTURES}/models.py:cnn", artifact, "--bisect")
    assert_one_line_error(res, 2, "is not ONNX", "--keep-intermediates")
    bare = tmp_path / "bare.tflite"
    shutil.copy(artifact, bare)  # no manifest beside it: no route to re-run
    res = run_cli("locate", source, bare, "--bisect")
    assert_one_line_error(res, 2, "no such manifest", "route is not known")


def test_the_search_and_the_cuts():
    """The binary search's bounds, and the nodes a prefix may end at (no Constant, nothing fed by
    weights alone), without converting anything."""
    from onnx import TensorProto, helper, numpy_helper

    from modelport.validators.locate.bisect import cuts, max_probes, prefix_model, search

    for n in (1, 2, 7, 100):
        for first in range(n + 1):  # n: no cut fails, only the whole model
            seen = []
            s = search(n, lambda k: seen.append(k) or k < first, max_probes(n) - 1)
            assert not s.capped and s.hi == first and s.lo == first - 1 and s.probes == len(seen) <= max_probes(n) - 1
    assert search(100, lambda k: k < 60, 2).capped
    nodes = [helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.float32(2.0))),
             helper.make_node("Mul", ["w", "k"], ["wk"], name="weights_only"),
             helper.make_node("Mul", ["x", "wk"], ["y"], name="scale"),
             helper.make_node("Relu", ["y"], ["z"], name="relu")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
                              [numpy_helper.from_array(np.ones(2, np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    found = cuts(model)
    assert [(c.name, c.outputs) for c in found] == [("scale", ("y",)), ("relu", ("z",))]
    prefix = prefix_model(model, found[0])
    assert [n.name or n.op_type for n in prefix.graph.node] == ["Constant", "weights_only", "scale"]
    assert [o.name for o in prefix.graph.output] == ["y"] and [i.name for i in prefix.graph.input] == ["x"]
