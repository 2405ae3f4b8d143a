"""Bad input is rejected with the documented exit code and exactly one `modelport: error:` line,
never a traceback or a crash, and a failed convert leaves nothing behind in the output folder.

Every test runs the real CLI in a subprocess (tests/conftest.py: run_cli).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import BAD, FIXTURES, MODELPORT, ROOT, assert_one_line_error, run_cli

MODELS_PY = FIXTURES / "models.py"


def assert_nothing_left(folder: Path, *keep: str) -> None:
    """No output, no manifest and no .modelport-tmp-* scratch folder beyond what was there before."""
    left = sorted(n for n in os.listdir(folder) if n not in keep)
    assert left == [], left


def convert_fails(tmp_path: Path, code: int, source, *args: str, to: str = "tflite", fragments=()) -> str:
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / ("result" + {"tflite": ".tflite", "onnx": ".onnx", "savedmodel": "_savedmodel", "pytorch": ".pt"}[to])
    result = run_cli("convert", source, "--to", to, "-o", out, *args)
    assert_one_line_error(result, code, *fragments)
    assert_nothing_left(out_dir)
    return next(ln for ln in result.stderr.splitlines() if ln.startswith("modelport: error:"))


def _empty_dir(tmp_path: Path) -> Path:
    d = tmp_path / "empty_dir"
    d.mkdir()
    return d


def _zero_byte(tmp_path: Path) -> Path:
    f = tmp_path / "zero.onnx"
    f.write_bytes(b"")
    return f


# name -> (path factory, fragment expected in the error line)
BAD_SOURCES = {
    "missing": (lambda t: t / "nosuch.onnx", "no such file"),
    "random.onnx": (lambda t: BAD / "random.onnx", "random.onnx"),
    "random.tflite": (lambda t: BAD / "random.tflite", "random.tflite"),
    "truncated.onnx": (lambda t: BAD / "truncated.onnx", "truncated.onnx"),
    "truncated.pt": (lambda t: BAD / "truncated.pt", "truncated"),
    "not_a_model.txt": (lambda t: BAD / "not_a_model.txt", "unknown model format"),
    "checkpoint.pt": (lambda t: BAD / "checkpoint.pt", "checkpoint"),
    "not_a_savedmodel": (lambda t: BAD / "not_a_savedmodel", "neither a TensorFlow SavedModel"),
    "empty_dir": (_empty_dir, "neither a TensorFlow SavedModel"),
    "zero_byte": (_zero_byte, "empty"),
}


@pytest.mark.parametrize("name", list(BAD_SOURCES))
def test_inspect_bad_source(name, tmp_path):
    make, fragment = BAD_SOURCES[name]
    result = run_cli("inspect", make(tmp_path))
    assert_one_line_error(result, 2, fragment)
    assert result.stdout == ""


@pytest.mark.parametrize("name", list(BAD_SOURCES))
def test_convert_bad_source(name, tmp_path):
    make, fragment = BAD_SOURCES[name]
    convert_fails(tmp_path, 2, make(tmp_path), fragments=(fragment,))


def test_checkpoint_message_says_pickle_not_model(tmp_path):
    line = convert_fails(tmp_path, 2, BAD / "checkpoint.pt")
    assert "pickled PyTorch checkpoint" in line and "not a model" in line


def test_inspect_truncated_tflite_does_not_crash():
    result = run_cli("inspect", BAD / "truncated.tflite")
    assert result.code == 2, (result.code, result.stderr)  # a signal would be a negative code
    assert_one_line_error(result, 2, "truncated")


def test_convert_truncated_tflite_does_not_crash(tmp_path):
    # --to tflite would be refused as "already tflite"; --to onnx reads it in the worker
    convert_fails(tmp_path, 2, BAD / "truncated.tflite", to="onnx", fragments=("truncated",))


def test_wrong_extension_is_detected_by_content():
    result = run_cli("inspect", BAD / "tflite_named.onnx")
    assert result.code == 0, result.stderr
    assert "tflite" in result.stdout.splitlines()[0]
    assert "note:" in result.stdout and "extension suggests onnx" in result.stdout
    result = run_cli("inspect", "--json", BAD / "tflite_named.onnx")
    import json

    info = json.loads(result.stdout)
    assert info["format"] == "tflite" and "content is tflite" in info["note"]


# ------------------------------------------------------------------ option errors
def test_pytorch_format_needs_pytorch_target(tmp_path):
    convert_fails(tmp_path, 2, FIXTURES / "onnx" / "cnn.onnx", "--pytorch-format", "torchscript", to="tflite",
                  fragments=("--pytorch-format",))


def test_same_format_without_via_is_refused(tmp_path):
    convert_fails(tmp_path, 2, FIXTURES / "onnx" / "cnn.onnx", to="onnx", fragments=("already onnx", "--via"))


def test_quantize_needs_a_tflite_or_onnx_target(tmp_path):
    convert_fails(tmp_path, 2, FIXTURES / "tflite" / "keras_cnn.tflite", "--quantize", "fp16", to="savedmodel",
                  fragments=("--quantize applies to tflite, onnx, tfjs outputs only",))


def test_int8_without_calibration(tmp_path):
    convert_fails(tmp_path, 2, FIXTURES / "onnx" / "cnn.onnx", "--quantize", "int8", fragments=("--calibration-data",))


@pytest.mark.parametrize("spec", ["image", "image:1,3,x-2,32", "image:0,3,32,32"])
def test_bad_input_shape_syntax(spec, tmp_path):
    convert_fails(tmp_path, 2, FIXTURES / "onnx" / "cnn.onnx", "--input-shape", spec, fragments=("--input-shape",))


def test_unknown_choice_is_a_usage_error(tmp_path):
    result = run_cli("convert", FIXTURES / "onnx" / "cnn.onnx", "--to", "caffe", "-o", tmp_path / "x")
    assert result.code == 2 and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


def test_input_shape_names_an_unknown_input(tmp_path):
    convert_fails(tmp_path, 2, f"{MODELS_PY}:cnn", "--input-shape", "nosuch:1,2", fragments=("nosuch",))


def test_torchscript_without_input_shape(tmp_path):
    line = convert_fails(tmp_path, 2, FIXTURES / "pytorch" / "cnn.pt")
    assert "--input-shape" in line and "image" in line


def test_weights_that_are_a_checkpoint(tmp_path):
    convert_fails(tmp_path, 2, f"{MODELS_PY}:untrained_cnn", "--weights", BAD / "checkpoint.pt",
                  "--input-shape", "image:1,3,32,32", to="onnx", fragments=("--weights",))


def test_weights_that_do_not_fit(tmp_path):
    convert_fails(tmp_path, 2, f"{MODELS_PY}:mlp", "--weights", FIXTURES / "pytorch" / "cnn_state_dict.pt",
                  "--input-shape", "features:1,20", to="onnx", fragments=("does not fit",))


def test_weights_file_missing(tmp_path):
    convert_fails(tmp_path, 2, f"{MODELS_PY}:mlp", "--weights", tmp_path / "nope.pt", fragments=("--weights",))


def test_weights_with_a_non_callable_source(tmp_path):
    convert_fails(tmp_path, 2, FIXTURES / "onnx" / "mlp.onnx", "--weights", FIXTURES / "pytorch" / "cnn_state_dict.pt",
                  fragments=("--weights",))


def test_callable_that_does_not_exist(tmp_path):
    convert_fails(tmp_path, 2, f"{MODELS_PY}:nosuch", "--input-shape", "x:1,2", to="onnx", fragments=("nosuch",))


def test_python_file_that_does_not_exist(tmp_path):
    convert_fails(tmp_path, 2, "nosuchfile.py:build", to="onnx", fragments=("nosuchfile.py",))


# ------------------------------------------------------------------ existing output
def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "mlp.tflite"
    out.write_bytes(b"precious bytes")
    result = run_cli("convert", FIXTURES / "onnx" / "mlp.onnx", "--to", "tflite", "-o", out)
    assert_one_line_error(result, 2, "already exists", "--force")
    assert out.read_bytes() == b"precious bytes"
    assert sorted(os.listdir(tmp_path)) == ["mlp.tflite"]

    result = run_cli("convert", FIXTURES / "onnx" / "mlp.onnx", "--to", "tflite", "-o", out, "--force")
    assert result.code == 0, result.stderr
    data = out.read_bytes()
    assert data != b"precious bytes" and data[4:8] == b"TFL3"
    assert sorted(os.listdir(tmp_path)) == ["mlp.tflite", "mlp.tflite.modelport.json"]


def test_force_refuses_a_foreign_directory(tmp_path):
    out = tmp_path / "out" / "target_savedmodel"
    out.mkdir(parents=True)
    (out / "thesis.txt").write_text("do not delete")
    result = run_cli("convert", FIXTURES / "tflite" / "keras_cnn.tflite", "--to", "savedmodel", "-o", out, "--force")
    assert_one_line_error(result, 2, "refusing")
    assert (out / "thesis.txt").read_text() == "do not delete"
    assert_nothing_left(tmp_path / "out", "target_savedmodel")


# ------------------------------------------------------------------ missing optional library
def _fake_missing(tmp_path: Path, module: str) -> dict:
    pkg = tmp_path / "fake" / module
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('raise ImportError("simulated")\n')
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "fake")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def _run_env(env, *args):
    from conftest import CliResult

    proc = subprocess.run(MODELPORT + [str(a) for a in args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300, stdin=subprocess.DEVNULL)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def test_missing_tensorflow_is_exit_4(tmp_path):
    result = _run_env(_fake_missing(tmp_path, "tensorflow"), "inspect", FIXTURES / "savedmodel" / "keras_cnn")
    assert_one_line_error(result, 4, "tensorflow")


def test_missing_keras_is_exit_4(tmp_path):
    result = _run_env(_fake_missing(tmp_path, "keras"), "inspect", FIXTURES / "keras" / "keras_cnn.keras")
    assert_one_line_error(result, 4, "keras")


def test_missing_torch_in_convert_is_exit_4(tmp_path):
    env = _fake_missing(tmp_path, "torch")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = _run_env(env, "convert", f"{MODELS_PY}:mlp", "--to", "onnx", "--input-shape", "features:batch,20",
                      "-o", out_dir / "mlp.onnx")
    assert_nothing_left(out_dir)
    assert_one_line_error(result, 4, "torch")


# ------------------------------------------------------------------ unsupported operator
def _tiny_onnx(path: Path, node, inputs, outputs, opsets) -> None:
    import onnx
    from onnx import helper

    graph = helper.make_graph([node], "tiny", inputs, outputs)
    model = helper.make_model(graph, opset_imports=opsets, ir_version=10)
    onnx.save(model, str(path))


def _unsupported_models():
    from onnx import TensorProto, helper

    std = helper.make_opsetid("", 17)
    return {
        "MyOp": (helper.make_node("MyOp", ["x"], ["y"], domain="my.domain"),
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                 [std, helper.make_opsetid("my.domain", 1)]),
        "Unique": (helper.make_node("Unique", ["x"], ["y"], sorted=1),
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])],
                   [std]),
    }


@pytest.mark.parametrize("op", ["MyOp", "Unique"])
def test_unsupported_operator_is_named(op, tmp_path):
    src = tmp_path / f"{op.lower()}.onnx"
    _tiny_onnx(src, *_unsupported_models()[op])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = run_cli("convert", src, "--to", "tflite", "-o", out_dir / "model.tflite")
    assert_one_line_error(result, 3, "unsupported operator")
    line = next(ln for ln in result.stderr.splitlines() if ln.startswith("modelport: error:"))
    assert op.lower() in line.lower(), line  # onnx2tf upper-cases custom op names (ONNX_MYOP)
    assert_nothing_left(out_dir)
