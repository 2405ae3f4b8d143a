"""`modelport batch`: a manifest of real jobs (valid, corrupt, parity failure, crash, hang) run in
isolated processes, reported per job x target, resumed, interrupted, and run on Ray."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest

from conftest import BAD, FIXTURES, MODELPORT, assert_one_line_error, run_cli
from modelport.batch.manifest import load_manifest
from modelport.errors import UsageError

JOBS = """
defaults:
  targets: [tflite]
models:
  - name: mlp
    source: src/mlp.onnx
    bench: {{runs: 5, warmup: 1, min_warmup_seconds: 0, batch_sizes: [1, 2]}}
  - name: cnn
    source: {fixtures}/onnx/cnn.onnx
    targets: [tflite, savedmodel]
  - name: corrupt
    source: {bad}/truncated.onnx
  - name: strict
    source: {fixtures}/onnx/cnn.onnx
    atol: 1.0e-12
    rtol: 0
    strategy: {{onnx-tflite: flatbuffer_direct}}  # no strategy meets 1e-12: one attempt is the same verdict
  - name: crash
    source: {bad}/aborts.py:build
    targets: [onnx]
    input_shapes: {{x: [1, 4]}}
  - name: hang
    source: {bad}/hangs.py:build
    targets: [onnx]
    input_shapes: {{x: [1, 4]}}
    timeout: 15
"""


def _write_manifest(folder: Path, text: str = JOBS) -> Path:
    (folder / "src").mkdir(exist_ok=True)
    shutil.copy(FIXTURES / "onnx" / "mlp.onnx", folder / "src" / "mlp.onnx")
    path = folder / "models.yaml"
    path.write_text(text.format(fixtures=FIXTURES, bad=BAD))
    return path


def _report(folder: Path) -> dict:
    return json.loads((folder / "modelport-report" / "batch.json").read_text())


def _statuses(report: dict) -> dict[str, str]:
    return {j["name"]: j["status"] for j in report["jobs"]}


def _check_html_page(page: Path) -> None:
    """The report folder's batch.html, opened in headless Chromium (tests/html_check.py): the
    verdict, every failed job unfolded with its reason, the valid jobs' routes and parity, the
    bench plot carried in the page."""
    from html_check import assert_self_contained, show

    shown = show(page, "batch")
    assert_self_contained(shown, page)
    assert shown.verdict.startswith("6 job(s): 2 valid, 1 parity failed, 3 conversion failed;"), shown.verdict
    assert sorted(s.split()[1] for s in shown.open_details) == ["corrupt", "crash", "hang", "strict"], shown.open_details
    for seen in ("timed out after 15 s", "SIGABRT", "not a readable ONNX model", "route onnx -> savedmodel",
                 "✘ FAIL", "✔ PASS", "flatbuffer_direct"):
        assert seen in shown.text, seen
    assert [i["width"] > 300 for i in shown.images if i["alt"] == "mlp bench"] == [True], shown.images


def _leftovers(folder: Path) -> list:
    """Processes still running on this test's files, and scratch folders left in the outputs."""
    procs = [p for p in psutil.process_iter(["cmdline"]) if any(str(folder) in a or "hangs.py" in a and str(BAD) in a
                                                                for a in (p.info["cmdline"] or []))]
    return procs + list(folder.glob("modelport-out/*/.modelport-tmp-*"))


def test_batch_isolates_failures_reports_them_and_resumes(tmp_path, monkeypatch):
    manifest = _write_manifest(tmp_path)
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    proc = subprocess.run(MODELPORT + ["batch", str(manifest), "-j", "2"], capture_output=True, text=True, env=env,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 3, proc.stdout + proc.stderr  # conversion failures outrank the parity failure
    assert "corrupt, crash, hang" in proc.stderr.splitlines()[-1]
    report = _report(tmp_path)
    assert _statuses(report) == {"mlp": "valid", "cnn": "valid", "corrupt": "conversion failed",
                                 "strict": "parity failed", "crash": "conversion failed", "hang": "conversion failed"}
    jobs = {j["name"]: j for j in report["jobs"]}
    assert "not a readable ONNX model" in jobs["corrupt"]["targets"][0]["message"]
    assert "SIGABRT" in jobs["crash"]["targets"][0]["message"]
    assert "timed out after 15 s" in jobs["hang"]["message"]
    assert "fails parity" in jobs["strict"]["targets"][0]["message"]
    assert report["exit_code"] == 3 and report["counts"]["valid"] == 2
    out = tmp_path / "modelport-out"
    assert (out / "cnn" / "cnn.tflite").is_file() and (out / "cnn" / "cnn_savedmodel" / "saved_model.pb").is_file()
    assert (out / "strict" / "strict.tflite").is_file()  # written, marked failed
    assert not _leftovers(tmp_path)

    suite = ET.parse(tmp_path / "modelport-report" / "batch.xml").getroot().find("testsuite")
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert len(cases) == 7 and (suite.get("failures"), suite.get("errors")) == ("1", "3")
    assert cases[("strict", "tflite")].find("failure") is not None
    assert "SIGABRT" in cases[("crash", "onnx")].find("error").get("message")
    assert cases[("cnn", "savedmodel")].find("failure") is None and cases[("cnn", "savedmodel")].find("error") is None
    md = (tmp_path / "modelport-report" / "batch.md").read_text()
    assert "| strict | tflite | ✗ parity failed" in md and "timed out" in md and "Legend" in md
    assert summary.read_text() == md + "\n"
    assert (tmp_path / "modelport-report" / "logs" / "crash.log").is_file()
    bench = jobs["mlp"]["bench"]  # the source (ONNX Runtime) and its TFLite, at batch 1 and 2
    # the TFLite keeps mlp.onnx's dynamic batch (proven at 1 and 3 in the conversion), so batch 2 runs too
    assert [(r["label"], r["batch_size"], r["status"]) for r in bench["results"]] == [
        ("mlp source", 1, "ok"), ("mlp source", 2, "ok"), ("mlp.tflite", 1, "ok"), ("mlp.tflite", 2, "ok")]
    assert Path(bench["plot"]).read_bytes().startswith(b"\x89PNG") and Path(bench["json"]).is_file()
    assert "mlp bench: mlp source bs1 p50" in md
    _check_html_page(tmp_path / "modelport-report" / "batch.html")

    # Second run: the valid jobs are skipped; a failed one is redone. --html: the page, where asked too.
    res = run_cli("batch", manifest, "--only", "mlp", "--only", "cnn", "--only", "strict", "--html", tmp_path / "pr.html")
    assert_one_line_error(res, 1, "strict")
    assert _statuses(_report(tmp_path)) == {"mlp": "skipped", "cnn": "skipped", "strict": "parity failed"}
    assert (tmp_path / "pr.html").read_text().startswith("<!DOCTYPE html>")
    assert "3 job(s): 1 parity failed, 2 skipped" in (tmp_path / "pr.html").read_text()

    # A changed source, and a tampered artifact, are redone; --no-resume redoes everything.
    import onnx

    model = onnx.load(tmp_path / "src" / "mlp.onnx")
    model.doc_string = "retrained"
    onnx.save(model, tmp_path / "src" / "mlp.onnx")
    with open(out / "cnn" / "cnn.tflite", "ab") as f:
        f.write(b"\0")
    res = run_cli("batch", manifest, "--only", "mlp", "--only", "cnn")
    assert res.code == 0, res.stderr
    assert _statuses(_report(tmp_path)) == {"mlp": "valid", "cnn": "valid"}
    res = run_cli("batch", manifest, "--only", "mlp")
    assert _statuses(_report(tmp_path)) == {"mlp": "skipped"}
    res = run_cli("batch", manifest, "--only", "mlp", "--no-resume")
    assert res.code == 0 and _statuses(_report(tmp_path)) == {"mlp": "valid"}


def test_fail_fast_leaves_the_rest_not_run(tmp_path):
    manifest = _write_manifest(tmp_path, """
models:
  - {{name: corrupt, source: {bad}/truncated.onnx, targets: [tflite]}}
  - {{name: mlp, source: src/mlp.onnx, targets: [tflite]}}
  - {{name: cnn, source: {fixtures}/onnx/cnn.onnx, targets: [tflite]}}
""")
    res = run_cli("batch", manifest, "--fail-fast")
    assert_one_line_error(res, 3, "corrupt")
    assert _statuses(_report(tmp_path)) == {"corrupt": "conversion failed", "mlp": "not run", "cnn": "not run"}


def test_ctrl_c_stops_running_jobs_and_leaves_nothing_half_written(tmp_path):
    manifest = _write_manifest(tmp_path, """
models:
  - {{name: hang, source: {bad}/hangs.py:build, targets: [onnx], input_shapes: {{x: [1, 4]}}}}
""")
    proc = subprocess.Popen(MODELPORT + ["batch", str(manifest)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not list(tmp_path.glob("modelport-out/hang/.modelport-tmp-*")) and time.time() < deadline:
        time.sleep(0.5)  # the conversion is under way once its scratch folder exists
    assert list(tmp_path.glob("modelport-out/hang/.modelport-tmp-*")), "the job never started"
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert _statuses(_report(tmp_path)) == {"hang": "not run"}
    assert not _leftovers(tmp_path)
    assert not list((tmp_path / "modelport-out" / "hang").iterdir())


def test_ray_executor_runs_jobs_as_tasks(tmp_path):
    manifest = _write_manifest(tmp_path, """
models:
  - {{name: mlp, source: src/mlp.onnx, targets: [tflite]}}
  - {{name: corrupt, source: {bad}/truncated.onnx, targets: [tflite]}}
""")
    res = run_cli("batch", manifest, "--executor", "ray", "-j", "2")
    assert_one_line_error(res, 3, "corrupt")
    report = _report(tmp_path)
    assert _statuses(report) == {"mlp": "valid", "corrupt": "conversion failed"}
    assert report["options"]["executor"] == "ray"
    assert (tmp_path / "modelport-out" / "mlp" / "mlp.tflite").is_file()


# -- the manifest ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,fragments", [
    ("models: []", ["top level: models", "non-empty list"]),
    ("[1, 2]", ["expected a mapping"]),
    ("models:\n  - {name: a, source: x.onnx}", ["models[0] (a): targets: missing"]),
    ("models:\n  - {name: a, source: x.onnx, targets: [tflit]}", ["models[0] (a): targets: 'tflit' is not one of"]),
    ("models:\n  - {name: a, source: x.onnx, targets: [keras]}", ["'keras' is not one of onnx, savedmodel, tflite, pytorch, tfjs"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx, input_shape: {x: [1]}}", ["models[0] (a): input_shape: unknown key",
                                                                                      "did you mean input_shapes"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx, input_shapes: {x: [1, 0]}}", ["input_shapes.x: bad dim 0"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx, input_dtypes: {x: int65}}", ["input_dtypes.x: 'int65'"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx, bench: {runz: 3}}", ["bench.runz: unknown bench option"]),
    ("models:\n  - {name: a, source: x.onnx, targets: savedmodel, quantize: fp16}", ["quantize: applies to a tflite or onnx target"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx, timeout: -1}", ["timeout: expected a positive number"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx, weights: nope.pt}", ["weights: no such file"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx}\n  - {name: a, source: y.onnx, targets: onnx}",
     ["models[1] (a): name:", "unique"]),
    ("models:\n  - {name: 'a b', source: x.onnx, targets: onnx}", ["name: expected letters"]),
    ("defaults: {targets: [onnx], atol: fast}\nmodels:\n  - {name: a, source: x.onnx}", ["defaults: atol: expected a number"]),
    ("models:\n  - name: a\n    source: [x\n", ["not valid YAML at line"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx}\nextra: 1", ["top level: extra: unknown key"]),
    ("models:\n  - {name: a, source: x.onnx, targets: tflite, quantize: int8}", ["calibration_data: quantize: int8 needs"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx, fp16_io: true}", ["fp16_io: applies with quantize: fp16",
                                                                             "quantize is not set"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx, quantize: fp16, int8_activations: int8}",
     ["int8_activations: applies with quantize: int8 (quantize is fp16)"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx, quantize: fp16, int8_activations: int4}",
     ["int8_activations: 'int4' is not one of uint8, int8"]),
    ("models:\n  - {name: a, source: x.onnx, targets: [onnx, tflite], quantize: fp16, quantize_exclude: [n]}",
     ["quantize_exclude: applies to an ONNX target quantized by ONNX Runtime"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx, quantize: fp16, quantize_exclude: ['']}",
     ["quantize_exclude: expected an ONNX node name"]),
    ("version: 2\nmodels:\n  - {name: a, source: x.onnx, targets: onnx}", ["version: this modelport reads version 1"]),
    ("models:\n  - {name: a, source: x.onnx, targets: tflite, strategy: {onnx-tflite: nope}}",
     ["strategy: onnx-tflite=nope: onnx->tflite has no strategy 'nope'"]),
    ("models:\n  - {name: a, source: x.onnx, targets: tflite, strategy: tf_converter}", ["strategy: expected a mapping"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx, seed: -1}", ["seed: expected an integer >= 0"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx, value_range: {ids: [5, 1]}}",
     ["value_range.ids:", "LO must be below HI"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx, value_range: {ids: 3}}", ["value_range.ids: expected [LO, HI]"]),
    ("models:\n  - {name: a, source: x.onnx, targets: onnx, inputs: real.npz}", ["inputs: no such file"]),
])
def test_manifest_errors_name_file_entry_and_field(tmp_path, text, fragments):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as e:
        load_manifest(str(path))
    assert str(path) in e.value.message and "\n" not in e.value.message
    for f in fragments:
        assert f in e.value.message, e.value.message


def test_manifest_defaults_paths_and_toml(tmp_path):
    (tmp_path / "w.pt").write_bytes(b"x")
    yaml_text = """
defaults: {targets: [onnx], input_shapes: {image: [batch, 3, 32, 32]}, atol: {logits: 0.001}, bench: true}
models:
  - {name: cnn, source: ../fixtures_link/models.py:cnn, weights: w.pt, targets: [onnx, tflite], quantize: fp16}
  - {name: b, source: b.onnx, bench: false, output_dir: out}
"""
    (tmp_path / "m.yaml").write_text(yaml_text)
    toml_text = """
[defaults]
targets = ["onnx"]
atol = {logits = 0.001}
bench = true
input_shapes = {image = ["batch", 3, 32, 32]}

[[models]]
name = "cnn"
source = "../fixtures_link/models.py:cnn"
weights = "w.pt"
targets = ["onnx", "tflite"]
quantize = "fp16"

[[models]]
name = "b"
source = "b.onnx"
bench = false
output_dir = "out"
"""
    (tmp_path / "m.toml").write_text(toml_text)
    a, b = load_manifest(str(tmp_path / "m.yaml")), load_manifest(str(tmp_path / "m.toml"))
    assert [j.to_dict() for j in a.jobs] == [j.to_dict() for j in b.jobs]
    cnn, other = a.jobs
    assert cnn.source == str(tmp_path.parent / "fixtures_link" / "models.py") + ":cnn"
    assert cnn.weights == str(tmp_path / "w.pt") and cnn.input_shapes == ["image:batch,3,32,32"]
    assert cnn.atol == ["logits:0.001"] and cnn.bench == {} and other.bench is None
    assert cnn.output_for("tflite") == str(tmp_path / "modelport-out" / "cnn" / "cnn_fp16.tflite")
    assert other.output_for("onnx") == str(tmp_path / "out" / "b" / "b.onnx")


def test_strategies_reach_the_targets_whose_route_has_the_edge(tmp_path):
    from modelport.batch.job import convert_options

    source = tmp_path / "a.onnx"
    source.write_bytes(open(Path(__file__).parents[1] / "fixtures" / "onnx" / "cnn.onnx", "rb").read())
    (tmp_path / "m.yaml").write_text("models:\n  - {name: a, source: a.onnx, targets: [tflite, pytorch], "
                                     "fallback: false, strategy: {onnx-tflite: fold, onnx-pytorch: none}}\n")
    job = load_manifest(str(tmp_path / "m.yaml")).jobs[0]
    tflite, pytorch = convert_options(job, "tflite"), convert_options(job, "pytorch")
    assert tflite.strategies == ("onnx-tflite=fold",) and pytorch.strategies == ("onnx-pytorch=none",)
    assert tflite.fallback is False


def test_quantize_applies_to_an_onnx_target_when_there_is_no_tflite_one(tmp_path):
    """As `convert --to onnx --quantize`: a job whose targets have no tflite quantizes its ONNX, named
    <name>_<quantize>.onnx, with the ONNX quantizers' keys (quantize_exclude, fp16_io, int8_activations)
    as convert's options; with tflite too, only the TFLite one is quantized."""
    import onnx
    from onnx import TensorProto

    from modelport.batch.job import convert_options

    shutil.copy(FIXTURES / "onnx" / "cnn.onnx", tmp_path / "a.onnx")
    shutil.copy(FIXTURES / "calibration" / "cnn_calibration.npz", tmp_path / "calib.npz")
    (tmp_path / "m.yaml").write_text(
        "models:\n  - {name: a, source: a.onnx, targets: [onnx], quantize: dynamic-int8, quantize_exclude: node_linear}\n"
        "  - {name: b, source: a.onnx, targets: [onnx, tflite], quantize: fp16}\n"
        "  - {name: c, source: a.onnx, targets: [onnx, savedmodel], quantize: fp16, fp16_io: true}\n"
        "  - {name: d, source: a.onnx, targets: [onnx], quantize: int8, calibration_data: calib.npz, int8_activations: int8}\n")
    a, b, c, d = load_manifest(str(tmp_path / "m.yaml")).jobs
    assert convert_options(b, "onnx").quantize is None and convert_options(b, "tflite").quantize == "fp16"
    assert b.output_for("tflite").endswith("b_fp16.tflite") and b.output_for("onnx").endswith("b.onnx")
    assert (convert_options(c, "onnx").fp16_io, convert_options(c, "savedmodel").fp16_io) == (True, False)
    assert convert_options(d, "onnx").int8_activations == "int8"
    proc = subprocess.run(MODELPORT + ["batch", str(tmp_path / "m.yaml"), "--only", "a"], capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = Path(a.output_for("onnx"))
    assert out.name == "a_dynamic_int8.onnx" and out.is_file()
    model = onnx.load(str(out))
    weights = {t.name: t.data_type for t in model.graph.initializer}
    assert set(weights.values()) & {TensorProto.INT8, TensorProto.UINT8}
    # the excluded classifier (a Gemm, which the dynamic quantizer writes as MatMul + Add): a float weight
    head = next(n for n in model.graph.node if n.name.startswith("node_linear") and n.op_type in ("Gemm", "MatMul"))
    assert weights[head.input[1]] == TensorProto.FLOAT, head
    assert json.loads(Path(f"{out}.modelport.json").read_text())["steps"][-1]["details"]["kept_float"] == ["node_linear"]


def test_the_checks_input_options_reach_the_validation(tmp_path):
    """seed, value_range and inputs: the manifest's spelling of convert's --seed, --value-range, --inputs."""
    from modelport.batch.job import validate_options

    (tmp_path / "real.npz").write_bytes(b"")
    (tmp_path / "m.yaml").write_text("defaults: {targets: [onnx], seed: 7, value_range: {ids: [0, 30522]}}\n"
                                     "models:\n  - {name: a, source: a.onnx, inputs: real.npz}\n"
                                     "  - {name: b, source: b.onnx}\n")
    a, b = load_manifest(str(tmp_path / "m.yaml")).jobs
    opts = validate_options(a)
    assert (opts.seed, opts.value_ranges, opts.inputs) == (7, ("ids:0,30522",), str(tmp_path / "real.npz"))
    assert validate_options(b).inputs is None and validate_options(b).seed == 7


def test_null_unsets_a_default_and_yaml_exponents_are_numbers(tmp_path):
    (tmp_path / "m.yaml").write_text("defaults: {targets: [tflite], quantize: fp16, atol: 1e-4, timeout: 1e3}\n"
                                     "models:\n  - {name: a, source: a.onnx}\n"
                                     "  - {name: b, source: b.onnx, targets: [onnx], quantize: null}\n")
    a, b = load_manifest(str(tmp_path / "m.yaml")).jobs
    assert a.quantize == "fp16" and a.atol == ["0.0001"] and a.timeout == 1000.0
    assert b.quantize is None and b.targets == ["onnx"] and b.source == str(tmp_path / "b.onnx")


def test_documented_example_manifest_loads():
    jobs = load_manifest(str(Path(__file__).parents[1] / "docs" / "batch-example.yaml")).jobs
    assert len(jobs) >= 3
    for j in jobs:
        assert os.path.exists(j.source.rsplit(":", 1)[0] if ".py:" in j.source else j.source), j.source


@pytest.mark.parametrize("args,fragment", [
    (("missing.yaml",), "no such manifest"),
    (("{m}", "-j", "0"), "-j 0"),
    (("{m}", "--only", "nope"), "--only nope"),
    (("{m}", "--timeout", "0"), "--timeout"),
])
def test_batch_bad_input_is_one_line_and_exit_2(tmp_path, args, fragment):
    m = tmp_path / "m.yaml"
    m.write_text(f"models:\n  - {{name: a, source: {FIXTURES}/onnx/mlp.onnx, targets: [tflite]}}\n")
    res = run_cli("batch", *[a.format(m=m) for a in args], cwd=tmp_path)
    assert_one_line_error(res, 2, fragment)
    assert not (tmp_path / "modelport-out").exists()
