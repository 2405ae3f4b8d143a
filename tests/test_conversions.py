"""Every pair of {pytorch, onnx, savedmodel, tflite} with a non-PyTorch target, on the fixtures.

Each case converts through the real CLI, checks the manifest, then loads the artifact in its own
runtime (in this process, independently of the worker's smoke run), runs it, and compares it with
the source through the manifest's I/O map (fp32 tolerance; quantized artifacts by cosine).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli, shape_args
from parity_check import assert_parity

F = str(FIXTURES)
MODELS = f"{F}/models.py"

CASES = [
    # (id, source, target, extra args)
    # A callable's own export to ONNX is the first step of its ->tflite and ->savedmodel cases below,
    # whose validation judges that intermediate ONNX too; a callable MLP -> onnx: tests/test_callable_sources.py
    # (the twins) and test_convert_targets.py.
    ("pytorch-torchscript-cnn->onnx", f"{F}/pytorch/cnn.pt", "onnx", shape_args("cnn")),
    ("pytorch-exported-encoder->onnx", f"{F}/pytorch/encoder.pt2", "onnx", []),
    ("pytorch-callable-cnn->tflite", f"{MODELS}:cnn", "tflite", shape_args("cnn")),
    ("pytorch-callable-encoder->tflite", f"{MODELS}:encoder", "tflite", shape_args("encoder")),
    ("pytorch-callable-two_io->tflite", f"{MODELS}:two_io", "tflite", shape_args("two_io")),
    ("pytorch-exported-cnn->tflite", f"{F}/pytorch/cnn.pt2", "tflite", []),
    ("pytorch-callable-cnn->savedmodel", f"{MODELS}:cnn", "savedmodel", shape_args("cnn")),
    ("onnx-cnn->tflite", f"{F}/onnx/cnn.onnx", "tflite", []),
    ("onnx-mlp->tflite", f"{F}/onnx/mlp.onnx", "tflite", []),
    ("onnx-encoder->tflite", f"{F}/onnx/encoder.onnx", "tflite", ["--input-shape", "input_ids:1,seq=12"]),
    ("onnx-two_io->tflite", f"{F}/onnx/two_io.onnx", "tflite", []),
    ("onnx-cnn->savedmodel", f"{F}/onnx/cnn.onnx", "savedmodel", []),
    ("onnx-two_io->savedmodel", f"{F}/onnx/two_io.onnx", "savedmodel", []),
    ("onnx-encoder->savedmodel", f"{F}/onnx/encoder.onnx", "savedmodel", []),
    ("savedmodel-keras_cnn->tflite", f"{F}/savedmodel/keras_cnn", "tflite", []),
    ("savedmodel-keras_mlp->tflite", f"{F}/savedmodel/keras_mlp", "tflite", []),
    ("savedmodel-keras_cnn->onnx", f"{F}/savedmodel/keras_cnn", "onnx", []),
    ("tflite-keras_cnn->onnx", f"{F}/tflite/keras_cnn.tflite", "onnx", []),
    ("tflite-keras_cnn->savedmodel", f"{F}/tflite/keras_cnn.tflite", "savedmodel", []),
    ("onnx-mlp->savedmodel", f"{F}/onnx/mlp.onnx", "savedmodel", []),
    ("keras-keras_cnn->tflite", f"{F}/keras/keras_cnn.keras", "tflite", []),
]

SUFFIX = {"onnx": ".onnx", "tflite": ".tflite", "savedmodel": "_savedmodel"}


@pytest.mark.parametrize("case_id,source,target,extra", CASES, ids=[c[0] for c in CASES])
def test_convert_pair_runs_and_matches_source(case_id, source, target, extra, tmp_path):
    out = tmp_path / ("artifact" + SUFFIX[target])
    result = run_cli("convert", source, "--to", target, "-o", out, *extra)
    assert result.code == 0, result.stdout + result.stderr
    assert out.exists()
    manifest = json.loads(Path(str(out) + ".modelport.json").read_text())
    assert manifest["artifact"]["format"] == target
    assert manifest["route"].endswith(target) and manifest["steps"], manifest
    for step in manifest["steps"]:
        assert step["smoke"]["outputs"], step  # every step's artifact was loaded and run
        assert step["converter"]
    assert manifest["source"]["sha256"]
    from modelport.manifest import sha256_of

    assert manifest["artifact"]["sha256"] == sha256_of(str(out))  # the artifact as placed (batch resume checks it)
    # Nothing else left beside the artifact: no scratch folders, no onnx2tf side files.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, out.name + ".modelport.json"])
    assert_parity(source, out, target)


def test_routes_recorded_for_multi_step_conversion(artifacts):
    out = artifacts(f"{MODELS}:cnn", "tflite", *shape_args("cnn"))
    manifest = json.loads(Path(str(out) + ".modelport.json").read_text())
    assert manifest["route"] == "pytorch -> onnx -> tflite"
    assert [s["edge"] for s in manifest["steps"]] == ["pytorch->onnx", "onnx->tflite"]
    assert manifest["steps"][0]["details"]["exporter"] in ("dynamo", "torchscript")
    image = next(m for m in manifest["io_map"]["inputs"] if m["source"] == "image")
    assert image["perm"] == [0, 2, 3, 1]  # onnx2tf made the NCHW input NHWC


def test_via_forces_route(tmp_path):
    out = tmp_path / "cnn.tflite"
    result = run_cli("convert", f"{F}/onnx/cnn.onnx", "--to", "tflite", "--via", "savedmodel", "-o", out, "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["route"] == "onnx -> savedmodel -> tflite"
    assert_parity(f"{F}/onnx/cnn.onnx", out, "tflite")


def test_dynamic_dims_kept_in_onnx(artifacts):
    import onnx

    out = artifacts(f"{MODELS}:encoder", "onnx", *shape_args("encoder"))
    model = onnx.load(str(out))
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, "seq"]
    # and the ONNX artifact accepts another sequence length than the traced one
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"input_ids": np.zeros((1, 7), dtype=np.int64)})
    assert y.shape == (1, 7, 32)


def test_weights_loaded_into_callable(tmp_path):
    out = tmp_path / "cnn.onnx"
    result = run_cli("convert", f"{MODELS}:untrained_cnn", "--to", "onnx", "-o", out,
                     "--weights", f"{F}/pytorch/cnn_state_dict.pt", *shape_args("cnn"))
    assert result.code == 0, result.stderr
    assert_parity(f"{MODELS}:cnn", out, "onnx")  # with the weights, untrained_cnn computes cnn
    source = json.loads(Path(str(out) + ".modelport.json").read_text())["source"]
    assert source["flavor"] == "callable" and len(source["weights_sha256"]) == 64


@pytest.mark.parametrize("mode,extra,min_cos", [
    ("fp16", [], 0.9999),
    ("dynamic-int8", [], 0.99),
    ("int8", ["--calibration-data", f"{F}/calibration/keras_cnn_calibration.npz"], 0.95),
])
def test_quantized_tflite(mode, extra, min_cos, tmp_path):
    out = tmp_path / f"q_{mode}.tflite"
    result = run_cli("convert", f"{F}/savedmodel/keras_cnn", "--to", "tflite", "--quantize", mode, "-o", out, *extra)
    assert result.code == 0, result.stderr
    manifest = json.loads(Path(str(out) + ".modelport.json").read_text())
    assert manifest["steps"][-1]["details"]["quantize"] == mode
    assert out.stat().st_size < (FIXTURES / "tflite" / "keras_cnn.tflite").stat().st_size
    assert_parity(f"{F}/savedmodel/keras_cnn", out, "tflite", min_cosine=min_cos)


def test_quantize_from_onnx_routes_through_savedmodel(tmp_path):
    out = tmp_path / "cnn_fp16.tflite"
    result = run_cli("convert", f"{F}/onnx/cnn.onnx", "--to", "tflite", "--quantize", "fp16", "-o", out, "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["route"] == "onnx -> savedmodel -> tflite"
    assert_parity(f"{F}/onnx/cnn.onnx", out, "tflite", min_cosine=0.9999)


def test_force_replaces_savedmodel_atomically(tmp_path):
    out = tmp_path / "sm"
    src = f"{F}/tflite/keras_cnn.tflite"
    first = run_cli("convert", src, "--to", "savedmodel", "-o", out)
    assert first.code == 0, first.stderr
    again = run_cli("convert", src, "--to", "savedmodel", "-o", out)
    assert again.code == 2 and "--force" in again.stderr
    forced = run_cli("convert", src, "--to", "savedmodel", "-o", out, "--force")
    assert forced.code == 0, forced.stderr
    assert (out / "saved_model.pb").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".modelport-tmp")]


def test_keep_intermediates(tmp_path):
    out = tmp_path / "two_io.tflite"
    result = run_cli("convert", f"{MODELS}:two_io", "--to", "tflite", "-o", out, "--keep-intermediates",
                     *shape_args("two_io"), "--json")
    assert result.code == 0, result.stderr
    kept = json.loads(result.stdout)["intermediates"]
    assert len(kept) == 1 and kept[0].endswith(".onnx") and Path(kept[0]).exists()
    out.unlink()
    again = run_cli("convert", f"{MODELS}:two_io", "--to", "tflite", "-o", out, "--keep-intermediates",
                    *shape_args("two_io"))
    assert again.code == 2 and Path(kept[0]).name in again.stderr  # an intermediate is never overwritten silently
    assert not out.exists()


def test_python_api_matches_cli(tmp_path):
    from modelport.api import convert

    res = convert(f"{F}/onnx/mlp.onnx", "tflite", str(tmp_path / "mlp.tflite"))
    assert res.route == "onnx -> tflite"
    assert Path(res.output).exists() and Path(res.manifest).exists()
    assert_parity(f"{F}/onnx/mlp.onnx", Path(res.output), "tflite")


@pytest.mark.parametrize("source,target,op", [
    ("tflite/mlp.tflite", "onnx", "TFL_GELU"),
    ("tflite/mlp.tflite", "savedmodel", "GELU"),
])
def test_unsupported_operator_is_named(source, target, op, tmp_path):
    """Exact GELU has no lowering in tf2onnx nor in onnx2tf's SavedModel writer: exit 3, named."""
    out = tmp_path / "out"
    result = run_cli("convert", f"{F}/{source}", "--to", target, "-o", out)
    assert result.code == 3, result.stderr
    assert op in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_int8_calibration_follows_layout_change(tmp_path):
    """NCHW calibration data for an ONNX source is remapped to the NHWC SavedModel it quantizes."""
    out = tmp_path / "cnn_int8.tflite"
    result = run_cli("convert", f"{F}/onnx/cnn.onnx", "--to", "tflite", "--quantize", "int8",
                     "--calibration-data", f"{F}/calibration/cnn_calibration.npz", "-o", out, "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["route"] == "onnx -> savedmodel -> tflite"
    assert_parity(f"{F}/onnx/cnn.onnx", out, "tflite", min_cosine=0.95)


def test_unconverted_tf_operator_is_named(tmp_path):
    """tf2onnx cannot convert Keras' exact GELU (Erfc): exit 3, the op named, nothing written."""
    out = tmp_path / "mlp.onnx"
    result = run_cli("convert", f"{F}/savedmodel/keras_mlp", "--to", "onnx", "-o", out)
    assert result.code == 3, result.stderr
    assert "Erfc" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []
