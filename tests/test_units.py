"""Fast unit tests: option parsing, route planning, layout inference, types, format detection,
atomic placement, manifest hashing, default output names and the offline network guard.

Nothing here imports torch or TensorFlow; the network guard runs in a subprocess because it
patches the socket module globally.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import BAD, FIXTURES, ROOT
from modelport import manifest
from modelport.api import default_output
from modelport.formats import detect, is_callable_reference
from modelport.layout import channel_last_perm, infer_perm
from modelport.converters.options import EdgeOptions, build_options
from modelport.input_overrides import InputOverride, parse_input_dtype, parse_input_shape
from modelport.converters.planner import EDGES, alternative_routes, matrix, plan, route_text
from modelport.errors import EXIT_USAGE, UsageError
from modelport.placement import check_free, make_scratch, place, write_atomic
from modelport.types import Format, IOMap, IOSpec, TensorMapping, TensorSpec, compose_perms

P, O, S, T, K = Format.PYTORCH, Format.ONNX, Format.SAVEDMODEL, Format.TFLITE, Format.KERAS


def _usage(fn, *args, **kwargs) -> str:
    with pytest.raises(UsageError) as ei:
        fn(*args, **kwargs)
    assert ei.value.exit_code == EXIT_USAGE == 2
    assert "\n" not in ei.value.message
    return ei.value.message


# ------------------------------------------------------------------ options
def test_parse_input_shape_ints():
    o = parse_input_shape("x:1,3,224,224")
    assert (o.name, o.shape, o.example, o.dtype) == ("x", [1, 3, 224, 224], [1, 3, 224, 224], None)


def test_parse_input_shape_dynamic_and_example_sizes():
    o = parse_input_shape("ids:batch,seq=16")
    assert o.shape == ["batch", "seq"]
    assert o.example == [None, 16]
    o = parse_input_shape(" image : batch=2, 3 ,32,32 ".replace(" : ", ":"))
    assert o.name == "image" and o.shape == ["batch", 3, 32, 32] and o.example == [2, 3, 32, 32]


def test_parse_input_shape_names_with_dots_and_slashes():
    assert parse_input_shape("input.1:1,4").name == "input.1"
    assert parse_input_shape("serving/x:2").name == "serving/x"


@pytest.mark.parametrize("text", ["x", "x:", ":1,2", "1x:1,2", "x:1,,2", "x:-1,2", "x:1.5", "x:a-b", "x:batch=", "x:=3"])
def test_parse_input_shape_rejects_bad_syntax(text):
    msg = _usage(parse_input_shape, text)
    assert "--input-shape" in msg


@pytest.mark.parametrize("text", ["x:0,3", "x:1,0", "x:batch=0"])
def test_parse_input_shape_rejects_zero_sizes(text):
    assert "positive" in _usage(parse_input_shape, text)


def test_parse_input_dtype():
    assert parse_input_dtype("ids:int64") == ("ids", "int64")
    assert parse_input_dtype("mask:bool") == ("mask", "bool")
    for bad in ("ids:float", "ids:Int64", "ids", "ids:", "ids:int65"):
        assert "--input-dtype" in _usage(parse_input_dtype, bad)


def test_build_options_merges_shape_and_dtype():
    opts = build_options(input_shapes=["ids:1,seq=16", "mask:1,seq"], input_dtypes=["ids:int64", "extra:bool"])
    assert [i.name for i in opts.inputs] == ["ids", "mask", "extra"]
    ids = opts.input("ids")
    assert ids.shape == [1, "seq"] and ids.example == [1, 16] and ids.dtype == "int64"
    assert opts.input("extra").shape is None and opts.input("extra").dtype == "bool"
    assert opts.input("nosuch") is None


def test_build_options_round_trips_through_json():
    opts = build_options(input_shapes=["x:batch=2,3"], input_dtypes=["x:float16"], opset=17, quantize="fp16")
    again = EdgeOptions.from_dict(json.loads(json.dumps(opts.to_dict())))
    assert again == opts
    assert isinstance(again.inputs[0], InputOverride)


def test_build_options_duplicate_input_shape():
    assert "twice" in _usage(build_options, input_shapes=["x:1,2", "x:3,4"])


def test_build_options_bad_dtype_and_bad_opset_and_quantize():
    _usage(build_options, input_dtypes=["x:complex64"])
    assert "--opset" in _usage(build_options, opset=6)
    assert "--opset" in _usage(build_options, opset=26)
    assert build_options(opset=7).opset == 7
    assert "--quantize" in _usage(build_options, quantize="int4")


def test_int8_needs_calibration_data():
    msg = _usage(build_options, quantize="int8")
    assert "--calibration-data" in msg


def test_calibration_data_without_int8(tmp_path):
    calib = FIXTURES / "calibration" / "cnn_calibration.npz"
    assert "only used with --quantize int8" in _usage(build_options, calibration_data=str(calib))
    assert "only used with --quantize int8" in _usage(build_options, quantize="fp16", calibration_data=str(calib))
    assert "no such file" in _usage(build_options, quantize="int8", calibration_data=str(tmp_path / "nope.npz"))
    opts = build_options(quantize="int8", calibration_data=os.path.relpath(calib))
    assert opts.calibration_data == str(calib)  # made absolute


def test_weights_file(tmp_path):
    assert "--weights" in _usage(build_options, weights=str(tmp_path / "missing.pt"))
    w = FIXTURES / "pytorch" / "cnn_state_dict.pt"
    assert build_options(weights=os.path.relpath(w)).weights == str(w)


# ------------------------------------------------------------------ planner
def _route(src, dst, **kw) -> str:
    return route_text(plan(src, dst, **kw))


@pytest.mark.parametrize("src,dst,expected", [
    (P, O, "pytorch -> onnx"),
    (P, S, "pytorch -> onnx -> savedmodel"),
    (P, T, "pytorch -> onnx -> tflite"),
    (O, S, "onnx -> savedmodel"),
    (O, T, "onnx -> tflite"),
    (S, O, "savedmodel -> onnx"),
    (S, T, "savedmodel -> tflite"),
    (T, O, "tflite -> onnx"),
    (T, S, "tflite -> savedmodel"),
    (K, S, "keras -> savedmodel"),
    (K, T, "keras -> savedmodel -> tflite"),
    (K, O, "keras -> savedmodel -> onnx"),
])
def test_plan_every_pair(src, dst, expected):
    route = plan(src, dst)
    assert route_text(route) == expected
    # a route is a chain: each edge starts where the last one ended
    assert route[0].source == src and route[-1].target == dst
    assert all(a.target == b.source for a, b in zip(route, route[1:]))
    assert all(e in EDGES for e in route)


def test_plan_via_forces_the_route():
    assert _route(O, T, via=S) == "onnx -> savedmodel -> tflite"
    assert _route(P, T, via=S) == "pytorch -> onnx -> savedmodel -> tflite"
    assert _route(T, O, via=S) == "tflite -> savedmodel -> onnx"
    assert _route(S, O, via=T) == "savedmodel -> tflite -> onnx"
    assert _route(K, O, via=T) == "keras -> savedmodel -> tflite -> onnx"


def test_plan_via_equal_to_source_or_target():
    assert "--via" in _usage(plan, O, T, via=O)
    assert "--via" in _usage(plan, O, T, via=T)


def test_plan_via_without_route():
    assert "through keras" in _usage(plan, O, T, via=K)


@pytest.mark.parametrize("src,expected", [
    (O, "onnx -> savedmodel -> tflite"),
    (P, "pytorch -> onnx -> savedmodel -> tflite"),
    (S, "savedmodel -> tflite"),
    (K, "keras -> savedmodel -> tflite"),
    (T, None),
])
def test_plan_quantize_ends_with_savedmodel_to_tflite(src, expected):
    if expected is None:
        _usage(plan, src, T, quantize="fp16")  # already tflite
        return
    route = plan(src, T, quantize="dynamic-int8")
    assert route_text(route) == expected
    assert (route[-1].source, route[-1].target) == (S, T) and route[-1].quantizes
    assert not any(e.quantizes for e in route[:-1])


def test_plan_quantize_with_via():
    route = plan(O, T, via=S, quantize="int8")
    assert route_text(route) == "onnx -> savedmodel -> tflite" and route[-1].quantizes
    route = plan(S, T, via=O, quantize="fp16")
    assert route_text(route) == "savedmodel -> onnx -> savedmodel -> tflite" and route[-1].quantizes


@pytest.mark.parametrize("src, dst", [(O, S), (T, P), (O, P)])
def test_plan_quantize_needs_a_tflite_or_onnx_target(src, dst):
    assert "--quantize applies to tflite, onnx, tfjs outputs only" in _usage(plan, src, dst, quantize="fp16")


@pytest.mark.parametrize("dst, mode, ok", [(Format.TFJS, "uint8", True), (Format.TFJS, "dynamic-int8", False),
                                           (Format.TFLITE, "uint16", False), (Format.ONNX, "uint8", False)])
def test_plan_quantize_modes_belong_to_their_target(dst, mode, ok):
    if ok:
        assert plan(O, dst, quantize=mode)[-1].target == dst and plan(O, dst, quantize=mode)[-1].quantizes
    else:
        assert f"--quantize {mode} does not apply to a {dst.value} output" in _usage(plan, O, dst, quantize=mode)


def test_tfjs_is_a_target_only_and_the_stablehlo_savedmodel_is_never_a_step():
    assert "tfjs is a target format only" in _usage(plan, Format.TFJS, O)
    assert alternative_routes(P, Format.TFJS) == []  # its SavedModel is one XlaCallModule: TF.js cannot read it


def test_plan_quantize_onnx_ends_with_the_onnx_quantizer():
    route = plan(T, O, quantize="fp16")
    assert route_text(route) == "tflite -> onnx -> onnx" and route[-1].quantizes and route[-1].library == "onnxruntime"
    assert route_text(plan(S, O, via=T, quantize="int8")) == "savedmodel -> tflite -> onnx -> onnx"


@pytest.mark.parametrize("fmt", [P, O, S, T])
def test_plan_same_source_and_target(fmt):
    assert "already" in _usage(plan, fmt, fmt)


@pytest.mark.parametrize("src,route", [(O, "onnx -> pytorch"), (S, "savedmodel -> onnx -> pytorch"),
                                       (T, "tflite -> onnx -> pytorch"), (K, "keras -> savedmodel -> onnx -> pytorch")])
def test_plan_to_pytorch_goes_through_onnx(src, route):
    assert route_text(plan(src, P)) == route


def test_same_format_needs_via_for_a_round_trip():
    assert "--via" in _usage(plan, P, P)
    assert route_text(plan(P, P, via=O)) == "pytorch -> onnx -> pytorch"


def test_plan_to_keras_is_refused():
    assert "keras" in _usage(plan, O, K)


def test_matrix_covers_all_pairs():
    rows = matrix()
    sources, targets = [P, O, S, T, K], [P, O, S, T, Format.TFJS]
    pairs = {(r["source"], r["target"]) for r in rows}
    assert pairs == {(s.value, t.value) for s in sources for t in targets if s != t}
    assert len(rows) == len(pairs) == 21
    for r in rows:
        route = plan(Format(r["source"]), Format(r["target"]))
        assert r["route"] == route_text(route)
        assert r["direct"] == (len(route) == 1)
        assert r["libraries"] == [e.library for e in route]
    assert sum(1 for r in rows if r["route"] and r["source"] != "keras") == 16  # 12 among the four core formats, 4 to tfjs


# ------------------------------------------------------------------ layout
def test_channel_last_perm():
    assert channel_last_perm(4) == [0, 2, 3, 1]
    assert channel_last_perm(3) == [0, 2, 1]
    assert channel_last_perm(5) == [0, 2, 3, 4, 1]


def test_infer_perm_nchw_to_nhwc():
    perm, rule = infer_perm([1, 3, 32, 32], [1, 32, 32, 3])
    assert perm == [0, 2, 3, 1] and "channel-last" in rule
    x = np.zeros((1, 3, 32, 32))
    assert x.transpose(perm).shape == (1, 32, 32, 3)


def test_infer_perm_ncw_to_nwc():
    assert infer_perm([1, 4, 10], [1, 10, 4])[0] == [0, 2, 1]


def test_infer_perm_identity():
    perm, rule = infer_perm([1, 3, 32, 32], [1, 3, 32, 32])
    assert perm is None and "kept" in rule
    assert infer_perm([4, 5], [4, 5])[0] is None


def test_infer_perm_ambiguous():
    perm, rule = infer_perm([2, 2, 2, 2], [2, 2, 2, 2])
    assert perm is None and "ambiguous" in rule
    perm, rule = infer_perm([2, 2, 2, 2], [2, 2, 2, 2], prefer_channel_last=True)
    assert perm == [0, 2, 3, 1] and "converter report" in rule
    perm, rule = infer_perm([2, 2, 2, 2], [2, 2, 2, 2], prefer_channel_last=False)
    assert perm is None and "converter report" in rule
    # a preference does not override what the shapes prove
    assert infer_perm([1, 3, 32, 32], [1, 32, 32, 3], prefer_channel_last=False)[0] == [0, 2, 3, 1]
    assert infer_perm([1, 3, 32, 32], [1, 3, 32, 32], prefer_channel_last=True)[0] is None


def test_infer_perm_symbolic_dims():
    assert infer_perm(["batch", 3, 32, 32], ["d0", 32, 32, 3])[0] == [0, 2, 3, 1]
    assert infer_perm(["batch", 3, 32, 32], [1, 3, 32, 32])[0] is None
    assert infer_perm(["batch", 3, 16, 32], [1, 16, 32, 3])[0] == [0, 2, 3, 1]


def test_infer_perm_rank_change_or_unknown():
    assert infer_perm([1, 3, 32, 32], [1, 3072]) == (None, "shape unknown or rank changed")
    assert infer_perm(None, [1, 2])[1] == "shape unknown or rank changed"
    assert infer_perm([1, 2], None)[1] == "shape unknown or rank changed"


def test_infer_perm_shapes_differ():
    assert infer_perm([1, 3, 32, 32], [1, 5, 32, 32]) == (None, "shapes differ")
    assert infer_perm([4, 5], [5, 4]) == (None, "shapes differ")  # only identity / channel-last are candidates


# ------------------------------------------------------------------ types
def test_compose_perms_matches_numpy():
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    for first, second in ([[0, 2, 3, 1], [0, 3, 1, 2]], [[0, 2, 3, 1], [1, 0, 2, 3]], [[3, 2, 1, 0], [0, 2, 3, 1]]):
        result = compose_perms(first, second)
        expected = x.transpose(first).transpose(second)
        got = x if result is None else x.transpose(result)
        assert np.array_equal(got, expected)


def test_compose_perms_identity_collapses_to_none():
    assert compose_perms([0, 2, 3, 1], [0, 3, 1, 2]) is None
    assert compose_perms(None, None) is None
    assert compose_perms(None, [0, 2, 1]) == [0, 2, 1]
    assert compose_perms([0, 2, 1], None) == [0, 2, 1]


def test_iomap_then_composes_names_perms_and_rules():
    a_to_b = IOMap([TensorMapping("image", "x_b", [0, 2, 3, 1], "name"), TensorMapping("extra", "gone", None, "name")],
                   [TensorMapping("output", "out_b", None, "position")])
    b_to_c = IOMap([TensorMapping("x_b", "x_c", None, "converter report")],
                   [TensorMapping("out_b", "out_c", None, "name")])
    a_to_c = a_to_b.then(b_to_c)
    assert [(m.source, m.artifact, m.perm, m.rule) for m in a_to_c.inputs] == [("image", "x_c", [0, 2, 3, 1], "name+converter report")]
    assert [(m.source, m.artifact, m.perm) for m in a_to_c.outputs] == [("output", "out_c", None)]
    # NCHW->NHWC then back collapses to the identity
    back = IOMap([TensorMapping("x_b", "x_c", [0, 3, 1, 2])], [])
    assert a_to_b.then(back).inputs[0].perm is None


def test_iomap_and_iospec_round_trip():
    m = IOMap([TensorMapping("a", "b", [0, 2, 1], "shape")], [TensorMapping("o", "p")])
    assert IOMap.from_dict(json.loads(json.dumps(m.to_dict()))) == m
    io = IOSpec([TensorSpec("image", ["batch", 3, 32, 32], "float32", "NCHW")], [TensorSpec("out", None, "int64")])
    again = IOSpec.from_dict(json.loads(json.dumps(io.to_dict())))
    assert again == io
    assert again.inputs[0].dynamic_dims == {0: "batch"}
    assert again.inputs[0].shape_text() == "[batch, 3, 32, 32]" and again.outputs[0].shape_text() == "?"


# ------------------------------------------------------------------ format detection
def _files(sub: str, ext: str) -> list:
    found = sorted(p for p in (FIXTURES / sub).glob(f"*{ext}") if p.suffix == ext)
    assert found, f"no fixtures in {sub}"
    return found


@pytest.mark.parametrize("path", _files("onnx", ".onnx"), ids=lambda p: p.name)
def test_detect_onnx(path):
    d = detect(str(path))
    assert (d.format, d.flavor, d.note) == (O, None, None)


@pytest.mark.parametrize("path", _files("tflite", ".tflite"), ids=lambda p: p.name)
def test_detect_tflite(path):
    assert (detect(str(path)).format, detect(str(path)).note) == (T, None)


@pytest.mark.parametrize("path", sorted((FIXTURES / "savedmodel").iterdir()), ids=lambda p: p.name)
def test_detect_savedmodel(path):
    assert detect(str(path)).format == S
    assert detect(str(path) + "/").format == S


@pytest.mark.parametrize("path", [p for p in _files("pytorch", ".pt") if "state_dict" not in p.name], ids=lambda p: p.name)
def test_detect_torchscript(path):
    d = detect(str(path))
    assert (d.format, d.flavor) == (P, "torchscript")


@pytest.mark.parametrize("path", _files("pytorch", ".pt2"), ids=lambda p: p.name)
def test_detect_exported_program(path):
    d = detect(str(path))
    assert (d.format, d.flavor) == (P, "exported_program")


def test_detect_keras():
    d = detect(str(FIXTURES / "keras" / "keras_cnn.keras"))
    assert d.format == K


def test_detect_state_dict_is_a_checkpoint():
    assert "checkpoint" in _usage(detect, str(FIXTURES / "pytorch" / "cnn_state_dict.pt"))
    assert "checkpoint" in _usage(detect, str(BAD / "checkpoint.pt"))


def test_detect_callable_reference():
    d = detect(f"{FIXTURES}/models.py:cnn")
    assert (d.format, d.flavor) == (P, "callable")
    assert detect("some_package.models:build.net").flavor == "callable"
    assert "no such Python file" in _usage(detect, "nosuchfile.py:build")
    assert is_callable_reference(f"{FIXTURES}/models.py:cnn")
    assert not is_callable_reference(str(FIXTURES / "onnx" / "cnn.onnx"))
    assert not is_callable_reference("models.py:1bad")


def test_detect_wrong_extension_is_detected_by_content():
    d = detect(str(BAD / "tflite_named.onnx"))
    assert d.format == T
    assert d.note and "onnx" in d.note and "tflite" in d.note


@pytest.mark.parametrize("name", ["random.onnx", "random.tflite", "truncated.onnx", "truncated.pt", "not_a_model.txt",
                                  "not_a_savedmodel"])
def test_detect_bad_inputs(name):
    _usage(detect, str(BAD / name))


def test_detect_empty_file_dir_and_bare_pb(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert "empty" in _usage(detect, str(tmp_path / "empty.onnx"))
    (tmp_path / "emptydir").mkdir()
    assert "SavedModel" in _usage(detect, str(tmp_path / "emptydir"))
    (tmp_path / "saved_model.pb").write_bytes(b"\x08\x01junkjunk")
    assert "SavedModel directory" in _usage(detect, str(tmp_path / "saved_model.pb"))
    assert "no such file" in _usage(detect, str(tmp_path / "missing.onnx"))


# ------------------------------------------------------------------ placement
def test_check_free(tmp_path):
    dest = tmp_path / "out.tflite"
    check_free(str(dest), force=False)  # free
    dest.write_bytes(b"old")
    assert "--force" in _usage(check_free, str(dest), False)
    check_free(str(dest), force=True)
    d = tmp_path / "dir_out"
    d.mkdir()
    check_free(str(d), force=True)  # empty dir may be replaced
    (d / "notes.txt").write_text("x")
    assert "refusing" in _usage(check_free, str(d), True)
    (d / "saved_model.pb").write_bytes(b"")
    check_free(str(d), force=True)  # an old SavedModel may be replaced
    assert dest.read_bytes() == b"old"


def _tmp_leftovers(folder) -> list[str]:
    return [n for n in os.listdir(folder) if n.startswith(".modelport-tmp-")]


def test_place_replaces_a_directory_in_one_rename(tmp_path):
    import shutil

    dest = tmp_path / "model_savedmodel"
    dest.mkdir()
    (dest / "saved_model.pb").write_text("old")
    (dest / "stale.txt").write_text("stale")
    scratch = make_scratch(str(dest))
    assert os.path.dirname(scratch) == str(tmp_path) and os.path.basename(scratch).startswith(".modelport-tmp-")
    built = os.path.join(scratch, "built")
    os.makedirs(os.path.join(built, "variables"))
    with open(os.path.join(built, "saved_model.pb"), "w") as f:
        f.write("new")
    inode = os.stat(built).st_ino
    place(built, str(dest) + "/", scratch)
    assert os.stat(dest).st_ino == inode  # renamed, not copied
    assert sorted(os.listdir(dest)) == ["saved_model.pb", "variables"]
    assert (dest / "saved_model.pb").read_text() == "new"
    shutil.rmtree(scratch)
    assert sorted(os.listdir(tmp_path)) == ["model_savedmodel"]


def test_place_file_over_file_and_external_data(tmp_path):
    dest = tmp_path / "m.onnx"
    dest.write_text("old")
    scratch = make_scratch(str(dest))
    built = os.path.join(scratch, "step.onnx")
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    weights = numpy_helper.from_array(np.arange(512, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [512])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [512])], [weights])
    onnx.save(helper.make_model(graph), built, save_as_external_data=True, location="step.onnx.data", size_threshold=0)
    data = open(built + ".data", "rb").read()
    place(built, str(dest), scratch)
    assert (tmp_path / "m.onnx.data").read_bytes() == data
    placed = onnx.load(str(dest))  # its data found under the placed name
    assert numpy_helper.to_array(placed.graph.initializer[0]).tolist() == list(range(512))
    assert os.listdir(scratch) == []
    os.rmdir(scratch)


def test_write_atomic(tmp_path):
    path = tmp_path / "m.tflite.modelport.json"
    write_atomic(str(path), "one\n")
    write_atomic(str(path), "two\n")
    assert path.read_text() == "two\n"
    assert os.listdir(tmp_path) == [path.name]
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir" / "f").write_text("x")
    with pytest.raises(UsageError, match="cannot write file"):
        write_atomic(str(tmp_path / "adir"), "text")  # cannot replace a directory
    assert _tmp_leftovers(tmp_path) == []
    assert (tmp_path / "adir" / "f").read_text() == "x"


# ------------------------------------------------------------------ manifest
def test_sha256_of(tmp_path):
    d = tmp_path / "sm"
    (d / "variables").mkdir(parents=True)
    (d / "saved_model.pb").write_bytes(b"graph")
    (d / "variables" / "variables.index").write_bytes(b"index")
    h1 = manifest.sha256_of(str(d))
    assert h1 == manifest.sha256_of(str(d)) and len(h1) == 64
    (d / "variables" / "variables.index").write_bytes(b"indeX")
    h2 = manifest.sha256_of(str(d))
    assert h2 != h1
    (d / "variables" / "variables.index").rename(d / "variables" / "renamed.index")
    assert manifest.sha256_of(str(d)) not in (h1, h2)  # names count, not only contents
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc")
    import hashlib

    assert manifest.sha256_of(str(f)) == hashlib.sha256(b"abc").hexdigest()
    assert manifest.sha256_of(str(tmp_path / "missing")) is None


def test_sha256_of_savedmodel_fixture_is_stable():
    path = str(FIXTURES / "savedmodel" / "keras_cnn")
    assert manifest.sha256_of(path) == manifest.sha256_of(path + "/")


def test_manifest_path():
    assert manifest.manifest_path("out/m.tflite") == "out/m.tflite.modelport.json"
    assert manifest.manifest_path("out/m_savedmodel/") == "out/m_savedmodel.modelport.json"


# ------------------------------------------------------------------ default output names
def test_default_output():
    assert default_output("models/cnn.onnx", T) == "models/cnn.tflite"
    assert default_output("cnn.onnx", S) == "cnn_savedmodel"
    assert default_output("x/keras_cnn/", T) == "x/keras_cnn.tflite"
    assert default_output("x/keras_cnn.tflite", O) == "x/keras_cnn.onnx"
    assert default_output("fixtures/models.py:cnn", O) == os.path.join("fixtures", "cnn.onnx")
    assert default_output("/abs/dir/models.py:build.net", T) == "/abs/dir/net.tflite"
    assert default_output("pkg.models:cnn", O) == os.path.join(".", "cnn.onnx")
    assert default_output("cnn.onnx", T, "dynamic-int8") == "cnn_dynamic_int8.tflite"
    assert default_output("cnn.onnx", T, "fp16") == "cnn_fp16.tflite"


# ------------------------------------------------------------------ offline guard
_GUARD_SCRIPT = textwrap.dedent("""
    import socket, time
    from modelport.workers.offline import NetworkBlocked, block_network

    block_network()
    # loopback keeps working: a listening socket and a connection to it
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    client = socket.create_connection(srv.getsockname(), timeout=5)
    conn, _ = srv.accept()
    client.sendall(b"ping")
    assert conn.recv(4) == b"ping"
    c2 = socket.socket()
    assert c2.connect_ex(srv.getsockname()) == 0
    a, b = socket.socketpair()
    a.sendall(b"x")
    assert b.recv(1) == b"x"

    # anything else fails at once
    for how in ("connect", "connect_ex"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(30)
        t0 = time.monotonic()
        try:
            getattr(s, how)(("10.255.255.1", 80))
        except NetworkBlocked as e:
            assert isinstance(e, ConnectionError) and "10.255.255.1" in str(e)
        else:
            raise SystemExit(how + " was not blocked")
        assert time.monotonic() - t0 < 1.0, "blocked, but not at once"
    try:
        socket.getaddrinfo("example.com", 80)
    except NetworkBlocked:
        pass
    else:
        raise SystemExit("DNS lookup was not blocked")
    print("GUARD-OK")
""")


def test_block_network_in_subprocess():
    proc = subprocess.run([sys.executable, "-c", _GUARD_SCRIPT], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "GUARD-OK" in proc.stdout


def test_block_network_hostname_that_starts_with_127():
    script = textwrap.dedent("""
        import socket
        from modelport.workers.offline import NetworkBlocked, block_network
        block_network()
        s = socket.socket(); s.settimeout(5)
        try:
            s.connect(("127.invalid", 80))
        except NetworkBlocked:
            print("BLOCKED")
        except OSError as e:
            print("NOT BLOCKED", type(e).__name__)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "BLOCKED" in proc.stdout and "NOT BLOCKED" not in proc.stdout, proc.stdout + proc.stderr
