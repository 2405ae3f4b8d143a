"""The CLI's cheap commands: --help/--version/formats stay light, `inspect --json` reports each
fixture format correctly, `doctor --json` sees the pinned stack. All run the real CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import modelport
from conftest import FIXTURES, ROOT, run_cli

HEAVY = ("torch", "tensorflow", "onnx2tf", "tf2onnx", "onnxruntime")


# ------------------------------------------------------------------ light commands
@pytest.mark.parametrize("argv", [["--help"], ["convert", "--help"], ["inspect", "--help"], ["formats"],
                                  ["formats", "--json"], ["--version"]])
def test_light_commands_do_not_import_heavy_libraries(argv):
    code = ("import sys; from modelport.cli.main import cli; "
            f"cli.main({argv!r}, standalone_mode=False); "
            f"print('HEAVY=' + repr(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    heavy = [ln for ln in proc.stdout.splitlines() if ln.startswith("HEAVY=")]
    assert heavy == ["HEAVY=[]"], proc.stdout[-2000:]


def test_help_lists_commands_and_exit_codes():
    result = run_cli("--help")
    assert result.code == 0
    for word in ("convert", "inspect", "formats", "doctor", "Exit codes"):
        assert word in result.stdout


def test_version():
    result = run_cli("--version")
    assert result.code == 0
    assert result.stdout.strip() == f"modelport, version {modelport.__version__}"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(rf'^version = "{re.escape(modelport.__version__)}"$', pyproject, re.M)


def test_formats_json():
    result = run_cli("formats", "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    pairs = data["pairs"]
    core = {"pytorch", "onnx", "savedmodel", "tflite"}
    routed = [p for p in pairs if p["source"] in core and p["target"] != "pytorch"]
    assert len(routed) == 13  # 9 among the four core formats, 4 to tfjs
    for p in routed:
        assert p["route"], p
        steps = p["route"].split(" -> ")
        assert steps[0] == p["source"] and steps[-1] == p["target"]
        assert len(p["libraries"]) == len(steps) - 1 and p["direct"] == (len(steps) == 2)
    assert {p["route"] for p in routed if p["source"] == "pytorch"} >= {"pytorch -> onnx -> tflite"}
    to_pytorch = {p["source"]: p["route"] for p in pairs if p["target"] == "pytorch"}
    assert to_pytorch == {"onnx": "onnx -> pytorch", "savedmodel": "savedmodel -> onnx -> pytorch",
                          "tflite": "tflite -> onnx -> pytorch", "keras": "keras -> savedmodel -> onnx -> pytorch"}
    keras = {p["target"]: p["route"] for p in pairs if p["source"] == "keras"}
    assert keras["tflite"] == "keras -> savedmodel -> tflite"
    to_tfjs = {p["source"]: p["route"] for p in pairs if p["target"] == "tfjs"}
    assert to_tfjs == {"pytorch": "pytorch -> onnx -> savedmodel -> tfjs", "onnx": "onnx -> savedmodel -> tfjs",
                       "savedmodel": "savedmodel -> tfjs", "tflite": "tflite -> savedmodel -> tfjs",
                       "keras": "keras -> savedmodel -> tfjs"}
    assert all(p["source"] != p["target"] for p in pairs)
    assert {e["edge"] for e in data["edges"]} >= {"onnx->tflite", "savedmodel->tflite", "tflite->savedmodel"}
    assert [e["edge"] for e in data["edges"] if e["quantizes"]] == ["savedmodel->tflite", "onnx->onnx", "savedmodel->tfjs"]


def test_formats_table():
    result = run_cli("formats")
    assert result.code == 0
    assert "pytorch -> onnx -> tflite" in result.stdout


# ------------------------------------------------------------------ inspect
_CACHE: dict[str, object] = {}


def inspect_json(path) -> tuple[dict, str]:
    key = str(path)
    if key not in _CACHE:
        result = run_cli("inspect", "--json", path)
        assert result.code == 0, result.stderr
        _CACHE[key] = (json.loads(result.stdout), result.stderr)
    return _CACHE[key]  # type: ignore[return-value]


def _one(specs: list[dict], name: str) -> dict:
    found = [s for s in specs if s["name"] == name]
    assert len(found) == 1, specs
    return found[0]


def test_inspect_onnx():
    info, _ = inspect_json(FIXTURES / "onnx" / "cnn.onnx")
    assert info["format"] == "onnx" and info["flavor"] is None and info["note"] is None
    image = _one(info["inputs"], "image")
    assert image["shape"] == ["batch", 3, 32, 32] and image["dtype"] == "float32"
    out = _one(info["outputs"], "output")
    assert out["shape"] == ["batch", 10] and out["dtype"] == "float32"
    assert info["opset"]["ai.onnx"] == 20
    assert info["ir_version"] == 10
    assert info["op_counts"]["Conv"] == 2
    assert info["parameters"] > 0 and info["size_bytes"] == (FIXTURES / "onnx" / "cnn.onnx").stat().st_size
    assert info["manifest"] is None


def test_inspect_onnx_int64_and_two_inputs():
    info, _ = inspect_json(FIXTURES / "onnx" / "encoder.onnx")
    ids = _one(info["inputs"], "input_ids")
    assert ids["shape"] == [1, "seq"] and ids["dtype"] == "int64"
    info, _ = inspect_json(FIXTURES / "onnx" / "two_io.onnx")
    assert [(t["name"], t["shape"]) for t in info["inputs"]] == [("a", [2, 8]), ("b", [2, 4])]
    assert [t["name"] for t in info["outputs"]] == ["output_0", "output_1"]


def test_inspect_tflite():
    info, _ = inspect_json(FIXTURES / "tflite" / "keras_cnn.tflite")
    assert info["format"] == "tflite"
    image = _one(info["inputs"], "image")
    assert isinstance(image["shape"][0], str) and image["shape"][1:] == [32, 32, 3]
    assert image["dtype"] == "float32"
    out = _one(info["outputs"], "output_0")
    assert out["shape"][1:] == [10]
    assert info["signatures"] == ["serving_default"]
    assert info["op_counts"].get("CONV_2D") == 2
    assert "custom_ops" not in info


def test_inspect_savedmodel():
    info, _ = inspect_json(FIXTURES / "savedmodel" / "keras_cnn")
    assert info["format"] == "savedmodel"
    assert "serving_default" in info["signatures"]
    image = _one(info["inputs"], "image")
    assert isinstance(image["shape"][0], str) and image["shape"][1:] == [32, 32, 3] and image["dtype"] == "float32"
    assert _one(info["outputs"], "output_0")["shape"][1:] == [10]


def test_inspect_exported_program():
    info, _ = inspect_json(FIXTURES / "pytorch" / "cnn.pt2")
    assert (info["format"], info["flavor"]) == ("pytorch", "exported_program")
    image = _one(info["inputs"], "image")
    assert isinstance(image["shape"][0], str) and image["shape"][1:] == [3, 32, 32]  # batch stays dynamic
    assert image["dtype"] == "float32"
    out = _one(info["outputs"], "output")
    assert out["shape"][1:] == [10] and out["shape"][0] == image["shape"][0]


def test_inspect_torchscript():
    info, _ = inspect_json(FIXTURES / "pytorch" / "cnn.pt")
    assert (info["format"], info["flavor"]) == ("pytorch", "torchscript")
    assert [t["name"] for t in info["inputs"]] == ["image"]
    assert info["inputs"][0]["shape"] is None  # TorchScript carries no shapes


def test_inspect_keras():
    info, _ = inspect_json(FIXTURES / "keras" / "keras_cnn.keras")
    assert info["format"] == "keras"
    image = _one(info["inputs"], "image")
    assert isinstance(image["shape"][0], str) and image["shape"][1:] == [32, 32, 3]
    assert len(info["outputs"]) == 1 and info["outputs"][0]["shape"][1:] == [10]


def test_inspect_keras_is_quiet():
    _, stderr = inspect_json(FIXTURES / "keras" / "keras_cnn.keras")
    assert stderr.strip() == ""


def test_inspect_savedmodel_is_quiet():
    _, stderr = inspect_json(FIXTURES / "savedmodel" / "keras_cnn")
    assert stderr.strip() == ""


def test_inspect_human_output():
    result = run_cli("inspect", FIXTURES / "onnx" / "cnn.onnx")
    assert result.code == 0
    first = result.stdout.splitlines()[0]
    assert "onnx" in first and "cnn.onnx" in first
    assert "image" in result.stdout and "[batch, 3, 32, 32]" in result.stdout and "Conv x2" in result.stdout


def test_inspect_converted_artifact_shows_manifest(artifacts):
    src = str(FIXTURES / "onnx" / "mlp.onnx")
    out = artifacts(src, "tflite")
    info, _ = inspect_json(out)
    assert info["format"] == "tflite"
    assert _one(info["inputs"], "features")["shape"] == ["d0", 20]  # the dynamic batch kept, as -1 in TFLite
    assert info["dynamic_dims"]["inputs"] == [{"tensor": "features", "axis": 0, "name": "d0"}]
    assert info["dynamic_dims"]["proven"] == ["dynamic dim batch proven at sizes 1, 3"]
    m = info["manifest"]
    assert m and m["route"] == "onnx -> tflite"
    assert m["source"]["path"] == src and m["artifact"]["format"] == "tflite"
    assert m["modelport_version"] == modelport.__version__
    assert [s["source"] for s in m["io_map"]["inputs"]] == ["features"]


# ------------------------------------------------------------------ doctor
def test_doctor_json():
    result = run_cli("doctor", "--json", "--no-gpu")
    assert result.code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["python"].startswith("3.12")
    comps = {c["name"]: c for c in data["components"]}
    for name in ("torch", "onnx2tf", "tensorflow", "ai-edge-litert", "onnx", "onnxruntime", "tf2onnx", "litert-torch"):
        c = comps[name]
        assert c["importable"] and c["installed"] and c["pinned"], c
        assert c["installed"].split("+")[0] == c["pinned"].split("+")[0], c
        assert c["ok"] and c["advice"] is None, c
    from importlib.metadata import version

    assert comps["onnx"]["installed"] == version("onnx")
    sandbox = comps["bubblewrap"]  # `make test` installs it (make sandbox): workers are confined here
    assert sandbox["importable"] and sandbox["installed"] and sandbox["advice"] is None, sandbox
