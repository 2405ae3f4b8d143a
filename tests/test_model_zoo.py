"""The nine real networks of the ONNX model zoo that the onnx package ships ("light" models).

Each converts to TFLite and to SavedModel, runs in its runtime, and matches ONNX Runtime on the
original model through the manifest's I/O map (their outputs come back NHWC or with moved axes);
and to PyTorch (ExportedProgram and Python package) through modelport's own converter.
Marked slow: `make test` runs them; `make test-fast` skips them.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from conftest import run_cli
from parity_check import assert_parity

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
NETWORKS = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
            "squeezenet", "vgg19", "zfnet512"]


# Known failures of onnx2tf 2.6.9's SavedModel writer (the TFLite artifacts of both networks pass):
# - ShuffleNet: its channel shuffle (a rank-5 reshape) fails with "`input.shape.rank` must be at
#   least 5"; modelport reports it, exit 3.
# - SqueezeNet: the SavedModel is written and runs, but its 1000-class softmax output is wrong
#   (max abs error 0.12 against ONNX Runtime), also when routed through TFLite. Only a parity
#   check shows it: this is what `modelport validate` (next issue) will turn into exit 1.
KNOWN_FAILURES = {
    ("shufflenet", "savedmodel"): "onnx2tf 2.6.9 SavedModel writer: rank-5 channel shuffle (exit 3)",
    ("squeezenet", "savedmodel"): "onnx2tf 2.6.9 SavedModel writer: wrong softmax output (parity)",
}


@pytest.mark.slow
@pytest.mark.parametrize("target", ["tflite", "savedmodel"])
@pytest.mark.parametrize("network", NETWORKS)
def test_light_model_zoo_converts_and_matches(network, target, tmp_path, request):
    if (network, target) in KNOWN_FAILURES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[(network, target)]))
    source = LIGHT / f"light_{network}.onnx"
    assert source.exists(), f"the pinned onnx package should ship {source}"
    out = tmp_path / (network + (".tflite" if target == "tflite" else "_savedmodel"))
    result = run_cli("convert", source, "--to", target, "-o", out, timeout=1200)
    assert result.code == 0, result.stdout + result.stderr
    assert_parity(str(source), out, target, atol=1e-4, rtol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["exported_program", "package"])
@pytest.mark.parametrize("network", NETWORKS)
def test_light_model_zoo_to_pytorch(network, fmt, tmp_path):
    """modelport's own ONNX -> PyTorch converter on real networks, as an ExportedProgram and as the
    Python package, validated on 2 input samples."""
    import json

    source = LIGHT / f"light_{network}.onnx"
    out = tmp_path / (f"{network}.pt2" if fmt == "exported_program" else f"{network}_pytorch")
    result = run_cli("convert", source, "--to", "pytorch", "--pytorch-format", fmt, "-o", out, "--samples", "2",
                     "--json", timeout=1200)
    assert result.code == 0, result.stdout + result.stderr
    validation = json.loads(result.stdout)["validation"]
    assert validation["passed"] and validation["samples"] == 2
    assert all(o["passed"] for c in validation["candidates"] for o in c["outputs"])
