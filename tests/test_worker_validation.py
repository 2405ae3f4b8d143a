"""Validation inside the edge workers (issue 14, modelport/pipeline/worker_validation.py).

A conversion whose artifacts pass starts no validation process: each step's worker judges its own
artifact, the first one against the source it just converted, later ones against the source's
outputs it recorded. The verdicts must be the ones the separate validator gives (same inputs,
same numbers), and what a later step's worker cannot judge (a failure, which the source run in
float64 may overturn) must still reach the validation worker, where the source runs.
"""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES
from modelport.api import ConvertOptions, ValidateOptions, convert, validate
from modelport.errors import ParityError
from modelport.pipeline.progress import StepEvent

MLP = f"{FIXTURES}/models.py:mlp"
METRICS = ("max_abs", "mean_abs", "max_rel", "cosine", "out_of_tolerance", "shape_got")

THIRD = '''
import torch


class Third(torch.nn.Module):
    """y = x / 3: onnx2tf writes the division as a product by the reciprocal, 1 ulp off on ~40%
    of the elements, and float64 cannot excuse it (the float32 source is exact)."""

    def forward(self, x):
        return x / 3.0


def build():
    return Third().eval()
'''


def _started(events: list[StepEvent]) -> list[str]:
    return [e.label for e in events if e.kind == "started"]


def test_a_passing_route_is_judged_in_its_workers_with_the_validators_numbers(tmp_path):
    events: list[StepEvent] = []
    out = tmp_path / "mlp.tflite"
    result = convert(MLP, "tflite", str(out), ConvertOptions(input_shapes=("features:1,20",), keep_intermediates=True),
                     validation=ValidateOptions(samples=2), progress=events.append)
    assert _started(events) == ["step 1 pytorch->onnx (dynamo)", "step 2 onnx->tflite (flatbuffer_direct)"], events
    report = result.validation
    assert report["passed"] and report["samples"] == 2 and report["reference_format"] == "pytorch"
    assert {"torch", "onnxruntime", "ai-edge-litert"} <= set(report["versions"]), report["versions"]
    # The separate validator, on the written files, sees the same numbers for both artifacts.
    separate = validate(MLP, [result.intermediates[0], str(out)],
                        ValidateOptions(samples=2, input_shapes=("features:1,20",))).to_dict()
    for here, there in zip(report["candidates"], separate["candidates"]):
        assert here["passed"] and there["passed"]
        assert [{k: o[k] for k in METRICS} for o in here["outputs"]] == \
               [{k: o[k] for k in METRICS} for o in there["outputs"]], (here, there)


@pytest.mark.slow
def test_a_later_step_failing_in_its_worker_is_judged_again_where_the_source_runs(tmp_path):
    """Exact tolerances: the ONNX step matches bit for bit and passes in its worker; the TFLite
    step fails in its worker, which cannot run the source in float64, so the validation worker
    judges it again (its float64 evidence is in the report) and the verdict stands."""
    (tmp_path / "third.py").write_text(THIRD)
    events: list[StepEvent] = []
    out = tmp_path / "third.tflite"
    with pytest.raises(ParityError):
        convert(f"{tmp_path}/third.py:build", "tflite", str(out),
                ConvertOptions(input_shapes=("x:1,64",), fallback=False),
                validation=ValidateOptions(atol=("0",), rtol=("0",)), progress=events.append)
    finished = {e.label: e.outcome for e in events if e.kind == "finished"}
    assert finished == {"step 1 pytorch->onnx (dynamo)": "converted, passed",
                        "step 2 onnx->tflite (flatbuffer_direct)": "converted",
                        "validation of 1 artifact": "parity failed"}, finished
    record = json.loads((tmp_path / "third.tflite.modelport.json").read_text())["validation"]
    onnx_step, tflite_step = record["candidates"]
    assert onnx_step["passed"] and onnx_step["outputs"][0]["max_abs"] == 0.0
    assert not tflite_step["passed"] and "against the source run in float64 it fails too" in \
        tflite_step["reference_evidence"][0], tflite_step


@pytest.mark.slow
def test_a_target_failing_in_the_shared_validation_is_searched_again_alone(tmp_path):
    """Several targets: the ONNX one passes in its worker and is written; the TFLite step fails in
    its worker, fails again in the shared validation (float64 cannot excuse it), so the TFLite
    target is searched again on its own and, failing again, is written marked failed (exit 1 for
    it alone); the ONNX target is not redone."""
    from modelport.api import convert_targets

    (tmp_path / "third.py").write_text(THIRD)
    events: list[StepEvent] = []
    multi = convert_targets(f"{tmp_path}/third.py:build", "onnx,tflite", str(tmp_path),
                            ConvertOptions(input_shapes=("x:1,64",), fallback=False),
                            validation=ValidateOptions(atol=("0",), rtol=("0",)), progress=events.append)
    started = _started(events)
    assert started.count("step 1 pytorch->onnx (dynamo)") == 2, started  # shared, then the TFLite target alone
    assert started.count("step 2 onnx->tflite (flatbuffer_direct)") == 2, started
    assert [type(e).__name__ for e in multi.errors.values()] == ["ParityError"] and list(multi.errors) == ["tflite"]
    onnx_result, tflite_result = multi.results
    onnx_record = json.loads(open(onnx_result.manifest).read())
    tflite_record = json.loads(open(tflite_result.manifest).read())
    assert onnx_result.output.endswith(".onnx") and tflite_result.output.endswith(".tflite")
    assert onnx_record["validation"]["passed"] and not tflite_record["validation"]["passed"]
    assert "it fails too" in tflite_record["validation"]["candidates"][-1]["reference_evidence"][0]
    assert not list(tmp_path.glob(".modelport-tmp-*"))


SQRT = '''
import torch


class Root(torch.nn.Module):
    def forward(self, x):
        return torch.sqrt(x)


def build():
    return Root().eval()
'''


def test_convert_validates_on_the_inputs_given(tmp_path):
    """--inputs replaces the generated inputs in every worker's validation: sqrt on generated
    (normal) values gives NaN in source and artifact alike; on the given positive values, none.
    A relative path works (the workers run elsewhere); a missing file is one line, exit 2."""
    import numpy as np

    from conftest import assert_one_line_error, run_cli

    (tmp_path / "root.py").write_text(SQRT)
    np.savez(tmp_path / "real.npz", x=np.linspace(0.5, 4.0, 16, dtype=np.float32).reshape(1, 16))
    args = ["convert", "root.py:build", "--to", "onnx", "--input-shape", "x:1,16", "--json"]
    generated = run_cli(*args, "-o", "a.onnx", cwd=tmp_path)
    given = run_cli(*args, "-o", "b.onnx", "--inputs", "real.npz", cwd=tmp_path)
    assert generated.code == 0 and given.code == 0, generated.stderr + given.stderr
    nans = lambda res: json.loads(res.stdout)["validation"]["candidates"][0]["outputs"][0]["nan_count"]  # noqa: E731
    assert nans(generated) > 0 and nans(given) == 0
    assert json.loads(given.stdout)["validation"]["samples"] == 1
    assert_one_line_error(run_cli(*args, "-o", "c.onnx", "--inputs", "missing.npz", cwd=tmp_path), 2,
                          "--inputs missing.npz: no such file")
    assert not (tmp_path / "c.onnx").exists()
