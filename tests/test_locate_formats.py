"""`modelport locate` into a PyTorch artifact of modelport's ONNX -> PyTorch converter, and from a
Keras source.

The conversion records which artifact tensor holds each ONNX value (the builder's map, settled by
running for a .pt2: converters/onnx_torch/provenance.py); locate pairs them exactly, in an
ExportedProgram's graph and in a package's forward(). Faults: one conv weight nudged in the .pt2's
state and in the package's weights.pt, each named as the first divergence, in both modes. A
TorchScript artifact keeps no names: locate bisects instead, by itself. A Keras source runs as the
SavedModel its first step writes and is paired by structure: correct TFLite and ONNX artifacts
report nothing, one conv weight nudged in the ONNX is named.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES, run_cli
from locate_faults import nudge_onnx_weight

CNN_ONNX = f"{FIXTURES}/onnx/cnn.onnx"
ENCODER_ONNX = f"{FIXTURES}/onnx/encoder.onnx"
KERAS_CNN = f"{FIXTURES}/keras/keras_cnn.keras"
BUILDER = "the ONNX -> PyTorch builder's record"


def _locate(source: str, artifact: Path, out: Path, *extra: str) -> tuple[object, dict]:
    res = run_cli("locate", source, artifact, "--json", out, *extra)
    assert res.code in (0, 1), res.stdout + res.stderr
    return res, json.loads(out.read_text())


def _copy_with_manifest(artifact: Path, dest: Path) -> Path:
    (shutil.copytree if artifact.is_dir() else shutil.copy)(artifact, dest)
    shutil.copy(f"{artifact}.modelport.json", f"{dest}.modelport.json")
    return dest


@pytest.fixture(scope="module")
def cnn_package(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("package") / "cnn_pytorch"
    res = run_cli("convert", CNN_ONNX, "--to", "pytorch", "--pytorch-format", "package", "-o", out, "--no-validate")
    assert res.code == 0, res.stdout + res.stderr
    return out


def test_correct_pt2_and_package_pair_every_value_by_the_builders_record(artifacts, cnn_package, tmp_path):
    for source, artifact in [(CNN_ONNX, artifacts(CNN_ONNX, "pytorch", "--no-validate", name="cnn_from_onnx")),
                             (ENCODER_ONNX, artifacts(ENCODER_ONNX, "pytorch", "--no-validate", name="encoder_from_onnx")),
                             (CNN_ONNX, cnn_package)]:
        res, report = _locate(source, artifact, tmp_path / "r.json")
        assert res.code == 0 and "no divergence" in res.stdout, res.stdout + res.stderr
        inside = [t for t in report["tensors"] if t["how"] == BUILDER]
        assert len(inside) >= 7 and all(t["passed"] for t in report["tensors"]), report["tensors"]
        assert report["artifact_format"] == "pytorch" and report["first"] is None
    # the Gemm's value is the last of the three aten ops its helper makes (transpose, matmul, add)
    pairs = {t["source"]: t["candidate"] for t in report["tensors"]}
    assert pairs["output"] == "gemm"  # the package: forward()'s variable


def test_a_nudged_weight_in_a_pt2_is_the_first_divergence_in_both_modes(artifacts, tmp_path):
    import torch

    bad = _copy_with_manifest(artifacts(CNN_ONNX, "pytorch", "--no-validate", name="cnn_from_onnx"), tmp_path / "bad.pt2")
    ep = torch.export.load(str(bad))
    with torch.no_grad():
        ep.state_dict["features_4_weight"][0, 0, 0, 0] += 0.05  # the second conv (its BN folded in: getitem_3)
    torch.export.save(ep, str(bad))
    for mode in ("accumulated", "local"):
        res, report = _locate(CNN_ONNX, bad, tmp_path / f"{mode}.json", "--mode", mode)
        assert res.code == 1, res.stdout + res.stderr
        assert report["first"] == "getitem_3" and report["divergences"] == ["getitem_3"], report["divergences"]
        first = next(t for t in report["tensors"] if t["source"] == "getitem_3")
        assert first["candidate"] == "conv2d_1" and first["local"]["passed"] is False, first
        statuses = {t["source"]: t["status"] for t in report["tensors"]}
        assert statuses["getitem"] == statuses["relu"] == "ok", statuses


def test_a_nudged_weight_in_a_package_is_named_and_what_follows_inherits(cnn_package, tmp_path):
    import torch

    bad = _copy_with_manifest(cnn_package, tmp_path / "bad_pytorch")
    weights = torch.load(bad / "weights.pt")
    weights["features_0_weight"][1, 0, 0, 0] += 0.05  # the first conv
    torch.save(weights, bad / "weights.pt")
    res, report = _locate(CNN_ONNX, bad, tmp_path / "r.json")
    assert res.code == 1 and "first divergence: getitem (source Conv -> onnx_conv conv)" in res.stdout, res.stdout
    statuses = {t["source"]: t["status"] for t in report["tensors"]}
    assert statuses["getitem"] == "diverges" and statuses["relu"] == "inherits" and report["first"] == "getitem", statuses


def test_a_torchscript_artifact_is_bisected_instead(tmp_path):
    ts = tmp_path / "cnn.pt"
    res = run_cli("convert", CNN_ONNX, "--to", "pytorch", "--pytorch-format", "torchscript", "-o", ts, "--no-validate")
    assert res.code == 0, res.stdout + res.stderr
    res = run_cli("locate", CNN_ONNX, ts)
    assert res.code == 0, res.stdout + res.stderr
    assert "torchscript keeps no tensor names" in res.stdout and "bisected instead" in res.stdout, res.stdout


def test_a_keras_source_is_followed_by_structure_and_a_nudged_conv_is_named(artifacts, tmp_path):
    tflite = artifacts(KERAS_CNN, "tflite", "--no-validate", name="keras_cnn_locate")
    onnx_file = artifacts(KERAS_CNN, "onnx", "--no-validate", name="keras_cnn_locate")
    for artifact in (tflite, onnx_file):
        res, report = _locate(KERAS_CNN, artifact, tmp_path / "good.json")
        assert res.code == 0 and "no divergence" in res.stdout, res.stdout + res.stderr
        inside = [t for t in report["tensors"] if t["how"].startswith("structure")]
        assert len(inside) >= 5 and all(t["passed"] for t in report["tensors"]), report["tensors"]
    assert {t["layout"] for t in report["tensors"] if t["candidate_op"] == "Conv"} == {"NHWC->NCHW"}, report["tensors"]
    bad = _copy_with_manifest(onnx_file, tmp_path / "bad.onnx")
    nudge_onnx_weight(str(bad), str(bad), "Conv", 1)  # conv2
    res, report = _locate(KERAS_CNN, bad, tmp_path / "bad.json")
    assert res.code == 1, res.stdout + res.stderr
    assert report["first"].endswith("conv2_1/BiasAdd:0") and len(report["divergences"]) == 1, report["divergences"]
