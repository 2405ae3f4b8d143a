"""Layouts by evidence: when C = H = W, shapes cannot tell NCHW from NHWC, and a converter's flag
has been wrong (trap 12). The validator must settle it by running, both ways: a right artifact
passes whatever its map said, and a wrong one fails under every layout the shapes allow."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import FIXTURES, run_cli
from modelport.validators.validate_options import ValidateOptions
from modelport.validators.validation import validate

NHWC, NCHW = [0, 2, 3, 1], [0, 3, 1, 2]


def _cube_model(path, *, channels_last: bool, nudge: float = 0.0):
    """(1, 8, 8, 8) -> Conv 3x3 -> (1, 8, 8, 8); channels_last wraps it in NHWC<->NCHW transposes,
    as onnx2tf's TFLite files are. `nudge` changes one weight (a mutant)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).standard_normal((8, 8, 3, 3)).astype(np.float32)
    w[0, 0, 1, 1] += nudge
    nodes = [helper.make_node("Conv", ["x_nchw" if channels_last else "volume", "w"],
                              ["y_nchw" if channels_last else "output"], pads=[1, 1, 1, 1])]
    if channels_last:
        nodes = ([helper.make_node("Transpose", ["volume"], ["x_nchw"], perm=NCHW)] + nodes
                 + [helper.make_node("Transpose", ["y_nchw"], ["output"], perm=NHWC)])
    graph = helper.make_graph(nodes, "cube", [helper.make_tensor_value_info("volume", TensorProto.FLOAT, [1, 8, 8, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 8, 8, 8])],
                              [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def test_a_channel_last_artifact_with_equal_dims_passes_by_running(tmp_path):
    ref = _cube_model(tmp_path / "ref.onnx", channels_last=False)
    cand = _cube_model(tmp_path / "cand.onnx", channels_last=True)
    report = validate(ref, [cand], ValidateOptions(samples=2))
    c = report.candidates[0]
    assert c.passed, c
    assert c.input_mapping[0]["perm"] == NHWC and "layout by running" in c.input_mapping[0]["rule"]
    assert c.outputs[0].max_abs < 1e-5 and "layout by running" in c.outputs[0].mapping
    assert len(c.layout_evidence) == 2 and all("settled by running" in line for line in c.layout_evidence)
    assert c.settled_io_map["outputs"][0]["perm"] == NHWC


def test_a_wrong_artifact_fails_under_every_layout_and_says_so(tmp_path):
    ref = _cube_model(tmp_path / "ref.onnx", channels_last=False)
    mutant = _cube_model(tmp_path / "mutant.onnx", channels_last=True, nudge=1e-2)
    c = validate(ref, [mutant], ValidateOptions(samples=2)).candidates[0]
    assert not c.passed
    assert c.settled_io_map is None
    assert c.layout_evidence and c.layout_evidence[0].startswith("no layout the shapes allow matches the source")
    assert "NCHW->NHWC" in c.layout_evidence[0] and "same layout" in c.layout_evidence[0]


def test_a_same_layout_artifact_passes_without_a_search(tmp_path):
    ref = _cube_model(tmp_path / "ref.onnx", channels_last=False)
    same = _cube_model(tmp_path / "same.onnx", channels_last=False)
    c = validate(ref, [same], ValidateOptions()).candidates[0]
    assert c.passed and c.layout_evidence == [] and c.input_mapping[0]["perm"] is None


@pytest.mark.slow
def test_convert_writes_the_settled_layouts_into_the_manifest(tmp_path):
    """The C = H = W model through onnx2tf: the report says "layout kept" for an NHWC tensor; the
    manifest must end up with what running proved, and validate must agree, with or without it."""
    out = tmp_path / "cube.tflite"
    models = str(FIXTURES / "models.py")
    r = run_cli("convert", f"{models}:cube", "--to", "tflite", "-o", str(out), "--input-shape", "volume:1,8,8,8",
                "--samples", "2")
    assert r.code == 0, r.stderr
    io_map = json.loads(open(f"{out}.modelport.json").read())["io_map"]
    for m in io_map["inputs"] + io_map["outputs"]:
        assert m["perm"] == NHWC and "layout by running" in m["rule"] and not m["alternatives"], m
    r = run_cli("validate", f"{models}:cube", str(out), "--input-shape", "volume:1,8,8,8")
    assert r.code == 0, r.stdout + r.stderr
    os.remove(f"{out}.modelport.json")
    r = run_cli("validate", f"{models}:cube", str(out), "--input-shape", "volume:1,8,8,8")
    assert r.code == 0 and "settled by running" in r.stdout, r.stdout + r.stderr
