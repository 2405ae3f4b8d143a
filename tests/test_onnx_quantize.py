"""`--quantize` for ONNX outputs (issue 16, item 3): dynamic-int8, static QDQ int8 calibrated on the
user's samples, and fp16 with float32 inputs and outputs (float16 with --fp16-io), each judged against the float source with
its tolerance preset. Real conversions through the CLI; the quantized files are opened with onnx
and ONNX Runtime to check what the manifest claims."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import FIXTURES, assert_one_line_error, run_cli
from modelport.converters.planner import parse_route, plan, route_text
from modelport.errors import UsageError
from modelport.types import Format

CNN_ONNX = FIXTURES / "onnx" / "cnn.onnx"


def _manifest(path) -> dict:
    return json.loads(open(f"{path}.modelport.json").read())


def _initializer_types(path) -> set[int]:
    return {t.data_type for t in onnx.load(str(path)).graph.initializer}


def test_the_quantizing_step_follows_the_route_to_onnx():
    assert route_text(plan(Format.ONNX, Format.ONNX, quantize="fp16")) == "onnx -> onnx"
    assert route_text(plan(Format.PYTORCH, Format.ONNX, quantize="int8")) == "pytorch -> onnx -> onnx"
    assert route_text(plan(Format.SAVEDMODEL, Format.ONNX, quantize="dynamic-int8")) == "savedmodel -> onnx -> onnx"
    # TFLite keeps its own quantizer (TFLiteConverter, after a SavedModel), and no route changes without --quantize.
    assert route_text(plan(Format.ONNX, Format.TFLITE, quantize="int8")) == "onnx -> savedmodel -> tflite"
    assert route_text(plan(Format.PYTORCH, Format.ONNX)) == "pytorch -> onnx"
    with pytest.raises(UsageError, match="already onnx"):
        plan(Format.ONNX, Format.ONNX)
    with pytest.raises(UsageError, match="tflite, onnx, tfjs outputs only"):
        plan(Format.PYTORCH, Format.SAVEDMODEL, quantize="fp16")
    with pytest.raises(UsageError, match="it needs --quantize"):
        parse_route("pytorch->onnx->onnx", Format.PYTORCH, Format.ONNX)


def test_dynamic_int8_and_fp16_onnx_pass_their_presets_and_hold_what_they_claim(tmp_path):
    dyn = tmp_path / "cnn_dyn.onnx"
    r = run_cli("convert", CNN_ONNX, "--to", "onnx", "--quantize", "dynamic-int8", "-o", dyn, "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr
    record = _manifest(dyn)
    assert record["route"] == "onnx -> onnx" and record["options"]["quantize"] == "dynamic-int8"
    assert record["steps"][0]["details"]["quantize"] == "dynamic-int8"
    assert "cos>=0.98 top1>=0.9" in r.stdout  # judged with the int8 preset, against the float model
    assert TensorProto.INT8 in _initializer_types(dyn) or TensorProto.UINT8 in _initializer_types(dyn)

    half = tmp_path / "cnn_half.onnx"
    r = run_cli("convert", CNN_ONNX, "--to", "onnx", "--quantize", "fp16", "-o", half, "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr
    assert "cos>=0.999" in r.stdout and _manifest(half)["validation"]["passed"]
    model = onnx.load(str(half))
    assert TensorProto.FLOAT16 in _initializer_types(half)
    # inputs and outputs stay float32: a drop-in replacement for the float model
    assert {v.type.tensor_type.elem_type for v in list(model.graph.input) + list(model.graph.output)} == {TensorProto.FLOAT}


@pytest.mark.slow
def test_static_int8_from_pytorch_is_qdq_calibrated_and_the_preset_can_fail(tmp_path):
    calib = tmp_path / "calib.npz"
    np.savez(calib, image=np.random.default_rng(1).standard_normal((8, 3, 32, 32)).astype(np.float32))
    out = tmp_path / "cnn_int8.onnx"
    r = run_cli("convert", f"{FIXTURES / 'models.py'}:cnn", "--to", "onnx", "--quantize", "int8",
                "--calibration-data", calib, "-o", out, "--input-shape", "image:1,3,32,32", "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr
    record = _manifest(out)
    assert record["route"] == "pytorch -> onnx -> onnx"
    details = record["steps"][-1]["details"]
    assert details["format"] == "QDQ" and details["calibration_samples"] == 8, details
    model = onnx.load(str(out))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops, ops
    # uint8 activations by default (ONNX Runtime's fast U8S8 path on x86-64), int8 weights
    assert details["activation_type"] == "uint8" and _activation_zero_point_types(model) == {TensorProto.UINT8}
    assert record["validation"]["passed"]
    # The int8 preset is not a rubber stamp: the same artifact against other weights fails (exit 1).
    r = run_cli("validate", f"{FIXTURES / 'models.py'}:untrained_cnn", out, "--input-shape", "image:1,3,32,32")
    assert r.code == 1, r.stdout + r.stderr


def _activation_zero_point_types(model) -> set[int]:
    """The types of the zero points the QuantizeLinear nodes of activations use (not weights')."""
    inits = {i.name: i for i in model.graph.initializer}
    return {inits[n.input[2]].data_type for n in model.graph.node
            if n.op_type == "QuantizeLinear" and n.input[0] not in inits and len(n.input) > 2}


def _overflowing_model(path) -> None:
    """y = relu((x @ 1e5·I) · 1e-5): equal to relu(x) in float32, but the middle tensor is past
    float16's 65504, so a plain float16 conversion gives inf there."""
    big = numpy_helper.from_array((np.eye(4) * 1e5).astype(np.float32), "big")
    small = numpy_helper.from_array(np.array(1e-5, np.float32), "small")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "big"], ["scaled"], name="scale_up"),
         helper.make_node("Mul", ["scaled", "small"], ["back"], name="scale_down"),
         helper.make_node("Relu", ["back"], ["y"], name="relu")],
        "overflow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [big, small])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_fp16_keeps_the_nodes_whose_values_overflow_float16_in_float32(tmp_path):
    source = tmp_path / "overflow.onnx"
    _overflowing_model(source)
    # What the check prevents, measured: ONNX Runtime's converter alone gives inf or garbage here.
    from onnxruntime.transformers.float16 import convert_float_to_float16
    import onnxruntime as ort

    plain = tmp_path / "plain_fp16.onnx"
    onnx.save(convert_float_to_float16(onnx.load(str(source)), keep_io_types=True), str(plain))
    x = np.random.default_rng(0).standard_normal((1, 4)).astype(np.float32)
    got = ort.InferenceSession(str(plain), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert not np.allclose(got, np.maximum(x, 0), atol=1e-2)

    out = tmp_path / "overflow_fp16.onnx"
    r = run_cli("convert", source, "--to", "onnx", "--quantize", "fp16", "-o", out, "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr
    assert "kept in float32, they write or read values within 4x of float16's 65504" in r.stdout
    kept = _manifest(out)["steps"][0]["details"]["kept_float32"]
    assert sorted(kept) == ["scale_down", "scale_up"], kept


def test_fp16_io_makes_inputs_and_outputs_float16_and_validates_them(tmp_path):
    """--fp16-io: the model takes and gives float16 (what a float16 pipeline feeds it). Validation
    feeds it the samples rounded to float16 and judges its float16 outputs with the fp16 preset
    against the float32 source; it passes, and it fails against other weights."""
    out = tmp_path / "cnn_half_io.onnx"
    r = run_cli("convert", CNN_ONNX, "--to", "onnx", "--quantize", "fp16", "--fp16-io", "-o", out, "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr
    model = onnx.load(str(out))
    assert {v.type.tensor_type.elem_type for v in list(model.graph.input) + list(model.graph.output)} == {TensorProto.FLOAT16}
    record = _manifest(out)
    assert record["steps"][-1]["details"]["io_types"] == "float16" and record["options"]["fp16_io"] is True
    assert record["validation"]["passed"] and "cos>=0.999" in r.stdout
    r = run_cli("validate", f"{FIXTURES / 'models.py'}:untrained_cnn", out, "--input-shape", "image:1,3,32,32")
    assert r.code == 1, r.stdout + r.stderr
    # refused where it means nothing: without --quantize fp16, or for a TFLite output
    r = run_cli("convert", CNN_ONNX, "--to", "onnx", "--quantize", "dynamic-int8", "--fp16-io", "-o", tmp_path / "a.onnx")
    assert_one_line_error(r, 2, "give --quantize fp16 too")
    r = run_cli("convert", CNN_ONNX, "--to", "tflite", "--quantize", "fp16", "--fp16-io", "-o", tmp_path / "a.tflite")
    assert_one_line_error(r, 2, "--fp16-io applies to an ONNX output")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn_half_io.onnx", "cnn_half_io.onnx.modelport.json"]


def _rounding_model(path) -> None:
    """y = 1 / ((x + 1.0001) - (x + 1)): about 1e4 in float32, far from 65504, but 1.0001 is 1 in
    float16, so a plain float16 conversion divides by 0."""
    consts = [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in
              (("near_one", 1.0001), ("one", 1.0), ("unit", 1.0))]
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "near_one"], ["a"], name="add_near"),
         helper.make_node("Add", ["x", "one"], ["b"], name="add_one"),
         helper.make_node("Sub", ["a", "b"], ["d"], name="gap"),
         helper.make_node("Div", ["unit", "d"], ["y"], name="inverse")],
        "rounding", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], consts)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_fp16_widens_float32_where_float16_rounding_makes_inf(tmp_path):
    """No value comes near 65504, so the overflow probe keeps nothing; the float16 model still
    writes inf (a constant rounded to 1). The check runs the converted model, finds the first node
    that goes non-finite from finite inputs, and widens float32 upstream until the probe's inputs
    give finite values: the division, then the subtraction, then the two additions."""
    import onnxruntime as ort
    from onnxruntime.transformers.float16 import convert_float_to_float16

    source = tmp_path / "rounding.onnx"
    _rounding_model(source)
    plain = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    feed = {"x": np.random.default_rng(0).standard_normal((1, 4)).astype(np.float32)}
    assert not np.isfinite(ort.InferenceSession(plain.SerializeToString()).run(None, feed)[0]).all()
    out = tmp_path / "rounding_fp16.onnx"
    r = run_cli("convert", source, "--to", "onnx", "--quantize", "fp16", "-o", out, "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr
    details = _manifest(out)["steps"][-1]["details"]
    assert sorted(details["kept_float32"]) == ["add_near", "add_one", "gap", "inverse"], details
    assert any("float16 rounding made NaN or inf there (first at inverse)" in n for n in _manifest(out)["steps"][-1]["notes"])
    got = ort.InferenceSession(str(out)).run(None, feed)[0]
    assert np.isfinite(got).all() and np.allclose(got, 1 / ((feed["x"] + np.float32(1.0001)) - (feed["x"] + 1)), rtol=1e-2)


def test_a_source_with_external_data_is_quantized_into_one_file(tmp_path):
    """Exporters and Optimum write weights beside model.onnx; the quantizers read the model whole
    (a one-file copy in the edge's scratch folder) and the artifact is one file."""
    source = tmp_path / "cnn_ext.onnx"
    onnx.save(onnx.load(CNN_ONNX), str(source), save_as_external_data=True, all_tensors_to_one_file=True,
              location="cnn_ext.weights")  # onnx's default threshold: tensors over 1 KB go to the file
    assert (tmp_path / "cnn_ext.weights").exists()
    assert any(t.data_location == TensorProto.EXTERNAL for t in onnx.load(str(source), load_external_data=False).graph.initializer)
    for mode in ("fp16", "dynamic-int8"):
        out = tmp_path / f"cnn_{mode}.onnx"
        r = run_cli("convert", source, "--to", "onnx", "--quantize", mode, "-o", out, "--samples", "2")
        assert r.code == 0, r.stdout + r.stderr
        model = onnx.load(str(out), load_external_data=False)
        assert not any(t.data_location == TensorProto.EXTERNAL for t in model.graph.initializer)
        assert _manifest(out)["validation"]["passed"]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("cnn_ext")) == [
        "cnn_dynamic-int8.onnx", "cnn_dynamic-int8.onnx.modelport.json", "cnn_fp16.onnx", "cnn_fp16.onnx.modelport.json"]


def test_dynamic_int8_of_a_dynamo_export_with_a_dynamic_batch(tmp_path):
    """The dynamo exporter's value_info for the fixture CNN with a dynamic batch made ONNX Runtime's
    quantize_dynamic fail ("[ShapeInferenceError] Inferred shape and existing shape differ"); the
    edge quantizes again without it, and says so."""
    out = tmp_path / "cnn_dyn.onnx"
    r = run_cli("convert", f"{FIXTURES / 'models.py'}:cnn", "--to", "onnx", "--quantize", "dynamic-int8",
                "--input-shape", "image:batch,3,32,32", "-o", out, "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr
    step = _manifest(out)["steps"][-1]
    assert any("without the source's value_info" in n for n in step["notes"]), step["notes"]
    assert "dynamic dim batch proven at sizes 1, 3" in r.stdout


def test_quantize_refusals_are_one_line(tmp_path):
    r = run_cli("convert", CNN_ONNX, "--to", "onnx", "--quantize", "int8", "-o", tmp_path / "x.onnx")
    assert_one_line_error(r, 2, "--calibration-data")
    r = run_cli("convert", CNN_ONNX, "--to", "savedmodel", "--quantize", "fp16", "-o", tmp_path / "x_sm")
    assert_one_line_error(r, 2, "tflite, onnx, tfjs outputs only")
    r = run_cli("convert", CNN_ONNX, "--to", "onnx", "-o", tmp_path / "y.onnx")
    assert_one_line_error(r, 2, "already onnx")
    r = run_cli("convert", CNN_ONNX, "--to", "onnx", "--quantize", "fp16", "--int8-activations", "int8",
                "-o", tmp_path / "z.onnx")
    assert_one_line_error(r, 2, "--int8-activations", "--quantize int8")
    calib = str(FIXTURES / "calibration" / "cnn_calibration.npz")
    r = run_cli("convert", CNN_ONNX, "--to", "tflite", "--quantize", "int8", "--calibration-data", calib,
                "--int8-activations", "uint8", "-o", tmp_path / "w.tflite")
    assert_one_line_error(r, 2, "--int8-activations applies to an ONNX output")
    assert not list(tmp_path.iterdir())


def test_static_int8_of_an_opset_11_model_is_upgraded_for_per_channel_scales(tmp_path):
    """Below opset 13 DequantizeLinear has no `axis`, yet ONNX Runtime's quantize_static writes
    per-channel ones there: the model it wrote did not load ("Unrecognized attribute: axis"; the
    ONNX model zoo's light ResNet-50 is opset 9). The edge upgrades the opset to 13 first."""
    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "old", [x], [y], [w, b]), opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    onnx.save(model, tmp_path / "old.onnx")
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((8, 3, 8, 8)).astype(np.float32))
    out = tmp_path / "old_int8.onnx"
    r = run_cli("convert", tmp_path / "old.onnx", "--to", "onnx", "--quantize", "int8", "--calibration-data",
                tmp_path / "calib.npz", "-o", out, "--samples", "2", "--int8-activations", "int8")
    assert r.code == 0, r.stdout + r.stderr
    step = _manifest(out)["steps"][-1]
    assert step["details"]["per_channel"] is True
    assert step["details"]["activation_type"] == "int8"  # as asked (S8S8)
    assert _activation_zero_point_types(onnx.load(str(out))) == {TensorProto.INT8}
    assert any("opset upgraded from 11 to 13" in n for n in step["notes"]), step["notes"]


def test_dynamic_int8_of_an_ir3_model_whose_batch_norm_is_fused(tmp_path):
    """IR 3 (the ONNX model zoo's light ResNet-50): every initializer is also a graph input. ONNX
    Runtime's optimizer folds BatchNormalization into the Conv with a new initializer it does not
    list as an input, and quantize_dynamic's opset upgrade then stopped: "Input ConvBnFusion_W_w is
    undefined!" (exit 3). The weights reach int8 and the model still matches the float one."""
    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])
    params = {"w": rng.standard_normal((4, 3, 3, 3)) * 0.3, "scale": rng.uniform(0.5, 1.5, 4), "bias": rng.standard_normal(4),
              "mean": rng.standard_normal(4) * 0.1, "var": rng.uniform(0.5, 1.5, 4)}
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in params.items()]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["b"], name="bn"),
             helper.make_node("Relu", ["b"], ["y"], name="relu")]
    listed = [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.dims)) for t in inits]
    model = helper.make_model(helper.make_graph(nodes, "ir3", [x, *listed], [y], inits),
                              opset_imports=[helper.make_opsetid("", 9)])
    model.ir_version = 3
    onnx.save(model, tmp_path / "ir3.onnx")
    out = tmp_path / "ir3_dyn.onnx"
    r = run_cli("convert", tmp_path / "ir3.onnx", "--to", "onnx", "--quantize", "dynamic-int8", "-o", out, "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr
    assert {"ConvInteger", "DynamicQuantizeLinear"} <= {n.op_type for n in onnx.load(str(out)).graph.node}


def test_quantize_exclude_keeps_the_named_nodes_in_float(tmp_path):
    """--quantize-exclude NODE: ONNX Runtime's quantizer leaves that node's weights in float (the
    layer `modelport locate` names when int8 goes wrong there); a name that is no node, a TFLite
    target and no --quantize are one line each, exit 2, nothing written."""
    calib = str(FIXTURES / "calibration" / "cnn_calibration.npz")
    out = tmp_path / "cnn_int8.onnx"
    r = run_cli("convert", FIXTURES / "onnx" / "cnn.onnx", "--to", "onnx", "--quantize", "int8", "--calibration-data",
                calib, "--quantize-exclude", "node_linear", "-o", out, "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr
    model = onnx.load(out)
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    weight = next(i for i in model.graph.initializer if i.name == gemm.input[1])
    assert weight.data_type == TensorProto.FLOAT  # the excluded node reads a float weight, no DequantizeLinear
    quantized = {i.name: i.data_type for i in model.graph.initializer if i.name.endswith("_quantized")}
    assert {quantized.get(f"features.{k}.weight_quantized") for k in (0, 4)} == {TensorProto.INT8}, quantized
    assert not any(name.startswith("classifier.") for name in quantized), quantized  # the excluded Gemm: none
    assert _manifest(out)["steps"][-1]["details"]["kept_float"] == ["node_linear"]
    # dynamic-int8: ONNX Runtime's dynamic quantizer rewrites the Gemm as node_linear_MatMul + node_linear_Add
    # before it reads the exclusions; the classifier still stays float
    dyn = tmp_path / "cnn_dyn.onnx"
    r = run_cli("convert", FIXTURES / "onnx" / "cnn.onnx", "--to", "onnx", "--quantize", "dynamic-int8",
                "--quantize-exclude", "node_linear", "-o", dyn, "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr
    model = onnx.load(dyn)
    ops = {n.name: n.op_type for n in model.graph.node}
    assert ops.get("node_linear_MatMul") == "MatMul" and "ConvInteger" in ops.values(), ops  # the Conv layers: int8
    head = next(n for n in model.graph.node if n.name == "node_linear_MatMul")
    assert next(i for i in model.graph.initializer if i.name == head.input[1]).data_type == TensorProto.FLOAT
    onnx_src = FIXTURES / "onnx" / "cnn.onnx"
    assert_one_line_error(run_cli("convert", onnx_src, "--to", "onnx", "--quantize", "int8", "--calibration-data", calib,
                                  "--quantize-exclude", "nope", "-o", tmp_path / "a.onnx"), 2, "no node of that name",
                          "node_Conv_22")
    assert_one_line_error(run_cli("convert", onnx_src, "--to", "tflite", "--quantize", "int8", "--calibration-data", calib,
                                  "--quantize-exclude", "node_linear", "-o", tmp_path / "b.tflite"), 2, "ONNX output")
    assert_one_line_error(run_cli("convert", onnx_src, "--to", "onnx", "--quantize-exclude", "node_linear",
                                  "-o", tmp_path / "c.onnx"), 2, "give --quantize too")
    assert not any(p.name.startswith(("a.", "b.", "c.")) for p in tmp_path.iterdir())


def _if_model(path) -> None:
    """y = relu(If(sum(x) > -1e30, then: (x·W·W)/1000/1000, else: the same with W = I)), W = 1000·I."""
    def body(name: str, scale: float):
        w = numpy_helper.from_array((np.eye(8) * scale).astype(np.float32), f"{name}_w")
        up = numpy_helper.from_array(np.array(scale, np.float32), f"{name}_up")
        nodes = [helper.make_node("MatMul", ["x", w.name], [f"{name}_big"], name=f"{name}_mul"),
                 helper.make_node("MatMul", [f"{name}_big", w.name], [f"{name}_bigger"], name=f"{name}_mul2"),
                 helper.make_node("Div", [f"{name}_bigger", up.name], [f"{name}_back"], name=f"{name}_div1"),
                 helper.make_node("Div", [f"{name}_back", up.name], [f"{name}_out"], name=f"{name}_div2")]
        return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, None)],
                                 [w, up])

    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], name="sum", keepdims=0),
             helper.make_node("Greater", ["s", "floor"], ["c"], name="always"),
             helper.make_node("If", ["c"], ["y"], name="branch", then_branch=body("then", 1000.0),
                              else_branch=body("else", 1.0)),
             helper.make_node("Relu", ["y"], ["out"], name="relu")]
    graph = helper.make_graph(nodes, "if_model", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 8])],
                              [numpy_helper.from_array(np.array(-1e30, np.float32), "floor")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_quantize_exclude_of_an_if_keeps_its_body_and_a_body_node_alone_is_refused(tmp_path):
    """Naming an If keeps its whole body in float32 (the float16 converter does not enter a blocked
    node's bodies); naming one node inside the body would make ONNX Runtime's converter write a model
    ONNX Runtime refuses, so it is one line, exit 2, naming the If to use instead, nothing written."""
    source = tmp_path / "if_model.onnx"
    _if_model(source)
    out = tmp_path / "if_fp16.onnx"
    assert_one_line_error(run_cli("convert", source, "--to", "onnx", "--quantize", "fp16", "--quantize-exclude",
                                  "then_mul2", "-o", out), 2, "inside the body of 'branch'", "--quantize-exclude branch")
    assert not out.exists()
    r = run_cli("convert", source, "--to", "onnx", "--quantize", "fp16", "--quantize-exclude", "branch", "-o", out)
    assert r.code == 0, r.stdout + r.stderr
    branch = next(n for n in onnx.load(str(out)).graph.node if n.name == "branch")
    body_types = {i.data_type for a in branch.attribute for i in a.g.initializer}
    assert body_types == {TensorProto.FLOAT}
    plain = tmp_path / "plain_fp16.onnx"
    assert run_cli("convert", source, "--to", "onnx", "--quantize", "fp16", "-o", plain).code == 0
    branch = next(n for n in onnx.load(str(plain)).graph.node if n.name == "branch")
    assert {i.data_type for a in branch.attribute for i in a.g.initializer} == {TensorProto.FLOAT16}


def test_static_int8_keeps_matmul_and_add_apart(tmp_path):
    """ONNX Runtime's pre-processing would fuse MatMul + Add (a transformer's Linear) into a Gemm that
    its CPU kernels do not run quantized from QDQ (the weight dequantized on every run: 131 ms
    against float's 21 ms on a 4096x16384 block, benchmarks/large_onnx.py); the edge optimizes
    without that fusion, so the quantized MatMul stays a MatMul."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array((rng.standard_normal((64, 32)) / 8).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(32).astype(np.float32), "b")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="linear"),
             helper.make_node("Add", ["h", "b"], ["hb"], name="bias"),
             helper.make_node("Relu", ["hb"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "linear", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 32])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "linear.onnx"))
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((8, 64)).astype(np.float32))
    out = tmp_path / "linear_int8.onnx"
    r = run_cli("convert", tmp_path / "linear.onnx", "--to", "onnx", "--quantize", "int8", "--calibration-data",
                tmp_path / "calib.npz", "-o", out, "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert "MatMul" in ops and "Gemm" not in ops, ops


def test_the_kept_float_check_reads_the_written_model(tmp_path):
    """_check_kept_float is what stands behind the manifest's kept_float: a model where ONNX Runtime
    quantized the named node anyway (its dynamic quantizer renames a Gemm, a static one puts a
    DequantizeLinear before its weight) or halved its weight is refused, the float source passes."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from modelport.converters.edges.onnx_quantize import _check_kept_float
    from modelport.errors import ConversionError

    _check_kept_float(onnx.load(str(CNN_ONNX)), ["node_linear", "node_Conv_22"])
    dyn = tmp_path / "dyn.onnx"
    quantize_dynamic(str(CNN_ONNX), str(dyn), weight_type=QuantType.QInt8)
    with pytest.raises(ConversionError, match="no node of that name any more"):
        _check_kept_float(onnx.load(str(dyn)), ["node_linear"])
    half = tmp_path / "half.onnx"
    onnx.save(convert_float_to_float16(onnx.load(str(CNN_ONNX)), keep_io_types=True), str(half))
    with pytest.raises(ConversionError, match="a quantized or float16 weight"):
        _check_kept_float(onnx.load(str(half)), ["node_Conv_22"])
