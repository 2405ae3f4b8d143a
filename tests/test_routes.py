"""Routes: one library limitation must not be a dead end for a whole conversion. When the planned
route fails, convert tries the alternative routes (pytorch -> tflite by litert-torch, pytorch ->
savedmodel through StableHLO, both in the litert layer over the pinned stack), and `--route` names
one outright. Real conversions throughout."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import FIXTURES, assert_one_line_error, run_cli
from modelport.converters.planner import alternative_routes, parse_route, plan, route_text
from modelport.errors import UsageError
from modelport.types import Format

CNN = f"{FIXTURES / 'models.py'}:cnn"


def test_the_litert_edges_are_never_planned_only_alternatives_to_the_route_through_onnx():
    assert route_text(plan(Format.PYTORCH, Format.TFLITE)) == "pytorch -> onnx -> tflite"
    assert [route_text(r) for r in alternative_routes(Format.PYTORCH, Format.TFLITE)] == ["pytorch -> tflite"]
    assert route_text(plan(Format.PYTORCH, Format.SAVEDMODEL)) == "pytorch -> onnx -> savedmodel"
    assert [route_text(r) for r in alternative_routes(Format.PYTORCH, Format.SAVEDMODEL)] == ["pytorch -> savedmodel"]
    # An alternative replaces a part of the planned route between its two formats, nothing else.
    for src, dst in ((Format.ONNX, Format.TFLITE), (Format.ONNX, Format.SAVEDMODEL), (Format.PYTORCH, Format.ONNX)):
        assert alternative_routes(src, dst) == [], (src, dst)
    # --via and --quantize fix the route's shape: no detour.
    assert alternative_routes(Format.PYTORCH, Format.TFLITE, via=Format.ONNX) == []
    assert alternative_routes(Format.PYTORCH, Format.TFLITE, quantize="fp16") == []


@pytest.mark.parametrize("text", ["pytorch->tflite", "pytorch,tflite", " PyTorch -> TFLite "])
def test_route_spellings(text):
    assert route_text(parse_route(text, Format.PYTORCH, Format.TFLITE)) == "pytorch -> tflite"


@pytest.mark.parametrize("text, fragment", [
    ("onnx->tflite", "must start at the source's format (pytorch)"),
    ("pytorch->onnx", "end at the target (tflite)"),
    ("pytorch->tensorrt", "expected formats joined by '->'"),
    ("pytorch->keras->tflite", "no converter goes from pytorch to keras"),
])
def test_bad_routes_say_why(text, fragment):
    with pytest.raises(UsageError) as e:
        parse_route(text, Format.PYTORCH, Format.TFLITE)
    assert fragment in e.value.message


def test_a_quantized_route_must_end_in_a_quantizing_step():
    with pytest.raises(UsageError, match="needs a last step that quantizes"):
        parse_route("pytorch->tflite", Format.PYTORCH, Format.TFLITE, quantize="fp16")
    assert route_text(parse_route("pytorch->onnx->savedmodel->tflite", Format.PYTORCH, Format.TFLITE,
                                  quantize="fp16")) == "pytorch -> onnx -> savedmodel -> tflite"


def test_route_and_via_together_are_refused(tmp_path):
    r = run_cli("convert", CNN, "--to", "tflite", "--route", "pytorch->tflite", "--via", "onnx",
                "-o", tmp_path / "x.tflite", "--input-shape", "image:1,3,32,32")
    assert_one_line_error(r, 2, "--route and --via")


@pytest.mark.slow
def test_litert_route_writes_an_nchw_tflite_that_matches_the_source(tmp_path):
    out = tmp_path / "cnn.tflite"
    r = run_cli("convert", CNN, "--to", "tflite", "--route", "pytorch->tflite", "-o", out,
                "--input-shape", "image:1,3,32,32", "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr
    record = json.loads(open(f"{out}.modelport.json").read())
    assert record["route"] == "pytorch -> tflite" and record["steps"][0]["converter"].startswith("litert-torch")
    assert record["io_map"]["inputs"][0]["perm"] is None  # layout kept: NCHW in, as the source
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(out)).get_signature_runner("serving_default").get_input_details()
    assert list(details["image"]["shape"]) == [1, 3, 32, 32]
    validation = record["validation"]["candidates"][0]
    assert validation["passed"] and max(o["max_abs"] for o in validation["outputs"]) < 1e-5
    # The artifact stands on its own: validate without the manifest matches by name and shape.
    (tmp_path / "cnn.tflite.modelport.json").unlink()
    r = run_cli("validate", CNN, out, "--input-shape", "image:1,3,32,32", "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_when_the_planned_route_fails_the_alternative_converts_and_says_why(tmp_path):
    """The planned route is made to fail for real: the only onnx->tflite strategy allowed (fold)
    has nothing to fold in this CNN, so every chain through ONNX ends without an artifact."""
    out = tmp_path / "cnn.tflite"
    r = run_cli("convert", CNN, "--to", "tflite", "--strategy", "onnx-tflite=fold", "-o", out,
                "--input-shape", "image:1,3,32,32")
    assert r.code == 0, r.stdout + r.stderr
    assert "route: pytorch -> tflite" in r.stdout and "tried first: pytorch -> onnx -> tflite, failed" in r.stdout
    record = json.loads(open(f"{out}.modelport.json").read())
    assert [t["route"] for t in record["routes_tried"]] == ["pytorch -> onnx -> tflite", "pytorch -> tflite"]
    assert [t["outcome"] for t in record["routes_tried"]] == ["failed", "passed"]
    assert record["validation"]["passed"]
    # --no-fallback keeps to the planned route: the same failure is the answer (exit 3).
    r = run_cli("convert", CNN, "--to", "tflite", "--strategy", "onnx-tflite=fold", "--no-fallback",
                "-o", tmp_path / "other.tflite", "--input-shape", "image:1,3,32,32")
    assert r.code == 3 and not (tmp_path / "other.tflite").exists(), r.stdout + r.stderr


def test_a_missing_layer_is_unavailable_with_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELPORT_LITERT_PYTHON", str(tmp_path / "no-such-python"))
    r = run_cli("convert", CNN, "--to", "tflite", "--route", "pytorch->tflite", "-o", tmp_path / "x.tflite",
                "--input-shape", "image:1,3,32,32")
    assert_one_line_error(r, 4, "needs the litert layer", "make venv", "MODELPORT_LITERT_PYTHON")
    assert not (tmp_path / "x.tflite").exists()


@pytest.mark.slow
def test_litert_narrows_int64_inputs_and_validation_feeds_them_as_int32(tmp_path):
    out = tmp_path / "encoder.tflite"
    r = run_cli("convert", f"{FIXTURES / 'models.py'}:encoder", "--to", "tflite", "--route", "pytorch->tflite",
                "-o", out, "--input-shape", "input_ids:1,8", "--input-dtype", "input_ids:int64")
    assert r.code == 0, r.stdout + r.stderr
    assert "64-bit inputs narrowed to 32 bits by litert-torch: input_ids" in r.stdout
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(out)).get_signature_runner("serving_default").get_input_details()
    assert details["input_ids"]["dtype"] == np.int32


@pytest.mark.slow
def test_when_onnx2tf_cannot_write_the_savedmodel_stablehlo_does_and_a_nudged_weight_still_fails(tmp_path):
    """A real library limitation, not a forced one: onnx2tf's SavedModel writer has no HardSwish nor
    depthwise convolution (trap 10), and with `decompose` kept out (--strategy) every route through
    ONNX fails. The StableHLO route then writes a SavedModel whose graph is one XlaCallModule op fed
    by variables, and it passes; the same file with one weight nudged by 1e-2 must fail."""
    import tensorflow as tf

    out = tmp_path / "mobile_sm"
    r = run_cli("convert", f"{FIXTURES / 'models.py'}:mobile_block", "--to", "savedmodel", "-o", out,
                "--strategy", "onnx-savedmodel=flatbuffer_direct", "--strategy", "pytorch-onnx=dynamo",
                "--input-shape", "image:1,3,32,32",
                "--samples", "2")
    assert r.code == 0, r.stdout + r.stderr
    assert "route: pytorch -> savedmodel" in r.stdout and "tried first: pytorch -> onnx -> savedmodel, failed" in r.stdout
    record = json.loads(open(f"{out}.modelport.json").read())
    assert [t["outcome"] for t in record["routes_tried"]] == ["failed", "passed"]
    assert "XlaCallModule" in record["steps"][0]["converter"]
    assert record["io_map"]["inputs"][0]["perm"] is None  # NCHW kept
    assert record["validation"]["passed"]
    loaded = tf.saved_model.load(str(out))
    serve = loaded.signatures["serving_default"]
    assert serve.structured_input_signature[1]["image"].shape.as_list() == [1, 3, 32, 32]
    graph = serve.graph.as_graph_def()
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    assert "XlaCallModule" in ops
    weights = [v for v in loaded.variables if v.dtype == tf.float32]
    assert weights, "the weights are the SavedModel's variables"
    biggest = max(weights, key=lambda v: int(np.prod(v.shape)))
    biggest.assign(biggest.numpy() + 1e-2)
    mutant = tmp_path / "mutant_sm"
    tf.saved_model.save(loaded, str(mutant), signatures=dict(loaded.signatures))
    r = run_cli("validate", f"{FIXTURES / 'models.py'}:mobile_block", out, mutant, "--input-shape", "image:1,3,32,32")
    assert r.code == 1, r.stdout + r.stderr
    assert "1 of 2 candidates passed" in r.stdout, r.stdout


@pytest.mark.slow
def test_the_stablehlo_savedmodel_keeps_int64_inputs_in_its_signature(tmp_path):
    out = tmp_path / "encoder_sm"
    r = run_cli("convert", f"{FIXTURES / 'models.py'}:encoder", "--to", "savedmodel", "--route", "pytorch->savedmodel",
                "-o", out, "--input-shape", "input_ids:1,8", "--input-dtype", "input_ids:int64")
    assert r.code == 0, r.stdout + r.stderr
    assert "64-bit inputs are narrowed to 32 bits inside the program: input_ids" in r.stdout
    import tensorflow as tf

    spec = tf.saved_model.load(str(out)).signatures["serving_default"].structured_input_signature[1]["input_ids"]
    assert spec.dtype == tf.int64


def test_an_attempt_past_attempt_timeout_is_stopped_and_the_search_goes_on(tmp_path):
    """A converter that hangs (the module's forward sleeps for an hour) is stopped at the limit, each
    exporter in turn, and the command ends with the table of attempts: no process left running,
    nothing written."""
    import psutil

    out = tmp_path / "h.onnx"
    r = run_cli("--attempt-timeout", "5", "convert", f"{FIXTURES / 'bad' / 'hangs.py'}:build", "--to", "onnx",
                "--input-shape", "x:1,4", "-o", out, timeout=180)
    assert_one_line_error(r, 3, "every strategy failed (2 tried)", "timed out after 5 s (--attempt-timeout)")
    assert (r.stdout + r.stderr).count("timed out after 5 s") >= 2  # both exporters, in the table of attempts
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert not [p for p in psutil.process_iter(["cmdline"]) if any(str(tmp_path) in a for a in p.info["cmdline"] or [])]
    r = run_cli("--attempt-timeout", "0", "convert", f"{FIXTURES / 'onnx' / 'cnn.onnx'}", "--to", "tflite")
    assert_one_line_error(r, 2, "--attempt-timeout '0': must be more than 0 seconds")
