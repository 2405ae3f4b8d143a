"""TensorFlow.js: `convert --to tfjs` from the fixtures, validated in Node on the cpu and wasm backends;
a damaged TF.js model fails; bad input ends in one line and its exit code; bench measures in Node.

Real runs only: tensorflowjs in the tfjs layer writes the models, Node 20 with @tensorflow/tfjs-core
4.22 runs them (modelport/js/tfjs_runner.js), compared with the source's own runtime.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import numpy as np
import pytest

from conftest import FIXTURES, assert_one_line_error, run_cli

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (make node)")

# Every fixture network (the PyTorch fixtures as their ONNX exports, the Keras ones as SavedModels):
# each one's route ends in savedmodel -> tfjs. keras_mlp's exact GELU is an Erfc op, which TF.js 4.22
# lacks: the decompose strategy rewrites it.
SOURCES = {
    "cnn": FIXTURES / "onnx" / "cnn.onnx",
    "mlp": FIXTURES / "onnx" / "mlp.onnx",
    "encoder": FIXTURES / "onnx" / "encoder.onnx",
    "two_io": FIXTURES / "onnx" / "two_io.onnx",
    "keras_cnn": FIXTURES / "savedmodel" / "keras_cnn",
    "keras_mlp": FIXTURES / "savedmodel" / "keras_mlp",
}


def _report(path) -> dict:
    with open(path) as f:
        return json.load(f)


def _tfjs_candidate(report: dict) -> dict:
    return next(c for c in report["candidates"] if c["format"] == "tfjs")


@pytest.fixture(scope="module")
def cnn_tfjs(tmp_path_factory):
    out = tmp_path_factory.mktemp("tfjs") / "cnn_tfjs"
    r = run_cli("convert", SOURCES["cnn"], "--to", "tfjs", "-o", out)
    assert r.code == 0, r.stdout + r.stderr
    return out


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_fixture_converts_to_tfjs_and_passes_in_node_on_cpu_and_wasm(tmp_path, name):
    out = tmp_path / f"{name}_tfjs"
    r = run_cli("convert", SOURCES[name], "--to", "tfjs", "-o", out, "--json")
    assert r.code == 0, r.stdout[-3000:] + r.stderr
    assert (out / "model.json").is_file() and list(out.glob("group1-shard*.bin"))
    converted = json.loads(r.stdout)
    assert converted["route"].endswith("savedmodel -> tfjs")
    # The user's own check, in a fresh process: the source against the written folder, both backends.
    report_path = tmp_path / "parity.json"
    v = run_cli("validate", SOURCES[name], out, "--json", report_path)
    assert v.code == 0, v.stdout + v.stderr
    cand = _tfjs_candidate(_report(report_path))
    assert cand["passed"] and cand["runtime"] == "tfjs-cpu" and cand["precision"] == "fp32"
    assert [(b["backend"], b["passed"]) for b in cand["backends"]] == [("wasm", True)]
    assert all(o["max_abs"] < 1e-3 for o in cand["outputs"])


def test_a_damaged_tfjs_model_fails_parity(tmp_path, cnn_tfjs):
    """One weight of the written model changed: both backends run it, and validate exits 1."""
    mutant = tmp_path / "mutant_tfjs"
    shutil.copytree(cnn_tfjs, mutant)
    shutil.copy(str(cnn_tfjs) + ".modelport.json", str(mutant) + ".modelport.json")
    spec = json.loads((mutant / "model.json").read_text())
    shard = mutant / spec["weightsManifest"][0]["paths"][0]
    data = bytearray(shard.read_bytes())
    at = 0
    for w in spec["weightsManifest"][0]["weights"]:  # the largest float32 weight: a convolution's filters
        size = int(np.prod(w["shape"])) * 4
        if w["dtype"] == "float32" and size >= 4 * 27:
            values = np.frombuffer(bytes(data[at:at + size]), dtype=np.float32) + 0.5
            data[at:at + size] = values.tobytes()
            break
        at += size
    shard.write_bytes(bytes(data))
    r = run_cli("validate", SOURCES["cnn"], mutant)
    assert r.code == 1, r.stdout + r.stderr
    assert "FAIL" in r.stdout and "parity failed" in r.stderr


def test_force_replaces_a_tfjs_folder(tmp_path):
    out = tmp_path / "mlp_tfjs"
    for extra in ((), ("--force",)):
        r = run_cli("convert", SOURCES["keras_mlp"], "--to", "tfjs", "-o", out, "--no-validate", *extra)
        assert r.code == 0, r.stdout + r.stderr
    assert (out / "model.json").is_file()


def test_wasm_alone_and_cpu_alone(cnn_tfjs, tmp_path):
    report_path = tmp_path / "wasm.json"
    r = run_cli("validate", SOURCES["cnn"], cnn_tfjs, "--tfjs-backend", "wasm", "--json", report_path)
    assert r.code == 0, r.stdout + r.stderr
    cand = _tfjs_candidate(_report(report_path))
    assert cand["runtime"] == "tfjs-wasm" and cand["backends"] == []


def test_uint8_weights_are_judged_with_the_int8_preset(tmp_path):
    out = tmp_path / "cnn_uint8_tfjs"
    r = run_cli("convert", SOURCES["keras_cnn"], "--to", "tfjs", "--quantize", "uint8", "-o", out)
    assert r.code == 0, r.stdout + r.stderr
    record = _report(str(out) + ".modelport.json")
    cand = _tfjs_candidate(record["validation"])
    assert cand["precision"] == "int8" and cand["passed"]
    weights = json.loads((out / "model.json").read_text())["weightsManifest"][0]["weights"]
    assert all((w.get("quantization") or {}).get("dtype") == "uint8" for w in weights if w["dtype"] == "float32")


def test_inspect_and_bench_a_tfjs_model(cnn_tfjs, tmp_path):
    r = run_cli("inspect", cnn_tfjs)
    assert r.code == 0 and "tfjs" in r.stdout and "image" in r.stdout, r.stdout + r.stderr
    bench_json = tmp_path / "bench.json"
    b = run_cli("bench", cnn_tfjs, "--runs", "20", "--min-warmup-seconds", "0", "--json", bench_json)
    assert b.code == 0, b.stdout + b.stderr
    rows = _report(bench_json)["results"]
    assert sorted(r["runtime"] for r in rows) == ["tfjs-cpu", "tfjs-wasm"]
    assert all(r["status"] == "ok" and r["runs"] >= 20 and len(r["latencies_ms"]) == r["runs"]
               and r["runtime_version"] == "4.22.0" and r["peak_rss_bytes"] > 20e6 for r in rows)


# ---------------------------------------------------------------- bad input
def test_quantize_modes_of_other_targets_are_refused_for_tfjs(tmp_path):
    r = run_cli("convert", SOURCES["keras_cnn"], "--to", "tfjs", "--quantize", "dynamic-int8", "-o", tmp_path / "x")
    assert_one_line_error(r, 2, "does not apply to a tfjs output")
    assert not (tmp_path / "x").exists()


def test_node_missing_is_exit_4_naming_what_to_install(cnn_tfjs):
    r = run_cli("validate", SOURCES["cnn"], cnn_tfjs, env={"MODELPORT_NODE": "/nonexistent/node"})
    assert_one_line_error(r, 4, "Node.js", "apt-get install nodejs")


def test_npm_packages_missing_is_exit_4(cnn_tfjs, tmp_path):
    r = run_cli("validate", SOURCES["cnn"], cnn_tfjs, env={"MODELPORT_NODE_MODULES": str(tmp_path)})
    assert_one_line_error(r, 4, "make node")


def test_the_tfjs_layer_missing_is_exit_4_and_writes_nothing(tmp_path):
    out = tmp_path / "x_tfjs"
    r = run_cli("convert", SOURCES["keras_cnn"], "--to", "tfjs", "-o", out,
                env={"MODELPORT_TFJS_PYTHON": "/nonexistent/python"})
    assert_one_line_error(r, 4, "tfjs layer")
    assert not out.exists()


def test_a_source_with_an_op_tfjs_lacks_is_exit_3_naming_it(tmp_path):
    """A determinant (MatrixDeterminant): not in TF.js 4.22's op set, and no rewrite of modelport's."""
    sm = tmp_path / "det_sm"
    code = (
        "import sys, tensorflow as tf\n"
        "class M(tf.Module):\n"
        "    @tf.function(input_signature=[tf.TensorSpec([2, 3, 3], tf.float32, name='x')])\n"
        "    def __call__(self, x):\n"
        "        return {'det': tf.linalg.det(x)}\n"
        "m = M()\n"
        "tf.saved_model.save(m, sys.argv[1], signatures={'serving_default': m.__call__})\n"
    )
    subprocess.run([sys.executable, "-c", code, str(sm)], check=True, capture_output=True, timeout=300)
    out = tmp_path / "det_tfjs"
    r = run_cli("convert", sm, "--to", "tfjs", "-o", out)
    assert_one_line_error(r, 3, "Unsupported Ops", "MatrixDeterminant")
    assert not out.exists() and not list(tmp_path.glob("det_tfjs*"))
    assert "decompose" in r.stderr  # tried, and said why it could not help


def test_damaged_or_foreign_tfjs_folders_are_bad_input(tmp_path, cnn_tfjs):
    broken = tmp_path / "broken_tfjs"
    broken.mkdir()
    (broken / "model.json").write_text('{"format": "graph-model", "modelTopology": ')
    assert_one_line_error(run_cli("validate", SOURCES["cnn"], broken), 2, "not valid JSON")

    layers = tmp_path / "layers_tfjs"
    layers.mkdir()
    (layers / "model.json").write_text(json.dumps({"format": "layers-model", "modelTopology": {}}))
    assert_one_line_error(run_cli("inspect", layers), 2, "layers model")

    escaping = tmp_path / "escaping_tfjs"
    shutil.copytree(cnn_tfjs, escaping)
    (tmp_path / "outside.bin").write_bytes((escaping / "group1-shard1of1.bin").read_bytes())
    spec = json.loads((escaping / "model.json").read_text())
    spec["weightsManifest"][0]["paths"] = ["../outside.bin"]
    (escaping / "model.json").write_text(json.dumps(spec))
    assert_one_line_error(run_cli("validate", SOURCES["cnn"], escaping), 2, "outside the model's folder")

    assert_one_line_error(run_cli("validate", SOURCES["cnn"], cnn_tfjs, "--tfjs-backend", "webgl"), 2, "--tfjs-backend")
    assert_one_line_error(run_cli("inspect", cnn_tfjs / "model.json"), 2, "pass the TensorFlow.js model's folder")
