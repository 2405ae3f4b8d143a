"""`modelport package --for torchserve | tf-serving`: real torch-model-archiver, a real TorchServe
answering over HTTP (inside the sandbox), real TensorFlow loading the package as TF Serving does.

One TorchServe start serves both fixtures' archives. Every test that starts or could start a
server checks that nothing it started is left running (psutil: no process whose command line or
working directory is under the test's folder) and that no archive or scratch folder is left half-made.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile

import psutil
import pytest

from conftest import BAD, FIXTURES, MODELPORT, assert_one_line_error, run_cli

PT = FIXTURES / "pytorch"
SM = FIXTURES / "savedmodel"

needs_java = pytest.mark.skipif(subprocess.run(["sh", "-c", "command -v java"], capture_output=True).returncode != 0,
                                reason="no java here (TorchServe's frontend)")


def leftovers(folder) -> list[str]:
    """Processes this test started that are still alive: their command line or cwd is under `folder`."""
    root = str(folder)
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            cwd = p.info["cwd"] or ""
        except (psutil.Error, TypeError):
            continue
        if p.pid != os.getpid() and (root in cmd or cwd.startswith(root)):
            found.append(f"{p.pid}: {cmd}")
    return found


def assert_clean(folder) -> None:
    deadline = time.monotonic() + 10  # the kernel reaps a killed namespace asynchronously
    while leftovers(folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers(folder) == []
    scratch = [p for p in folder.rglob(".modelport-tmp-*")]
    assert scratch == [], scratch


@needs_java
def test_torchserve_serves_two_fixtures(tmp_path):
    """TorchScript and ExportedProgram archives, one TorchServe start, answers equal to the source's."""
    store = tmp_path / "store"
    t0 = time.perf_counter()
    r = run_cli("package", PT / "cnn.pt", PT / "two_io.pt2", "--for", "torchserve", "-o", store, "--serve-check",
                "--input-shape", "image:1,3,32,32", cwd=tmp_path)
    seconds = time.perf_counter() - t0
    assert r.code == 0, (r.stdout, r.stderr)
    assert "2 of 2 candidates passed" in r.stdout, r.stdout
    assert "TorchServe served 2 archive(s) on 127.0.0.1:" in r.stdout
    print(f"package + serve-check of two archives: {seconds:.1f} s")
    for name, flavor, model_file, inputs, outputs in (
            ("cnn", "torchscript", "model.pt", ["image"], ["output"]),
            ("two_io", "exported_program", "model.pt2", ["a", "b"], ["output_0", "output_1"])):
        mar = store / f"{name}.mar"
        with zipfile.ZipFile(mar) as z:
            names = set(z.namelist())
            assert {"MAR-INF/MANIFEST.json", model_file, "mar_handler.py", "modelport_io.json", "modelport.json"} <= names
            io = json.loads(z.read("modelport_io.json"))
            ts_manifest = json.loads(z.read("MAR-INF/MANIFEST.json"))
        assert io["flavor"] == flavor and [i["name"] for i in io["inputs"]] == inputs and io["outputs"] == outputs
        assert ts_manifest["model"]["handler"] == "mar_handler.py"
        beside = json.loads((store / f"{name}.mar.modelport.json").read_text())
        assert beside["route"] == "pytorch->torchserve"
        assert beside["validation"]["passed"] is True
        assert all(o["max_abs"] == 0 for o in beside["validation"]["outputs"]), beside["validation"]
    assert sorted(p.name for p in store.iterdir()) == ["cnn.mar", "cnn.mar.modelport.json", "two_io.mar",
                                                       "two_io.mar.modelport.json"]
    assert_clean(tmp_path)


def test_port_in_use_is_refused(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        r = run_cli("package", PT / "cnn.pt2", "--for", "torchserve", "-o", tmp_path / "store", "--serve-check",
                    "--port", port, cwd=tmp_path)
    finally:
        taken.close()
    assert_one_line_error(r, 2, f"--port {port}", "in use")
    assert not (tmp_path / "store").exists()
    assert_clean(tmp_path)


@pytest.mark.parametrize("model", [FIXTURES / "onnx" / "cnn.onnx", SM / "keras_mlp", BAD / "not_a_model.txt",
                                   BAD / "not_a_savedmodel", BAD / "truncated.pt", PT / "cnn_state_dict.pt"])
def test_torchserve_refuses_what_is_not_torchscript_or_exported_program(tmp_path, model):
    r = run_cli("package", model, "--for", "torchserve", "-o", tmp_path / "store", cwd=tmp_path)
    assert_one_line_error(r, 2, "--for torchserve takes a TorchScript (.pt) or ExportedProgram (.pt2) file")
    assert list(tmp_path.iterdir()) == []


@needs_java
def test_torchserve_failing_to_start(tmp_path):
    """A JVM that cannot start (a heap too small for it): one line, exit 3, no archive, no process."""
    java_home = tmp_path / "jdk"
    (java_home / "bin").mkdir(parents=True)
    real = subprocess.run(["sh", "-c", "readlink -f \"$(command -v java)\""], capture_output=True, text=True).stdout.strip()
    wrapper = java_home / "bin" / "java"
    # `java -version` answers as the real one; anything else starts the real JVM with 1 KB of heap, and it fails.
    wrapper.write_text(f'#!/bin/sh\nif [ "$1" = "-version" ]; then exec {real} -version; fi\nexec {real} -Xmx1k "$@"\n')
    wrapper.chmod(0o755)
    r = run_cli("package", PT / "cnn.pt2", "--for", "torchserve", "-o", tmp_path / "store", "--serve-check",
                cwd=tmp_path, env={"JAVA_HOME": str(java_home)})
    assert_one_line_error(r, 3, "TorchServe exited during start-up")
    assert not (tmp_path / "store").exists()
    assert_clean(tmp_path)


def test_java_missing_is_unavailable(tmp_path):
    r = run_cli("package", PT / "cnn.pt2", "--for", "torchserve", "-o", tmp_path / "store", "--serve-check",
                cwd=tmp_path, env={"JAVA_HOME": str(tmp_path / "none"), "PATH": os.path.dirname(sys.executable)})
    assert_one_line_error(r, 4, "openjdk-17-jre-headless")
    assert not (tmp_path / "store").exists()


@needs_java
def test_interrupted_serve_check_leaves_nothing(tmp_path):
    """Ctrl-C while TorchServe is up: exit 130, the JVM and its backend gone, no archive."""
    proc = subprocess.Popen(MODELPORT + ["package", str(PT / "two_io.pt2"), "--for", "torchserve", "-o",
                                         str(tmp_path / "store"), "--serve-check"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not any("org.pytorch.serve.ModelServer" in ln for ln in leftovers(tmp_path)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "TorchServe never started"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert not (tmp_path / "store").exists()
    assert_clean(tmp_path)


def test_tf_serving_package(tmp_path):
    out = tmp_path / "serving"
    t0 = time.perf_counter()
    r = run_cli("package", SM / "keras_mlp", "--for", "tf-serving", "-o", out, "--name", "mlp", cwd=tmp_path)
    print(f"package --for tf-serving: {time.perf_counter() - t0:.1f} s")
    assert r.code == 0, (r.stdout, r.stderr)
    assert "2 of 2 candidates passed" in r.stdout and "mlp/1 via request.json" in r.stdout
    assert "signature serving_default(features: float32[-1, 20]) -> output_0: float32[-1, 5]" in r.stdout
    assert (out / "mlp" / "1" / "saved_model.pb").is_file() and (out / "mlp" / "1" / "variables").is_dir()
    config = (out / "models.config").read_text()
    assert 'name: "mlp"' in config and 'base_path: "/models/mlp"' in config and 'model_platform: "tensorflow"' in config
    rest = json.loads((out / "mlp" / "request.json").read_text())
    assert rest["signature_name"] == "serving_default" and len(rest["inputs"]["features"][0]) == 20
    grpc = json.loads((out / "mlp" / "predict_request.json").read_text())
    assert grpc["modelSpec"] == {"name": "mlp", "signatureName": "serving_default", "version": "1"}
    assert grpc["inputs"]["features"]["dtype"] == "DT_FLOAT"
    assert "parsed as tensorflow.serving.PredictRequest" in r.stdout
    assert 'signature_name: "serving_default"' in (out / "mlp" / "predict_request.pbtxt").read_text()
    assert json.loads((out / "mlp" / "modelport.json").read_text())["validation"]["passed"] is True
    assert_clean(tmp_path)


@pytest.mark.parametrize("model", [PT / "cnn.pt2", FIXTURES / "onnx" / "cnn.onnx", BAD / "not_a_savedmodel",
                                   BAD / "not_a_model.txt"])
def test_tf_serving_refuses_what_is_not_a_savedmodel(tmp_path, model):
    r = run_cli("package", model, "--for", "tf-serving", "-o", tmp_path / "serving", cwd=tmp_path)
    assert_one_line_error(r, 2, "--for tf-serving takes a TensorFlow SavedModel directory")
    assert list(tmp_path.iterdir()) == []


def test_serving_doctor_rows():
    from modelport.serving.doctor import serving_doctor_rows

    rows = {r[0]: r for r in serving_doctor_rows()}
    assert {"java", "torchserve", "torch-model-archiver", "tensorflow-serving-api", "tf serving server"} <= set(rows)
    assert rows["tf serving server"][1] is None
