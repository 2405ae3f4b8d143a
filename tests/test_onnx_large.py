"""ONNX models past protobuf's 2 GB (converters/onnx_large.py): quantized by path, written with
external data when they do not fit one file, and placed so that the model still names its data.

A real model that large takes minutes to quantize (benchmarks/large_onnx.py measures 2.7 and 4.3
GB ones through the CLI). Here the same code paths run on the fixture CNN, in the edge's own
process, with the one-file limit lowered below its weights: the quantizers, ONNX Runtime and onnx
are the real ones, and each artifact is run by ONNX Runtime against the float model."""

from __future__ import annotations

import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import FIXTURES
from modelport.converters import onnx_large
from modelport.converters.edges import onnx_quantize
from modelport.converters.job import EdgeJob
from modelport.converters.options import EdgeOptions
from modelport.errors import UsageError
from modelport.onnx_external_data import external_files
from modelport.placement import place

CNN_ONNX = FIXTURES / "onnx" / "cnn.onnx"
IMAGE = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)


def _with_external_data(folder, name="cnn.onnx") -> str:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    onnx.save(onnx.load(str(CNN_ONNX)), path, save_as_external_data=True, all_tensors_to_one_file=True,
              location=name + ".data", size_threshold=256)
    return path


def _run(path: str) -> np.ndarray:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: IMAGE})[0]


def _cosine(a, b) -> float:
    return float(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _quantize(tmp_path, source: str, mode: str, **options) -> str:
    """The edge run as its worker runs it: in its scratch folder (ONNX Runtime's pre-processing of a
    model with external data writes temporary files into the working directory)."""
    scratch = tmp_path / f"scratch_{mode}"
    scratch.mkdir()
    os.chdir(scratch)
    job = EdgeJob("onnx->onnx", "onnx_quantize", source, "onnx", None, "onnx", str(scratch / "step1_onnx.onnx"),
                  EdgeOptions(quantize=mode, **options))
    onnx_quantize.convert(job)
    return job.output


def test_sizes_are_read_without_serializing_the_model(tmp_path):
    model = onnx.load(str(CNN_ONNX))
    raw = sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer)
    assert onnx_large.weights_bytes(model) >= raw > 0
    bare = onnx.load(_with_external_data(tmp_path), load_external_data=False)
    assert onnx_large.weights_bytes(bare) == onnx_large.weights_bytes(model)  # from dims, data not loaded
    assert not onnx_large.is_large(model)


@pytest.mark.parametrize("mode", ["fp16", "dynamic-int8", "int8"])
def test_a_model_past_the_one_file_limit_is_quantized_by_path(tmp_path, monkeypatch, mode):
    monkeypatch.chdir(tmp_path)  # restored after the test; _quantize moves into the scratch folder
    """The source's weights are over the (lowered) limit: it is copied with its data file and
    quantized by path. fp16 halves it and is still over: the artifact is the model and
    `<file>.data`, its NaN/inf check run from the file; int8 is a quarter and fits: one file."""
    source = _with_external_data(tmp_path / "src")
    weights = onnx_large.weights_bytes(onnx.load(source, load_external_data=False))
    monkeypatch.setattr(onnx_large, "SINGLE_FILE_BYTES", int(weights * 0.4))
    options = {"calibration_data": str(tmp_path / "cal.npz")} if mode == "int8" else {}
    np.savez(tmp_path / "cal.npz", image=np.random.default_rng(1).standard_normal((8, 3, 32, 32)).astype(np.float32))
    out = _quantize(tmp_path, source, mode, **options)
    scratch = os.path.dirname(out)
    assert os.path.exists(os.path.join(scratch, "source_large.onnx"))  # worked on as the copy with its data
    assert not os.path.exists(os.path.join(scratch, "source_one_file.onnx"))  # not inlined into one protobuf
    external = external_files(onnx.load(out, load_external_data=False))
    assert external == (["step1_onnx.onnx.data"] if mode == "fp16" else [])
    assert os.path.exists(out + ".data") == (mode == "fp16")
    got, want = _run(out), _run(source)
    if mode == "fp16":
        np.testing.assert_allclose(got, want, atol=1e-2 * max(1.0, float(np.abs(want).max())), rtol=1e-2)
    else:
        assert _cosine(got, want) > 0.98 and (got.argmax(1) == want.argmax(1)).all()


def test_a_large_source_whose_data_is_missing_is_a_one_line_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = _with_external_data(tmp_path / "src")
    os.remove(source + ".data")
    monkeypatch.setattr(onnx_large, "SINGLE_FILE_BYTES", 100)
    with pytest.raises(UsageError, match="its external data cannot be read"):
        _quantize(tmp_path, source, "fp16")


def test_external_data_outside_the_models_folder_is_refused(tmp_path):
    model = helper.make_model(helper.make_graph([], "g", [], []))
    tensor = model.graph.initializer.add()
    tensor.name, tensor.data_type, tensor.data_location = "w", TensorProto.FLOAT, TensorProto.EXTERNAL
    tensor.dims.append(4)
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../secret.bin"
    (tmp_path / "secret.bin").write_bytes(b"\0" * 16)
    (tmp_path / "m").mkdir()
    with pytest.raises(ValueError, match="outside the model's folder"):
        onnx_large.copy_with_external_data(str(tmp_path / "m" / "x.onnx"), model, str(tmp_path / "copy.onnx"))


def test_placing_a_model_renames_the_data_file_it_names(tmp_path):
    """An edge writes `step1_onnx.onnx` + `step1_onnx.onnx.data`; placed as `model.onnx`, the data
    file becomes `model.onnx.data` and the model must name that, or it points at nothing."""
    built = _with_external_data(tmp_path / "scratch", "step1_onnx.onnx")
    dest = tmp_path / "out" / "model.onnx"
    dest.parent.mkdir()
    want = _run(built)
    place(built, str(dest), str(tmp_path / "scratch"))
    assert sorted(os.listdir(dest.parent)) == ["model.onnx", "model.onnx.data"]
    assert external_files(onnx.load(str(dest), load_external_data=False)) == ["model.onnx.data"]
    np.testing.assert_array_equal(_run(str(dest)), want)
    shutil.rmtree(tmp_path / "scratch")
    np.testing.assert_array_equal(_run(str(dest)), want)  # nothing of it left behind


def test_a_kept_intermediate_copied_for_another_target_still_names_its_data(tmp_path):
    """--keep-intermediates with several targets copies a step's ONNX that another target's chain
    still reads: the copy keeps the step's file name until it is placed, so the model and its data
    file are renamed together (`OUT.step1_onnx.onnx` + `OUT.step1_onnx.onnx.data`)."""
    from modelport.pipeline.convert import _keep_intermediates

    step = _with_external_data(tmp_path / "scratch", "step1_onnx.onnx")
    want = _run(step)
    (tmp_path / "out").mkdir()
    kept = _keep_intermediates([step], str(tmp_path / "out" / "cnn.tflite"), force=False, copy_them=True)
    assert kept == [str(tmp_path / "out" / "cnn.step1_onnx.onnx")]
    assert external_files(onnx.load(kept[0], load_external_data=False)) == ["cnn.step1_onnx.onnx.data"]
    np.testing.assert_array_equal(_run(kept[0]), want)
    np.testing.assert_array_equal(_run(step), want)  # the step's own files stay for the other target
