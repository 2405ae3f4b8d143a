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


def _three_outputs(path, order: list[str], names: list[str], *, nudge: float = 0.0):
    """x (1, 4) -> a = 2x, b = x + 1 (the same shape as a), c = [x, x] (1, 8), listed in `order`
    under `names`: a raw onnx2tf TFLite lists its outputs in another order, with names of its own."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    made = {"a": helper.make_node("Mul", ["x", "two"], ["_a"]), "b": helper.make_node("Add", ["x", "one"], ["_b"]),
            "c": helper.make_node("Concat", ["x", "x"], ["_c"], axis=1)}
    shapes = {"a": [1, 4], "b": [1, 4], "c": [1, 8]}
    nodes = list(made.values()) + [helper.make_node("Identity", [f"_{o}"], [n]) for o, n in zip(order, names)]
    graph = helper.make_graph(nodes, "three", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, shapes[o]) for o, n in zip(order, names)],
                              [numpy_helper.from_array(np.array(2.0 + nudge, np.float32), "two"),
                               numpy_helper.from_array(np.array(1.0, np.float32), "one")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def test_reordered_outputs_are_paired_by_shape_and_same_shaped_ones_by_running(tmp_path):
    """fasterrcnn's raw onnx2tf TFLite: pairing by position compared outputs of other shapes and
    swapped a same-shaped pair, so a right artifact failed (max abs 28)."""
    ref = _three_outputs(tmp_path / "ref.onnx", ["a", "b", "c"], ["a", "b", "c"])
    cand = _three_outputs(tmp_path / "cand.onnx", ["c", "b", "a"], ["o0", "o1", "o2"])
    c = validate(ref, [cand], ValidateOptions(samples=2)).candidates[0]
    assert c.passed, c
    paired = {m["source"]: m["artifact"] for m in c.settled_io_map["outputs"]}
    assert paired == {"a": "o2", "b": "o1", "c": "o0"}
    assert any(line.startswith("a: same layout as o2 (settled by running") for line in c.layout_evidence), c.layout_evidence
    assert all(r.max_abs == 0 for r in c.outputs)


def test_a_wrong_artifact_with_reordered_outputs_fails_under_every_pairing(tmp_path):
    ref = _three_outputs(tmp_path / "ref.onnx", ["a", "b", "c"], ["a", "b", "c"])
    mutant = _three_outputs(tmp_path / "mutant.onnx", ["c", "b", "a"], ["o0", "o1", "o2"], nudge=1e-2)
    c = validate(ref, [mutant], ValidateOptions(samples=2)).candidates[0]
    assert not c.passed and c.settled_io_map is None
    failing = [r for r in c.outputs if not r.passed]
    assert [r.output for r in failing] == ["a"] and "shape" not in failing[0].reason, failing
    assert "as o1" in c.layout_evidence[0] and "as o2" in c.layout_evidence[0]


def test_outputs_of_distinct_shapes_are_paired_by_shape_without_a_search():
    from modelport.types import TensorSpec
    from modelport.validators.matching import by_signature

    ref = [TensorSpec("boxes", [1, 60, 2, 2], "float32"), TensorSpec("scores", [1, 15, 2, 2], "float32"),
           TensorSpec("labels", [1, 15], "int64")]
    cand = [TensorSpec("Identity", [1, 15], "int32"), TensorSpec("Identity_1", [1, 2, 2, 15], "float32"),
            TensorSpec("Identity_2", [1, 2, 2, 60], "float32")]
    got = {m.source: (m.artifact, m.perm, m.pairings) for m in by_signature(ref, cand)}
    assert got == {"boxes": ("Identity_2", NHWC, []), "scores": ("Identity_1", NHWC, []), "labels": ("Identity", None, [])}
