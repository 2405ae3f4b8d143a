"""The Python API takes typed options: what the CLI builds from its flags, a script builds directly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES
from modelport.api import BenchOptions, ConvertOptions, ValidateOptions, bench, convert
from modelport.errors import UsageError
from modelport.types import IOMap, TensorMapping

MLP = str(FIXTURES / "models.py") + ":mlp"


def test_convert_with_options_objects(tmp_path):
    """ConvertOptions shapes the conversion; ValidateOptions' samples and seed reach the validation."""
    out = tmp_path / "mlp.onnx"
    result = convert(MLP, "onnx", str(out), ConvertOptions(input_shapes=("features:batch=2,20",)),
                     validation=ValidateOptions(samples=2, seed=7))
    assert result.route == "pytorch -> onnx" and out.exists()
    assert result.validation["passed"] and result.validation["samples"] == 2 and result.validation["seed"] == 7
    record = json.loads(Path(result.manifest).read_text())
    assert record["validation"]["seed"] == 7
    assert record["options"]["inputs"][0]["shape"] == ["batch", 20]


def test_convert_without_validation(tmp_path):
    result = convert(str(FIXTURES / "onnx" / "mlp.onnx"), "tflite", str(tmp_path / "mlp.tflite"), validation=None)
    assert result.validation is None
    assert json.loads(Path(result.manifest).read_text())["validation"] is None


@pytest.mark.parametrize("field, value", [("input_shapes", ("features:1,20",)), ("weights", "w.pt"),
                                          ("load_outputs", "golden.npz"), ("save_outputs", "golden.npz")])
def test_convert_refuses_validation_fields_it_cannot_honour(tmp_path, field, value):
    """A field convert() would otherwise ignore is refused, before any work and without output."""
    with pytest.raises(UsageError, match=f"ValidateOptions.{field} cannot be given to convert"):
        convert(MLP, "onnx", str(tmp_path / "mlp.onnx"), validation=ValidateOptions(**{field: value}))
    assert list(tmp_path.iterdir()) == []


def test_empty_fields_count_as_unset(tmp_path):
    """An empty list where the default is an empty tuple is not a field "given" to convert()."""
    from modelport.pipeline.options import check_validation_fields

    check_validation_fields(ValidateOptions(input_shapes=[], io_maps={}, weights=None))


def test_bad_tolerance_is_refused_before_converting(tmp_path):
    with pytest.raises(UsageError, match="--atol"):
        convert(MLP, "onnx", str(tmp_path / "mlp.onnx"), ConvertOptions(input_shapes=("features:1,20",)),
                validation=ValidateOptions(atol=("not-a-number",)))
    assert list(tmp_path.iterdir()) == []


def test_validate_options_travel_to_a_worker_and_back():
    opts = ValidateOptions(device="auto", samples=3, atol=("logits:1e-3",), input_shapes=("x:1,3",),
                           io_maps={"a.onnx": IOMap([TensorMapping("x", "x_1", [0, 2, 1], "manifest")], [])},
                           precisions={"a.onnx": "fp16"})
    again = ValidateOptions.from_dict(json.loads(json.dumps(opts.to_dict())))
    assert again == opts


def test_bench_refuses_a_bad_baseline_before_measuring(tmp_path):
    missing = tmp_path / "main.json"
    with pytest.raises(UsageError, match="--baseline .*no such file"):
        bench([str(FIXTURES / "onnx" / "mlp.onnx")], BenchOptions(baseline=str(missing)))
    with pytest.raises(UsageError, match="--max-regression"):
        bench([str(FIXTURES / "onnx" / "mlp.onnx")], BenchOptions(max_regression=-0.1))
