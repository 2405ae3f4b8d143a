"""`convert --to onnx,tflite,...` (issue 14): several targets in one run share their common steps
(pytorch -> onnx runs once), each artifact is judged once, by the worker that wrote it, and each
target is written as `convert` writes it alone."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, assert_one_line_error, run_cli, shape_args
from modelport.api import ConvertOptions, convert_targets
from modelport.pipeline.progress import StepEvent

MLP = f"{FIXTURES}/models.py:mlp"
TORCH_TWIN = f"{FIXTURES}/twins/torch_simple.py:SimpleModel"


def test_two_targets_share_the_export_and_each_verdict(tmp_path):
    events: list[StepEvent] = []
    multi = convert_targets(MLP, "onnx,tflite", str(tmp_path), ConvertOptions(input_shapes=("features:batch,20",)),
                            progress=events.append)
    started = [e.label for e in events if e.kind == "started"]
    assert started.count("step 1 pytorch->onnx (dynamo)") == 1, started  # the export ran once
    assert [s for s in started if s.startswith("step 2")] == ["step 2 onnx->tflite (flatbuffer_direct)"], started
    assert [s for s in started if s.startswith("validation")] == [], started  # judged in the step workers
    finished = {e.label: e.outcome for e in events if e.kind == "finished"}
    assert set(finished.values()) == {"converted, passed"}, finished
    assert not multi.errors and [r.output for r in multi.results] == [str(tmp_path / "mlp.onnx"),
                                                                       str(tmp_path / "mlp.tflite")]
    onnx_record = json.loads((tmp_path / "mlp.onnx.modelport.json").read_text())
    tflite_record = json.loads((tmp_path / "mlp.tflite.modelport.json").read_text())
    assert onnx_record["route"] == "pytorch -> onnx" and tflite_record["route"] == "pytorch -> onnx -> tflite"
    assert onnx_record["validation"]["passed"] and tflite_record["validation"]["passed"]
    # the TFLite's own report judges its intermediate ONNX too, by the same numbers as the ONNX target's
    assert [c["path"] for c in tflite_record["validation"]["candidates"]] == [
        "pytorch->onnx intermediate (step1_onnx.onnx)", str(tmp_path / "mlp.tflite")]
    assert tflite_record["steps"][0]["attempts"][0]["strategy"] == "dynamo"
    # one table: each artifact once, under the name it was written as
    assert [c["path"] for c in multi.validation["candidates"]] == [str(tmp_path / "mlp.onnx"),
                                                                   str(tmp_path / "mlp.tflite")]
    assert not list(tmp_path.glob(".modelport-tmp-*"))


def test_cli_writes_every_target_into_the_folder_and_reports_them_in_json(tmp_path):
    """On the classic unseeded PyTorch twin (fixtures/twins/torch_simple.py:SimpleModel, issue 17): before
    every callable was built seeded, a later `validate` built it with other random weights than the
    conversion had, and a right conversion failed parity (max abs 0.40), in convert too."""
    # --via belongs to the pytorch target (the round trip), not to the onnx one it names
    # --keep-intermediates: the pytorch target's intermediate ONNX is the onnx target's output too (a copy is kept)
    res = run_cli("convert", TORCH_TWIN, "--to", "onnx,pytorch", "--via", "onnx", "--input-shape", "x:batch,5",
                  "-o", tmp_path, "--json", "--keep-intermediates")
    assert res.code == 0, res.stderr
    report = json.loads(res.stdout)
    outputs = [str(tmp_path / "SimpleModel.onnx"), str(tmp_path / "SimpleModel.pt2")]
    assert [r["output"] for r in report["results"]] == outputs
    assert report["errors"] == {} and report["validation"]["passed"]
    assert len(report["validation"]["candidates"]) == 2
    assert report["results"][1]["route"] == "pytorch -> onnx -> pytorch"
    assert report["results"][1]["intermediates"] == [str(tmp_path / "SimpleModel.step1_onnx.onnx")]
    assert (tmp_path / "SimpleModel.step1_onnx.onnx").read_bytes() == (tmp_path / "SimpleModel.onnx").read_bytes()
    again = run_cli("validate", TORCH_TWIN, *outputs, "--input-shape", "x:1,5", "--json", tmp_path / "v.json")
    assert again.code == 0, again.stdout + again.stderr
    assert [c["passed"] for c in json.loads((tmp_path / "v.json").read_text())["candidates"]] == [True, True]


@pytest.mark.parametrize("extra, fragment", [
    (["--to", "onnx,onnx"], "names onnx twice"),
    (["--to", "onnx,keras"], "unknown format 'keras'"),
    (["--to", "savedmodel,pytorch", "--quantize", "fp16"], "add tflite or onnx to --to"),
    (["--to", "onnx,tflite", "--route", "pytorch->tflite"], "give a single --to"),
    (["--to", "onnx,tflite", "--strategy", "onnx-savedmodel=tf_converter"], "not a step of any target's route"),
    # with a TFLite target, --quantize is the TFLite one's, and the ONNX-only quantize options cannot apply
    (["--to", "onnx,tflite", "--quantize", "fp16", "--fp16-io"], "--fp16-io applies to an ONNX output"),
    (["--to", "onnx,tflite", "--quantize", "fp16", "--quantize-exclude", "node_linear"], "--quantize-exclude applies to an ONNX output"),
])
def test_bad_target_lists_are_one_line_errors_before_any_work(tmp_path, extra, fragment):
    res = run_cli("convert", MLP, *shape_args("mlp"), "-o", tmp_path, *extra)
    assert_one_line_error(res, 2, fragment)
    assert list(tmp_path.iterdir()) == []


def test_the_quantize_options_go_to_the_quantized_target_only():
    """`--to onnx,savedmodel --quantize fp16 --quantize-exclude N`: the ONNX target is quantized and keeps
    N in float; the SavedModel target gets none of the quantize options (it was handed --quantize-exclude
    without --quantize and refused the whole command with "give --quantize too")."""
    from modelport.pipeline.multi import target_options
    from modelport.types import Format

    asked = ConvertOptions(quantize="fp16", quantize_exclude=("node_linear",), fp16_io=True)
    targets = [Format.ONNX, Format.SAVEDMODEL]
    onnx_options, savedmodel_options = (target_options(asked, t, targets) for t in targets)
    assert (onnx_options.quantize, onnx_options.quantize_exclude, onnx_options.fp16_io) == ("fp16", ("node_linear",), True)
    assert (savedmodel_options.quantize, savedmodel_options.quantize_exclude, savedmodel_options.fp16_io) == (None, (), False)


def test_an_existing_output_stops_every_target_before_any_work(tmp_path):
    (tmp_path / "mlp.tflite").write_bytes(b"keep me")
    res = run_cli("convert", MLP, "--to", "onnx,tflite", *shape_args("mlp"), "-o", tmp_path)
    assert_one_line_error(res, 2, "mlp.tflite already exists")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.tflite"]
