"""Untrusted models: a model file is code, and the process that runs it must not act outside its
scratch folder. Hostile SavedModels (they write and read files when they run) go through the real
CLI; the test checks the files outside, not modelport's word for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import FIXTURES, assert_one_line_error, run_cli


def _savedmodel(path, body: str) -> str:
    """A SavedModel whose serving_default(x: [1, 4]) runs `body` (TensorFlow code using x) and returns y."""
    script = f"""
import tensorflow as tf
class M(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
    def serve(self, x):
{chr(10).join('        ' + line for line in body.strip().splitlines())}
m = M()
tf.saved_model.save(m, {str(path)!r}, signatures={{"serving_default": m.serve}})
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return str(path)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("7")
    return {
        "outside": outside,
        "writer": _savedmodel(base / "writer_sm", f"""
tf.io.write_file({str(outside / 'pwned.txt')!r}, tf.strings.as_string(tf.reduce_sum(x)))
return {{"y": x * 2.0}}"""),
        "reader": _savedmodel(base / "reader_sm", f"""
secret = tf.strings.to_number(tf.io.read_file({str(outside / 'secret.txt')!r}))
return {{"y": x * 2.0 + secret}}"""),
        "clean": _savedmodel(base / "clean_sm", 'return {"y": x * 2.0 + 7.0}'),
    }


def test_a_savedmodel_that_writes_a_file_is_refused_naming_the_op(hostile):
    r = run_cli("validate", hostile["writer"], hostile["writer"])
    assert_one_line_error(r, 2, "calls WriteFile", "--allow-io-ops")
    assert os.listdir(hostile["outside"]) == ["secret.txt"]


def test_allowed_to_write_it_still_writes_nothing_outside(hostile):
    r = run_cli("--allow-io-ops", "validate", hostile["writer"], hostile["writer"])
    assert r.code == 0, r.stdout + r.stderr  # it ran, confined: its file went to a private /tmp that vanished
    assert not (hostile["outside"] / "pwned.txt").exists()
    assert os.listdir(hostile["outside"]) == ["secret.txt"]


def test_a_savedmodel_that_reads_a_file_sees_nothing_outside(hostile, tmp_path):
    """Unconfined, the reader returns 2x + 7 (the secret) and matches the clean model; confined,
    the file does not exist for it, so it fails to run: exit 1, and no secret in any output."""
    r = run_cli("validate", hostile["clean"], hostile["reader"])
    assert_one_line_error(r, 2, "calls ReadFile")
    r = run_cli("--allow-io-ops", "validate", hostile["clean"], hostile["reader"], "--json", tmp_path / "report.json")
    assert r.code == 1, r.stdout + r.stderr
    candidate = json.loads((tmp_path / "report.json").read_text())["candidates"][0]
    assert not candidate["passed"] and "NotFoundError" in (candidate["error"] or ""), candidate
    r = run_cli("--allow-io-ops", "--no-sandbox", "validate", hostile["clean"], hostile["reader"])
    assert r.code == 0, r.stdout + r.stderr  # the control: the same files, unconfined, leak the secret


def test_convert_refuses_a_file_writing_source_and_its_workers_stay_confined(hostile, tmp_path):
    r = run_cli("convert", hostile["writer"], "--to", "onnx", "-o", tmp_path / "writer.onnx")
    assert_one_line_error(r, 2, "calls WriteFile")
    assert not (tmp_path / "writer.onnx").exists()
    run_cli("--allow-io-ops", "convert", hostile["writer"], "--to", "onnx", "-o", tmp_path / "allowed.onnx")
    assert not (hostile["outside"] / "pwned.txt").exists()


def test_require_sandbox_refuses_when_it_cannot_confine(tmp_path):
    no_bwrap = {"PATH": str(tmp_path)}  # bwrap is looked up on PATH: here there is none
    r = run_cli("--require-sandbox", "validate", FIXTURES / "onnx" / "cnn.onnx", FIXTURES / "onnx" / "cnn.onnx",
             env=no_bwrap)
    assert_one_line_error(r, 4, "the sandbox is required but unavailable", "bubblewrap")
    r = run_cli("validate", FIXTURES / "onnx" / "cnn.onnx", FIXTURES / "onnx" / "cnn.onnx", env=no_bwrap)
    assert r.code == 0, r.stdout + r.stderr  # auto: it says so once, and goes on with the other guards
    assert r.stderr.count("models run without a sandbox") == 1, r.stderr


def test_sandbox_flags_contradict():
    r = run_cli("--require-sandbox", "--no-sandbox", "formats")
    assert r.code == 2 and "contradict" in r.stderr


def test_doctor_reports_the_sandbox():
    """The row `modelport doctor` shows (its CLI output: tests/test_inspect_and_cli.py::test_doctor_json)."""
    from modelport.doctor import sandbox_check

    row = sandbox_check()
    assert row.importable and row.installed and row.advice is None, row


def _external_onnx(path, location: str) -> str:
    """y = x + w, with w (1, 4) stored as external data at `location` (relative to the model)."""
    import onnx
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(np.ones((1, 4), np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    w = model.graph.initializer[0]
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.parametrize("how", ["a path that escapes", "a symbolic link out of the folder"])
def test_external_data_outside_the_model_folder_is_never_read(tmp_path, how):
    import numpy as np

    outside, folder = tmp_path / "outside", tmp_path / "model"
    outside.mkdir()
    folder.mkdir()
    np.full((1, 4), 7, np.float32).tofile(outside / "secret.bin")
    if how == "a path that escapes":
        model = _external_onnx(folder / "m.onnx", "../outside/secret.bin")
    else:
        (folder / "weights.bin").symlink_to(outside / "secret.bin")
        model = _external_onnx(folder / "m.onnx", "weights.bin")
    assert_one_line_error(run_cli("validate", model, model), 2, "ONNX Runtime cannot load it")


def test_batch_untrusted_requires_the_sandbox_before_any_job(tmp_path):
    manifest = tmp_path / "models.yaml"
    manifest.write_text(f"models:\n  - name: cnn\n    source: {FIXTURES / 'onnx' / 'cnn.onnx'}\n    targets: [tflite]\n")
    r = run_cli("batch", manifest, "--untrusted", env={"PATH": str(tmp_path)})
    assert_one_line_error(r, 4, "the sandbox is required but unavailable")
    assert not (tmp_path / "modelport-out").exists()
    assert_one_line_error(run_cli("--no-sandbox", "batch", manifest, "--untrusted"), 2, "contradict")
    assert_one_line_error(run_cli("batch", manifest, "--untrusted", "--executor", "ray"), 2, "--executor local")


def test_the_working_directory_is_not_readable_either(hostile, tmp_path):
    """`python -m` puts the working directory on sys.path; it is the user's folder, not the job's."""
    r = run_cli("--allow-io-ops", "validate", hostile["clean"], hostile["reader"], cwd=hostile["outside"],
                env={"PYTHONPATH": str(FIXTURES.parent)})
    assert r.code == 1 and "NotFoundError" in r.stdout + r.stderr, r.stdout + r.stderr


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_confined_workers_report_the_usage_getrusage_cannot_see(tmp_path, mode):
    """Under the sandbox a worker's CPU time and peak RSS never reach the parent's
    RUSAGE_CHILDREN (a PID namespace of its own): it reports them, and MODELPORT_USAGE_FILE gets
    the total. Without the sandbox getrusage sees the worker, and nothing is added (no double count)."""
    usage_file = tmp_path / "usage.json"
    res = run_cli("inspect", FIXTURES / "onnx" / "mlp.onnx",
                  env={"MODELPORT_SANDBOX": mode, "MODELPORT_USAGE_FILE": str(usage_file)})
    assert res.code == 0, res.stderr
    usage = json.loads(usage_file.read_text())
    if mode == "auto":
        assert usage["workers"] == 1 and usage["cpu_seconds"] > 0.05, usage
        assert usage["max_rss_bytes"] > 20 * 2**20, usage  # a Python with onnx and onnxruntime loaded
    else:
        assert usage == {"workers": 0, "cpu_seconds": 0.0, "max_rss_bytes": 0}, usage
