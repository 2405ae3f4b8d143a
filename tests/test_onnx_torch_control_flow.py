"""ONNX -> PyTorch control flow (If, Loop, Scan, SequenceMap as submodules) and sequences: the node
tests of those operators in both output forms, data-dependent branches, and the formats that can
and cannot hold them."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from conftest import assert_one_line_error, run_cli
from modelport.converters.onnx_torch import to_fx
from modelport.converters.onnx_torch.conformance import node_tests_dir, run_test

_FAMILY = re.compile(r"^test_(if|loop\d|scan9|sequence_|optional_|split_to_sequence|concat_from_sequence|"
                     r"affine_grid_.*_expanded|range_.*_expanded)")


def _family_tests() -> list[str]:
    return sorted(n for n in os.listdir(node_tests_dir()) if _FAMILY.match(n))


@pytest.mark.parametrize("form", ["fx", "package"])
@pytest.mark.parametrize("name", _family_tests())
def test_node_test_of_control_flow_and_sequences(name, form):
    status, detail = run_test(os.path.join(node_tests_dir(), name), form)
    assert status == "pass", f"{name}: {status}: {detail}"


def _branchy_model(path):
    """y = If(sum(x) > 0, then: relu(x) * w, else: -x) followed by a Loop adding x three times to
    it: the If reads the outer x and w, the Loop body reads the outer x."""
    f = TensorProto.FLOAT
    w = helper.make_tensor("w", f, [3], [1.0, 2.0, 3.0])
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Mul", ["r", "w"], ["t"])],
                               "then", [], [helper.make_tensor_value_info("t", f, [2, 3])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", f, [2, 3])])
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "x"], ["acc_out"]), helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("acc_in", f, [2, 3])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", f, [2, 3])])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g),
             helper.make_node("Loop", ["trips", "", "y"], ["z"], body=body)]
    graph = helper.make_graph(nodes, "branchy", [helper.make_tensor_value_info("x", f, [2, 3])],
                              [helper.make_tensor_value_info("z", f, [2, 3])],
                              initializer=[w, helper.make_tensor("zero", f, [], [0.0]),
                                           helper.make_tensor("trips", TensorProto.INT64, [], [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return model


def test_control_flow_follows_the_data_in_fx_and_package_forms(tmp_path):
    from modelport.converters.onnx_torch.package import write
    from modelport.torch_modules import load_package

    model = _branchy_model(tmp_path / "branchy.onnx")
    gm = to_fx(model)
    write(gm, str(tmp_path / "pkg"), source="branchy.onnx", doc="test", inputs=[("x", [2, 3], "float32")],
          outputs=["z"])
    package = load_package(str(tmp_path / "pkg"))[0]
    source = (tmp_path / "pkg" / "model.py").read_text()
    assert "class ThenBranch(torch.nn.Module)" in source and "class LoopBody(torch.nn.Module)" in source
    w = np.array([1.0, 2.0, 3.0], np.float32)
    for x in (np.abs(np.random.default_rng(0).standard_normal((2, 3))).astype(np.float32),
              -np.abs(np.random.default_rng(1).standard_normal((2, 3))).astype(np.float32)):
        y = np.maximum(x, 0) * w if x.sum() > 0 else -x
        want = y + 3 * x
        for module in (gm, package):
            np.testing.assert_allclose(module(torch.from_numpy(x)).detach().numpy(), want, rtol=1e-6)


def test_control_flow_refuses_tracing_and_suggests_the_package(tmp_path):
    _branchy_model(tmp_path / "branchy.onnx")
    res = run_cli("convert", tmp_path / "branchy.onnx", "--to", "pytorch", "--pytorch-format", "torchscript",
                  "-o", tmp_path / "b.pt")
    # the If's condition comes from x's values: no preparation can fold it, so one strategy is the answer
    assert_one_line_error(res, 3, "control flow (If, Loop)", "input 'x' decides operand 0", "--pytorch-format package")
    assert "fold               not tried" in res.stderr, res.stderr
    res = run_cli("convert", tmp_path / "branchy.onnx", "--to", "pytorch", "-o", tmp_path / "b.pt2")
    assert_one_line_error(res, 3, "torch.export could not trace", "use --pytorch-format package")
    res = run_cli("convert", tmp_path / "branchy.onnx", "--to", "pytorch", "--pytorch-format", "package",
                  "-o", tmp_path / "b_pytorch", "--samples", "4", "--json")
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["validation"]["passed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b_pytorch", "b_pytorch.modelport.json", "branchy.onnx"]
