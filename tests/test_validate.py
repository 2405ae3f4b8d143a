"""`modelport validate` and the validation inside `modelport convert`.

The mutants prove the check can fail: each is a real ONNX model derived from a fixture with one
deliberate defect, and each must exit 1 with the damaged output named.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from conftest import FIXTURES, run_cli, shape_args

F = str(FIXTURES)
CNN_ONNX = f"{F}/onnx/cnn.onnx"


def _save(model, path: Path) -> str:
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def mutant_perturbed_weight(tmp: Path) -> str:
    m = onnx.load(CNN_ONNX)
    init = next(i for i in m.graph.initializer if numpy_helper.to_array(i).ndim == 4)  # a conv weight
    w = numpy_helper.to_array(init)
    init.CopyFrom(numpy_helper.from_array((w + 1e-2).astype(w.dtype), init.name))
    return _save(m, tmp / "perturbed.onnx")


def _append_to_output(m, op: str, extra_inputs: list[str] = (), **attrs) -> None:
    """Rename the graph output's producer and feed it through one more node named like the output."""
    out = m.graph.output[0].name
    for n in m.graph.node:
        n.output[:] = [o + "_pre" if o == out else o for o in n.output]
    m.graph.node.append(helper.make_node(op, [out + "_pre", *extra_inputs], [out], **attrs))


def mutant_nan_output(tmp: Path) -> str:
    m = onnx.load(CNN_ONNX)
    m.graph.initializer.append(numpy_helper.from_array(np.array(np.nan, dtype=np.float32), "nan_const"))
    _append_to_output(m, "Mul", ["nan_const"])
    return _save(m, tmp / "nan.onnx")


def mutant_swapped_outputs(tmp: Path) -> str:
    m = onnx.load(f"{F}/onnx/two_io.onnx")
    a, b = m.graph.output[0].name, m.graph.output[1].name
    for n in m.graph.node:
        n.output[:] = [{a: "__tmp__", b: a}.get(o, o) for o in n.output]
        n.output[:] = [b if o == "__tmp__" else o for o in n.output]
    shapes = [o.type for o in m.graph.output]
    m.graph.output[0].type.CopyFrom(shapes[1])
    m.graph.output[1].type.CopyFrom(shapes[0])
    return _save(m, tmp / "swapped.onnx")


def mutant_wrong_layout(tmp: Path) -> str:
    """Takes NHWC input but reshapes it (instead of transposing) to NCHW: the classic layout bug."""
    m = onnx.load(CNN_ONNX)
    inp = m.graph.input[0]
    for n in m.graph.node:
        n.input[:] = ["image_nchw" if i == "image" else i for i in n.input]
    m.graph.initializer.append(numpy_helper.from_array(np.array([-1, 3, 32, 32], dtype=np.int64), "nchw_shape"))
    m.graph.node.insert(0, helper.make_node("Reshape", ["image", "nchw_shape"], ["image_nchw"]))
    dims = inp.type.tensor_type.shape.dim
    dims[1].dim_value, dims[2].dim_value, dims[3].dim_value = 32, 32, 3
    return _save(m, tmp / "wrong_layout.onnx")


def mutant_transposed_output(tmp: Path) -> str:
    """Output (N, 10) transposed to (10, N): with N = 10 the shapes agree and only the values tell."""
    m = onnx.load(CNN_ONNX)
    _append_to_output(m, "Transpose", perm=[1, 0])
    return _save(m, tmp / "transposed.onnx")


@pytest.mark.parametrize("make,output,extra", [
    (mutant_perturbed_weight, "output", []),
    (mutant_nan_output, "output", []),
    (mutant_swapped_outputs, "output_0", []),
    (mutant_transposed_output, "output", ["--input-shape", "image:10,3,32,32"]),
], ids=["weight+1e-2", "nan-output", "swapped-outputs", "transposed-output"])
def test_mutants_fail_and_name_the_output(make, output, extra, tmp_path):
    mutant = make(tmp_path)
    reference = f"{F}/onnx/two_io.onnx" if "swapped" in mutant else CNN_ONNX
    report_path = tmp_path / "report.json"
    result = run_cli("validate", reference, mutant, "--json", report_path, *extra)
    assert result.code == 1, result.stdout + result.stderr
    assert "modelport: error: parity failed" in result.stderr
    report = json.loads(report_path.read_text())
    failed = [o["output"] for c in report["candidates"] for o in c["outputs"] if not o["passed"]]
    assert output in failed, report
    assert output in result.stdout


def test_wrong_layout_mutant_fails(tmp_path):
    """NHWC data reshaped as NCHW: the matcher maps the layout by shape, the numbers expose the bug."""
    mutant = mutant_wrong_layout(tmp_path)
    result = run_cli("validate", CNN_ONNX, mutant)
    assert result.code == 1, result.stdout + result.stderr
    assert "output" in result.stdout


def test_correct_conversions_pass_at_fp32(artifacts, tmp_path):
    tfl = artifacts(CNN_ONNX, "tflite", "--no-validate", name="cnn_plain")
    sm = artifacts(CNN_ONNX, "savedmodel", "--no-validate", name="cnn_plain")
    junit, md = tmp_path / "parity.xml", tmp_path / "parity.md"
    result = run_cli("validate", CNN_ONNX, tfl, sm, "--samples", "3", "--junit", junit, "--markdown", md)
    assert result.code == 0, result.stdout + result.stderr
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert int(suite.get("tests")) == 2 and int(suite.get("failures")) == 0
    assert "output" in md.read_text()


def test_validate_without_manifest_matches_by_name_and_shape(artifacts, tmp_path):
    import shutil

    tfl = artifacts(CNN_ONNX, "tflite", "--no-validate", name="cnn_plain")
    bare = tmp_path / "bare.tflite"
    shutil.copy(tfl, bare)  # no manifest beside it
    report = tmp_path / "r.json"
    result = run_cli("validate", CNN_ONNX, bare, "--json", report)
    assert result.code == 0, result.stdout + result.stderr
    mapping = json.loads(report.read_text())["candidates"][0]["input_mapping"][0]
    assert mapping["perm"] == [0, 2, 3, 1] and "name" in mapping["rule"]


def test_golden_outputs_round_trip(tmp_path):
    golden = tmp_path / "golden.npz"
    saved = run_cli("validate", CNN_ONNX, CNN_ONNX, "--save-outputs", golden, "--seed", "7")
    assert saved.code == 0, saved.stderr
    replay = run_cli("validate", "--load-outputs", golden, CNN_ONNX)
    assert replay.code == 0, replay.stdout + replay.stderr
    bad = run_cli("validate", "--load-outputs", golden, mutant_perturbed_weight(tmp_path))
    assert bad.code == 1


def test_pytorch_reference_with_int_inputs(artifacts):
    onnx_path = artifacts(f"{F}/models.py:encoder", "onnx", *shape_args("encoder"), "--no-validate")
    result = run_cli("validate", f"{F}/models.py:encoder", onnx_path, "--input-shape", "input_ids:1,12",
                     "--value-range", "input_ids:0,100")
    assert result.code == 0, result.stdout + result.stderr


def test_cuda_unavailable_is_exit_4_and_auto_falls_back():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    strict = run_cli("validate", f"{F}/pytorch/cnn.pt2", CNN_ONNX, "--device", "cuda")
    assert strict.code == 4, strict.stderr
    assert "cuda" in strict.stderr
    auto = run_cli("validate", f"{F}/pytorch/cnn.pt2", CNN_ONNX, "--device", "auto", "--input-shape", "image:2,3,32,32")
    assert auto.code == 0, auto.stdout + auto.stderr
    assert "ran on cpu" in auto.stdout


def test_convert_marks_parity_failure_but_writes(tmp_path):
    """A conversion that fails its parity check (here: a zero tolerance, which the last-bit
    differences between ONNX Runtime and TFLite exceed) is written, marked failed, exit 1."""
    out = tmp_path / "cnn.tflite"
    # one strategy: every other one fails a zero tolerance too (the search itself: tests/test_strategies.py)
    result = run_cli("convert", CNN_ONNX, "--to", "tflite", "-o", out, "--atol", "0", "--rtol", "0",
                     "--strategy", "onnx-tflite=flatbuffer_direct")
    assert result.code == 1, result.stdout + result.stderr
    assert out.exists()
    manifest = json.loads(Path(str(out) + ".modelport.json").read_text())
    assert manifest["validation"]["passed"] is False
    assert "output" in result.stderr and "fails parity" in result.stderr
    ok = run_cli("convert", CNN_ONNX, "--to", "tflite", "-o", tmp_path / "ok.tflite", "--samples", "2")
    assert ok.code == 0, ok.stdout + ok.stderr
    assert json.loads((tmp_path / "ok.tflite.modelport.json").read_text())["validation"]["passed"] is True


def test_convert_validates_intermediates(tmp_path):
    out = tmp_path / "cnn.tflite"
    result = run_cli("convert", f"{F}/models.py:cnn", "--to", "tflite", "-o", out, *shape_args("cnn"), "--json")
    assert result.code == 0, result.stdout + result.stderr
    validation = json.loads(result.stdout)["validation"]
    assert validation["passed"] and len(validation["candidates"]) == 2  # the ONNX step and the TFLite
    assert "intermediate" in validation["candidates"][0]["path"]


def test_real_inputs_from_npy_folder_and_npz(tmp_path):
    x = np.random.default_rng(3).standard_normal((1, 3, 32, 32)).astype(np.float32)
    folder = tmp_path / "inputs"
    folder.mkdir()
    np.save(folder / "image.npy", x)
    np.savez(tmp_path / "inputs.npz", image=x)
    for source in (folder, tmp_path / "inputs.npz"):
        result = run_cli("validate", CNN_ONNX, f"{F}/pytorch/cnn.pt2", "--inputs", source)
        assert result.code == 0, result.stdout + result.stderr
    np.savez(tmp_path / "wrong.npz", pixels=x)
    missing = run_cli("validate", CNN_ONNX, CNN_ONNX, "--inputs", tmp_path / "wrong.npz")
    assert missing.code == 2 and "image" in missing.stderr


@pytest.mark.parametrize("args,fragment", [
    ((CNN_ONNX,), "nothing to validate"),
    ((CNN_ONNX, "nosuch.onnx"), "no such file"),
    ((CNN_ONNX, f"{F}/bad/truncated.onnx"), "truncated.onnx"),
    ((CNN_ONNX, f"{F}/bad/truncated.tflite"), "truncated"),
    ((CNN_ONNX, CNN_ONNX, "--atol", "abc"), "--atol"),
    ((CNN_ONNX, CNN_ONNX, "--atol", "-1"), "--atol"),
    ((CNN_ONNX, CNN_ONNX, "--value-range", "image:5,1"), "--value-range"),
    ((CNN_ONNX, CNN_ONNX, "--input-shape", "nosuch:1,2"), "nosuch"),
    ((CNN_ONNX, CNN_ONNX, "--samples", "0"), "--samples"),
    (("--load-outputs", f"{F}/bad/random.onnx", CNN_ONNX), "--load-outputs"),
])
def test_validate_bad_input_is_one_line_exit_2(args, fragment):
    from conftest import assert_one_line_error

    assert_one_line_error(run_cli("validate", *args), 2, fragment)


# --- a failing candidate judged again against the reference computed in float64 ----------------

CANCELLING_SOURCE = '''
import torch


class Cancelling(torch.nn.Module):
    """y = (x + 1e4) - 1e4: the identity, computed with float32 rounding of ~5e-4 (ill-conditioned)."""

    def forward(self, x):
        return (x * 0.01 + 1e4) - 1e4


def build():
    return Cancelling().eval()
'''


def _scaled_onnx(path, factor: float, offset: float = 0.0):
    """y = x * factor + offset, computed exactly in float32 (no cancellation)."""
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 64])
    y = helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, 64])
    inits = [numpy_helper.from_array(np.array(factor, np.float32), "f"), numpy_helper.from_array(np.array(offset, np.float32), "o")]
    nodes = [helper.make_node("Mul", ["x", "f"], ["m"]), helper.make_node("Add", ["m", "o"], ["output"])]
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)]),
              str(path))
    return path


@pytest.mark.parametrize("offset, code, fragment", [
    (0.0, 0, "matches the source run in float64"),  # the exact function: right, the float32 source is off
    (0.01, 1, "it fails too"),                        # wrong by 1e-2 everywhere: wrong against float64 too
])
def test_a_candidate_is_judged_again_against_the_source_in_float64(tmp_path, offset, code, fragment):
    (tmp_path / "cancel.py").write_text(CANCELLING_SOURCE)
    onnx_path = _scaled_onnx(tmp_path / "exact.onnx", 0.01, offset)
    res = run_cli("validate", f"{tmp_path}/cancel.py:build", onnx_path, "--input-shape", "x:1,64",
                  "--json", tmp_path / "report.json")
    assert res.code == code, res.stdout + res.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    evidence = report["candidates"][0]["reference_evidence"]
    assert len(evidence) == 1 and fragment in evidence[0], evidence
    assert fragment in res.stdout  # the terminal report says it too ("float64: ..." line)
    if code == 0:
        assert "the float32 source is itself up to" in evidence[0]
    else:
        assert "ill-conditioned" not in evidence[0]  # the source is close to float64, the candidate far


KERAS_CANCELLING_SOURCE = '''
import keras


def build():
    """The same ill-conditioned identity in Keras: Rescaling layers that add and take away 1e4."""
    return keras.Sequential([keras.Input(shape=(64,), name="x"), keras.layers.Rescaling(0.01, offset=1e4),
                             keras.layers.Rescaling(1.0, offset=-1e4)])
'''


def test_a_keras_source_is_rebuilt_in_float64_to_judge_a_failing_candidate_again(tmp_path):
    (tmp_path / "cancel_keras.py").write_text(KERAS_CANCELLING_SOURCE)
    res = run_cli("validate", f"{tmp_path}/cancel_keras.py:build", _scaled_onnx(tmp_path / "exact.onnx", 0.01),
                  "--json", tmp_path / "report.json")
    assert res.code == 0, res.stdout + res.stderr
    evidence = json.loads((tmp_path / "report.json").read_text())["candidates"][0]["reference_evidence"]
    assert len(evidence) == 1 and "matches the source run in float64" in evidence[0], evidence


def test_a_passing_candidate_is_not_judged_again(tmp_path):
    (tmp_path / "cancel.py").write_text(CANCELLING_SOURCE.replace("(x * 0.01 + 1e4) - 1e4", "x * 0.01"))
    res = run_cli("validate", f"{tmp_path}/cancel.py:build", _scaled_onnx(tmp_path / "exact.onnx", 0.01),
                  "--input-shape", "x:1,64", "--json", tmp_path / "report.json")
    assert res.code == 0, res.stdout + res.stderr
    assert json.loads((tmp_path / "report.json").read_text())["candidates"][0]["reference_evidence"] == []
