"""A slice of the fuzz campaign (benchmarks/fuzz.py; the benchmark runs 2000 cases per format):
damaged files of every format, seeded, through `inspect_model` and a sample through the CLI.
Every case must end in a verdict (still a model, or a ModelportError that the CLI prints as one
line with exit 2/3/4): never another exception, a crash of the modelport process, or a hang."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT

FUZZ = str(ROOT / "benchmarks" / "fuzz.py")


def _fuzz(tmp_path, *args: str) -> dict:
    out = tmp_path / "fuzz.json"
    proc = subprocess.run([sys.executable, FUZZ, *args, "--json", str(out)], capture_output=True, text=True,
                          timeout=1200, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_damaged_onnx_and_tflite_files_end_in_verdicts(tmp_path):
    report = _fuzz(tmp_path, "--cases", "120", "--formats", "onnx,tflite", "--cli", "2")
    for fmt in ("onnx", "tflite"):
        s = report["summary"][fmt]
        assert s["cases"] == 120 and s["failures"] == 0, s
        assert s["ok"] > 0 and s["refused"] > 0, s  # the mutations reach both outcomes: the check can fail
    assert all(c["cli"] == "fine" for c in report["cli"]) and len(report["cli"]) == 4, report["cli"]


@pytest.mark.slow
def test_damaged_archives_and_savedmodels_end_in_verdicts(tmp_path):
    report = _fuzz(tmp_path, "--cases", "10", "--formats", "exported_program,torchscript,keras,savedmodel")
    assert all(s["failures"] == 0 and s["cases"] == 10 for s in report["summary"].values()), report["summary"]


def test_damaged_tfjs_models_end_in_verdicts(tmp_path):
    """model.json or the shard of fixtures/tfjs/keras_cnn damaged (reading a TF.js folder is cheap)."""
    report = _fuzz(tmp_path, "--cases", "120", "--formats", "tfjs")
    s = report["summary"]["tfjs"]
    assert s["cases"] == 120 and s["failures"] == 0 and s["ok"] > 0 and s["refused"] > 0, s


@pytest.mark.parametrize("index", [239, 748, 1073])
def test_zip_damage_the_campaign_found_ends_in_one_line(tmp_path, index):
    """Cases of the 2000-case TorchScript campaign that escaped as zlib.error (a corrupt deflate
    stream, #239), NotImplementedError ("zip file version 25.5", #748) and UnicodeDecodeError (a
    member name flagged UTF-8 that is not, #1073): refused before any worker now."""
    report = _fuzz(tmp_path, "--formats", "torchscript", "--start", str(index), "--cases", "1")
    s = report["summary"]["torchscript"]
    assert s["cases"] == 1 and s["failures"] == 0 and s["refused"] == 1, s
