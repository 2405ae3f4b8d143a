"""Dynamic dims kept and proven at several sizes (issue 16, items 1 and 2).

The broken "dynamic" candidates are real ONNX models that declare a dynamic batch and agree with
the reference at batch 1 only: one reduces over the batch (batch 1 is the identity, batch 3 is
not), one reshapes to a constant batch of 1 (it cannot run at batch 3). Each must fail
`validate`, naming the dim and the size. The conversions check both sides of the edge's own
proof: the fixture CNN keeps its batch in TFLite and SavedModel, and the encoder, whose sequence
onnx2tf keeps in a TFLite that fails at any other length, is converted again with it fixed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import FIXTURES, assert_one_line_error, run_cli
from modelport.types import IOMap, TensorMapping, TensorSpec
from modelport.validators import dynamic_sizes
from modelport.errors import UsageError

F = str(FIXTURES)


def _model(path: Path, nodes, inits=(), out_shape=("batch", 4)) -> str:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return str(path)


def _one() -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(1.0, np.float32), "one")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dyn")
    reference = _model(tmp / "ref.onnx", [helper.make_node("Add", ["x", "one"], ["y"])], [_one()])
    # mean over the batch: the identity at batch 1, wrong at any other batch
    mean = _model(tmp / "batch_mean.onnx", [
        helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=1),
        helper.make_node("Add", ["m", "one"], ["y"])],
        [_one(), numpy_helper.from_array(np.array([0], np.int64), "axes")], out_shape=(1, 4))
    # a reshape to a constant batch of 1: runs at batch 1 only
    fixed = _model(tmp / "batch_reshape.onnx", [
        helper.make_node("Add", ["x", "one"], ["a"]),
        helper.make_node("Reshape", ["a", "shape"], ["y"])],
        [_one(), numpy_helper.from_array(np.array([1, 4], np.int64), "shape")], out_shape=(1, 4))
    return {"reference": reference, "mean": mean, "reshape": fixed, "tmp": tmp}


def inspect_json(path) -> tuple[dict, str]:
    r = run_cli("inspect", "--json", path)
    assert r.code == 0, r.stderr
    return json.loads(r.stdout), r.stderr


def _report(path: Path) -> dict:
    return json.loads(path.read_text())


def test_a_correct_dynamic_candidate_is_proven_at_the_sizes_asked(models, tmp_path):
    report = tmp_path / "r.json"
    r = run_cli("validate", models["reference"], models["reference"], "--shapes", "batch:1,4,8", "--json", report)
    assert r.code == 0, r.stdout + r.stderr
    assert "dynamic dim batch proven at sizes 1, 4, 8" in r.stdout
    sizes = _report(report)["candidates"][0]["sizes"]
    assert [(e["dim"], e["size"], e["passed"]) for e in sizes] == [("batch", 4, True), ("batch", 8, True)]


def test_a_dim_that_differs_at_another_size_fails(models, tmp_path):
    report = tmp_path / "r.json"
    r = run_cli("validate", models["reference"], models["mean"], "--json", report)
    assert r.code == 1, r.stdout + r.stderr
    assert "dynamic dim batch claimed, but at batch=3" in r.stdout
    c = _report(report)["candidates"][0]
    assert c["passed"] is False and c["sizes"][0]["passed"] is False
    assert c["outputs"][0]["passed"] is False  # the table shows the output failing, not only a note
    ok = run_cli("validate", models["reference"], models["mean"], "--shapes", "batch:1")
    assert ok.code == 0, ok.stdout  # at batch 1 alone it is right: the other size is what catches it


def test_a_dim_that_cannot_run_at_another_size_fails(models):
    r = run_cli("validate", models["reference"], models["reshape"])
    assert r.code == 1, r.stdout + r.stderr
    assert "dynamic dim batch claimed, but at batch=3" in r.stdout and "while running" in r.stdout


def test_shapes_naming_no_dynamic_dim_is_a_usage_error(models):
    assert_one_line_error(run_cli("validate", models["reference"], models["reference"], "--shapes", "seq:4"), 2,
                          "--shapes seq", "dynamic: batch")
    assert_one_line_error(run_cli("validate", models["reference"], models["reference"], "--shapes", "batch:0"), 2,
                          "at least 1")
    assert_one_line_error(run_cli("validate", models["reference"], models["reference"], "--shapes", "batch"), 2,
                          "NAME:SIZE")
    # a size the reference itself cannot take (its reshape fixes the batch at 1)
    assert_one_line_error(run_cli("validate", models["reshape"], models["reference"], "--shapes", "batch:2"), 2,
                          "--shapes batch:2", "the reference fails at this size")


def test_golden_data_keeps_the_other_sizes(models, tmp_path):
    golden = tmp_path / "golden.npz"
    r = run_cli("validate", models["reference"], models["reference"], "--save-outputs", golden)
    assert r.code == 0, r.stdout + r.stderr
    replay = run_cli("validate", "--load-outputs", golden, models["mean"])
    assert replay.code == 1 and "at batch=3" in replay.stdout, replay.stdout
    good = run_cli("validate", "--load-outputs", golden, models["reference"])
    assert good.code == 0 and "dynamic dim batch proven at sizes 1, 3" in good.stdout, good.stdout


@pytest.mark.parametrize("target", ["tflite", "savedmodel"])
def test_convert_keeps_the_cnn_batch_dynamic_and_proves_it(tmp_path, target):
    out = tmp_path / ("cnn.tflite" if target == "tflite" else "cnn_sm")
    r = run_cli("convert", f"{F}/onnx/cnn.onnx", "--to", target, "-o", out)
    assert r.code == 0, r.stdout + r.stderr
    assert "dynamic dims kept (dynamic dim batch proven at sizes 1, 3" in r.stdout
    info, _ = inspect_json(out)
    assert info["inputs"][0]["shape"][0] == "d0"
    c = info["manifest"]["validation"]["candidates"][-1]
    assert [(e["dim"], e["size"], e["passed"]) for e in c["sizes"]] == [("batch", 3, True)]
    # the artifact really runs at a batch it was never converted at
    r4 = run_cli("validate", f"{F}/onnx/cnn.onnx", out, "--shapes", "batch:4")
    assert r4.code == 0 and "proven at sizes 1, 4" in r4.stdout, r4.stdout


def test_convert_fixes_a_dim_that_fails_at_another_size(tmp_path):
    out = tmp_path / "encoder.tflite"
    r = run_cli("convert", f"{F}/onnx/encoder.onnx", "--to", "tflite", "-o", out, "--input-shape", "input_ids:1,16")
    assert r.code == 0, r.stdout + r.stderr
    # its sequence -1 cannot be resized to 16 (XNNPack fails to reshape): proof by running, not by the flag
    assert "onnx2tf kept the dynamic dims, but running showed it fails to run" in r.stdout
    assert "dynamic dims fixed for TensorFlow: input_ids=[1, 16]" in r.stdout
    info, _ = inspect_json(out)
    assert info["inputs"][0]["shape"] == [1, 16]


# ------------------------------------------------------------------ units
def test_other_size():
    assert [dynamic_sizes.other_size(b) for b in (1, 2, 16, 128)] == [3, 4, 37, 161]


def test_parse_shapes():
    assert dynamic_sizes.parse_shapes(["batch:1,4", "seq: 16, 37"]) == {"batch": [1, 4], "seq": [16, 37]}
    for bad in (["batch"], ["batch:"], ["batch:a"], ["batch:1", "batch:2"]):
        with pytest.raises(UsageError):
            dynamic_sizes.parse_shapes(bad)


def test_groups_follow_names_permutations_and_shared_axes():
    raw = [TensorSpec("image", ["batch", 3, 8, 8]), TensorSpec("ids", [None, "seq"]), TensorSpec("mask", [None, "seq"])]
    base = [TensorSpec("image", [1, 3, 8, 8]), TensorSpec("ids", [1, 16]), TensorSpec("mask", [1, 16])]
    cand = [TensorSpec("image", ["d0", 8, 8, 3]), TensorSpec("ids", [1, "d1"]), TensorSpec("mask", [1, "d1"])]
    io_map = IOMap([TensorMapping("image", "image", [0, 2, 3, 1]), TensorMapping("ids", "ids", None),
                    TensorMapping("mask", "mask", None)], [])
    groups = {g.label: g for g in dynamic_sizes.claimed_groups(raw, base, cand, io_map)}
    assert set(groups) == {"batch", "seq"}
    assert groups["seq"].members == [("ids", 1), ("mask", 1)] and groups["seq"].base == 16
    # unnamed dims at the same axis and size change together (the batch of two inputs)
    two = [TensorSpec("a", ["d0", 4]), TensorSpec("b", ["d0", 2])]
    m2 = IOMap([TensorMapping("a", "a", None), TensorMapping("b", "b", None)], [])
    g2 = dynamic_sizes.claimed_groups(None, [TensorSpec("a", [1, 4]), TensorSpec("b", [1, 2])], two, m2)
    assert len(g2) == 1 and g2[0].members == [("a", 0), ("b", 0)] and g2[0].label == "a[0]"
    runs = dynamic_sizes.size_sets(g2, {"a[0]": [1, 5, 5]})
    assert [(g.label, s) for g, s in runs] == [("a[0]", 5)]


def test_the_edges_proof_is_held_to_the_conversions_own_tolerances():
    """The proof that keeps a dim judges at the tolerances the conversion's validation uses: a looser
    --atol must not fix a dim the final verdict passes, a stricter one must not keep a dim it fails.
    Per-output tolerances stay behind (they name the source's outputs, the proof's reference is the
    step's ONNX); the weights and task of a PyTorch or Hugging Face source are not the proof's."""
    from modelport.converters.job import EdgeJob
    from modelport.converters.options import EdgeOptions
    from modelport.pipeline.dim_proof import validation_options
    from modelport.validators.validate_options import ValidateOptions

    job = EdgeJob("onnx->tflite", "onnx_to_tf", "m.onnx", "onnx", None, "tflite", "m.tflite",
                  EdgeOptions(weights="w.pt", task="text-classification", value_ranges={"ids": [0, 30]}))
    judged = ValidateOptions(atol=("1e-3", "logits:1e-2"), rtol=("0",), preset="fp16", samples=3).to_dict()
    opts = validation_options(job, judged)
    assert (opts.atol, opts.rtol, opts.preset) == (("1e-3",), ("0",), "fp16")
    assert opts.weights is None and opts.task is None and opts.value_ranges == ("ids:0,30",)
    plain = validation_options(job)  # no validation asked: the defaults, as `validate` has them
    assert (plain.atol, plain.rtol, plain.preset) == ((), (), None)


def test_validate_names_the_dims_as_the_conversion_named_them(tmp_path):
    """A PyTorch callable declares no dim names: the dynamic batch a conversion named `batch`
    (--input-shape image:batch=1,...) is `batch` for validate too, read from the candidate's
    manifest or validate's own --input-shape, so `--shapes batch:1,4` means what the user wrote."""
    out = tmp_path / "cnn.tflite"
    assert run_cli("convert", f"{F}/models.py:cnn", "--to", "tflite", "-o", out, "--input-shape",
                   "image:batch=1,3,32,32", "--no-validate").code == 0
    res = run_cli("validate", f"{F}/models.py:cnn", out, "--input-shape", "image:1,3,32,32", "--shapes", "batch:1,4")
    assert res.code == 0, res.stdout + res.stderr
    assert "dynamic dim batch proven at sizes 1, 4" in res.stdout
    bare = tmp_path / "bare.tflite"  # without its manifest, the dim has only the name validate's option gives
    bare.write_bytes(out.read_bytes())
    res = run_cli("validate", f"{F}/models.py:cnn", bare, "--input-shape", "image:batch=1,3,32,32", "--shapes", "batch:1,4")
    assert res.code == 0 and "dynamic dim batch proven at sizes 1, 4" in res.stdout, res.stdout + res.stderr


CANCELLING = '''
import torch
from torch import nn


class Cancelling(nn.Module):
    """(x * 1e5 + 0.1) - x * 1e5: 0.1 in float64; float32 rounds x * 1e5 + 0.1 to a step of ~4e-3."""

    def forward(self, x):
        return (x * 1e5 + 0.1) - x * 1e5


def build():
    return Cancelling().eval()
'''


def test_a_size_sample_is_judged_against_float64_as_the_base_sample_is(tmp_path):
    """The reference's own float32 rounding is not the candidate's fault at another size either: a
    candidate that computes in float64 (right to the last bit where the float32 reference is 1e-3
    off) passes at batch 1 against the float64 reference, and at batch 4 the same way."""
    (tmp_path / "cancel.py").write_text(CANCELLING)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 4])
    nodes = [helper.make_node("Cast", ["x"], ["x64"], to=TensorProto.DOUBLE),
             helper.make_node("Mul", ["x64", "big"], ["scaled"]),
             helper.make_node("Add", ["scaled", "one"], ["shifted"]),
             helper.make_node("Sub", ["shifted", "scaled"], ["y64"]),
             helper.make_node("Cast", ["y64"], ["output"], to=TensorProto.FLOAT)]
    inits = [numpy_helper.from_array(np.array(1e5), "big"), numpy_helper.from_array(np.array(0.1), "one")]
    model = helper.make_model(helper.make_graph(nodes, "exact", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, tmp_path / "exact.onnx")
    res = run_cli("validate", f"{tmp_path}/cancel.py:build", tmp_path / "exact.onnx", "--input-shape", "x:batch=1,4",
                  "--shapes", "batch:1,4", "--json", tmp_path / "r.json")
    assert res.code == 0, res.stdout + res.stderr
    cand = json.loads((tmp_path / "r.json").read_text())["candidates"][0]
    size4 = next(e for e in cand["sizes"] if e["size"] == 4)
    assert size4["passed"] and "against the source in float64" in size4["detail"], cand["sizes"]


ROW_INDEXED = '''
import torch
from torch import nn


class RowIndexed(nn.Module):
    """x + 1, plus 1e-3 on every row after the first: the same as x + 1 at batch 1 only."""

    def forward(self, x):
        rows = torch.arange(x.shape[0], dtype=x.dtype).clamp(max=1).reshape(-1, 1)
        return x + 1 + 1e-3 * rows


def build():
    return RowIndexed().eval()
'''


def test_a_dim_that_works_on_a_sample_the_outputs_fail_is_told_apart(models, tmp_path):
    """At batch 4 the candidate (x + 1, row by row) computes what it computes on the sample's four
    rows at batch 1, so its batch works; the reference differs on rows 1-3 of that sample. The
    candidate fails (exit 1) on its outputs, and the sizes line says the dim is proven and why the
    sample fails. (MobileNet-v3-small's TFLite met this at batch 4: 0.25% of its logits 3.4e-4 off,
    its batch-4 run equal to its four batch-1 runs.)"""
    (tmp_path / "rows.py").write_text(ROW_INDEXED)
    res = run_cli("validate", f"{tmp_path}/rows.py:build", models["reference"], "--input-shape", "x:batch=1,4",
                  "--shapes", "batch:1,4", "--json", tmp_path / "r.json")
    assert res.code == 1, res.stdout + res.stderr
    cand = _report(tmp_path / "r.json")["candidates"][0]
    size4 = next(e for e in cand["sizes"] if e["size"] == 4)
    assert size4["passed"] and "the dim works" in size4["detail"] and "fail at any size" in size4["detail"], cand["sizes"]
    assert not cand["passed"] and "dynamic dim batch proven at sizes 1, 4" in res.stdout, res.stdout
