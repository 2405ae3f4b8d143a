"""Models held as code (issue 17 item 2): a `file.py:callable` that returns a Keras model converts
like a PyTorch one (exported to a SavedModel first), and every callable is built seeded, so the
worker that converts it and the one that validates it hold the same random initial weights.

The twins are the classic tutorial examples, in fixtures/twins/: keras_simple.py:simple_model
(Sequential Dense(10) ReLU, Dense(1)) and torch_simple.py:SimpleModel (fc1 = Linear(5, 10), ReLU,
fc2 = Linear(10, 1)), neither seeding itself. The PyTorch twin's conversion, and its later `validate`,
are in tests/test_convert_targets.py (one CLI run serves both checks); the tflite and savedmodel
edges it would add are the MLP's, tested there and in tests/test_conversions.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT, assert_one_line_error, run_cli
from modelport.callables import callable_kind
from modelport.formats import detect
from modelport.types import Format

KERAS_TWIN = f"{FIXTURES}/twins/keras_simple.py:simple_model"
TORCH_TWIN = f"{FIXTURES}/twins/torch_simple.py:SimpleModel"
EVERY_TARGET = "onnx,tflite,savedmodel,pytorch"


def test_keras_code_converts_to_every_target_and_each_artifact_passes(tmp_path):
    res = run_cli("convert", KERAS_TWIN, "--to", EVERY_TARGET, "-o", tmp_path, "--json")
    assert res.code == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["errors"] == {} and report["validation"]["passed"]
    routes = {r["output"].rsplit("/", 1)[1]: r["route"] for r in report["results"]}
    assert routes == {"simple_model.onnx": "keras -> savedmodel -> onnx",
                      "simple_model.tflite": "keras -> savedmodel -> tflite",
                      "simple_model_savedmodel": "keras -> savedmodel",
                      "simple_model.pt2": "keras -> savedmodel -> onnx -> pytorch"}, routes
    verdicts = {c["path"].rsplit("/", 1)[1]: c["passed"] for c in report["validation"]["candidates"]}
    assert verdicts == dict.fromkeys(routes, True), verdicts
    record = json.loads((tmp_path / "simple_model.tflite.modelport.json").read_text())
    assert record["source"]["format"] == "keras" and record["source"]["flavor"] == "callable"
    # Each candidate compared real numbers (not an empty pairing): the one output, by its Keras name.
    for c in record["validation"]["candidates"]:
        assert [(o["output"], o["shape_got"]) for o in c["outputs"]] == [("dense_1", [1, 1])], c
        assert c["outputs"][0]["max_abs"] is not None, c


def test_a_keras_callable_that_gives_no_model_is_one_line_exit_2(tmp_path):
    res = run_cli("convert", f"{FIXTURES}/bad/keras_not_a_model.py:build", "--to", "onnx", "-o", tmp_path / "out.onnx")
    assert_one_line_error(res, 2, "returned list, not a Keras model")
    assert not (tmp_path / "out.onnx").exists()


def test_an_unbuilt_keras_model_says_how_to_give_it_inputs(tmp_path):
    from modelport.callables import build_keras
    from modelport.errors import UsageError

    (tmp_path / "unbuilt.py").write_text("import keras\n\ndef build():\n    return keras.Sequential([keras.layers.Dense(3)])\n")
    with pytest.raises(UsageError, match="the Keras model has no inputs yet.*keras.Input"):
        build_keras(f"{tmp_path}/unbuilt.py:build")


def test_weights_for_a_keras_callable_are_refused_before_any_work(tmp_path):
    res = run_cli("convert", KERAS_TWIN, "--to", "onnx", "-o", tmp_path / "out.onnx",
                  "--weights", FIXTURES / "pytorch" / "cnn_state_dict.pt")
    assert_one_line_error(res, 2, "--weights applies to PyTorch", "model.load_weights")
    assert list(tmp_path.iterdir()) == []


def _write(folder, name, text):
    (folder / name).write_text(text)
    return f"{folder}/{name}"


def test_the_kind_of_a_callable_comes_from_what_its_file_imports(tmp_path):
    keras_file = _write(tmp_path, "k.py", "from tensorflow import keras\ndef build(): ...\n")
    torch_file = _write(tmp_path, "t.py", "import torch.nn as nn\ndef build(): ...\n")
    both = _write(tmp_path, "both.py", "import torch\nimport keras\ndef build(): ...\n")
    _write(tmp_path, "helpers_keras.py", "import keras\n")
    via_sibling = _write(tmp_path, "wrapper.py", "from helpers_keras import *\ndef build(): ...\n")
    neither = _write(tmp_path, "plain.py", "import math\ndef build(): ...\n")
    assert callable_kind(f"{keras_file}:build") == "keras"
    assert callable_kind(f"{torch_file}:build") == "pytorch"
    assert callable_kind(f"{both}:build") == "pytorch"  # ambiguous: the common case (see callables.py)
    assert callable_kind(f"{via_sibling}:build") == "keras"
    assert callable_kind(f"{neither}:build") == "pytorch"
    assert callable_kind("keras.applications:MobileNetV2") == "keras"
    assert detect(f"{keras_file}:build").format == Format.KERAS
    assert detect(f"{keras_file}:build").flavor == "callable"
    assert detect(f"{torch_file}:build").format == Format.PYTORCH


def test_telling_the_kind_imports_neither_torch_nor_tensorflow():
    code = ("import sys\nfrom modelport.formats import detect\n"
            f"print(detect({KERAS_TWIN!r}).format.value, detect({TORCH_TWIN!r}).format.value,\n"
            "      detect('torchvision.models:resnet18').format.value,\n"
            "      sorted(m for m in ('torch', 'tensorflow', 'keras', 'torchvision') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["keras", "pytorch", "pytorch", "[]"], out.stdout


def test_every_build_of_a_callable_holds_the_same_weights():
    import torch

    from modelport.torch_modules import build_module

    torch.manual_seed(1234)  # whatever the generator's state before, the build is the same
    first = build_module(TORCH_TWIN).state_dict()
    torch.rand(5)
    second = build_module(TORCH_TWIN).state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


class _RunsCodeWhenUnpickled:
    """A hyper-parameter a careless Lightning user might save: unpickled unrestricted, it writes a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def _lightning_checkpoint(path, state_dict, hyper_parameter):
    """The layout Lightning 2.x writes (trainer.save_checkpoint), built without Lightning installed."""
    import torch

    torch.save({"epoch": 3, "global_step": 120, "pytorch-lightning_version": "2.4.0", "state_dict": state_dict,
                "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 4}}}},
                "callbacks": {"ModelCheckpoint{'monitor': None}": {"best_model_path": "/ckpt/last.ckpt",
                                                                  "best_model_score": torch.tensor(0.5)}},
                "optimizer_states": [{"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1, 2, 3]}]}],
                "lr_schedulers": [], "hparams_name": "kwargs",
                "hyper_parameters": {"lr": 1e-3, "loss": hyper_parameter}}, path)


def test_a_lightning_checkpoint_gives_its_weights_without_running_its_pickled_objects(tmp_path):
    import numpy as np
    import onnxruntime as ort
    import torch

    from modelport.callables import import_callable

    marker = tmp_path / "ran.txt"
    trained = import_callable(TORCH_TWIN)()
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(torch.linspace(-1, 1, p.numel()).reshape(p.shape))  # not what the seeded build holds
    wrapped = {f"model.{k}": v for k, v in trained.state_dict().items()}  # LightningModule: self.model = Net()
    wrapped["train_acc.total"] = torch.tensor(7)  # a metric's buffer beside the network: left out
    ckpt = tmp_path / "epoch=3-step=120.ckpt"
    _lightning_checkpoint(ckpt, wrapped, _RunsCodeWhenUnpickled(marker))
    with pytest.raises(Exception):
        torch.load(ckpt, weights_only=True)  # what a plain safe load says of it
    res = run_cli("convert", TORCH_TWIN, "--weights", ckpt, "--input-shape", "x:2,5", "--to", "onnx",
                  "-o", tmp_path / "trained.onnx")
    assert res.code == 0, res.stdout + res.stderr
    assert not marker.exists()
    x = np.linspace(-2, 2, 10, dtype=np.float32).reshape(2, 5)
    (got,) = ort.InferenceSession(str(tmp_path / "trained.onnx")).run(None, {"x": x})
    with torch.no_grad():
        np.testing.assert_allclose(got, trained(torch.from_numpy(x)).numpy(), atol=1e-5)
    record = json.loads((tmp_path / "trained.onnx.modelport.json").read_text())
    assert record["validation"]["passed"] and len(record["source"]["weights_sha256"]) == 64
    assert ("--weights: epoch=3-step=120.ckpt, a Lightning checkpoint; key prefix 'model.' dropped, "
            "1 entry outside it left out") in record["steps"][0]["notes"], record["steps"][0]["notes"]


def test_a_checkpoint_whose_state_dict_holds_a_pickled_object_is_one_line_exit_2(tmp_path):
    import torch

    marker = tmp_path / "ran.txt"
    ckpt = tmp_path / "bad.ckpt"
    _lightning_checkpoint(ckpt, {"fc1.weight": _RunsCodeWhenUnpickled(marker), "fc1.bias": torch.zeros(10)}, 1)
    res = run_cli("convert", TORCH_TWIN, "--weights", ckpt, "--input-shape", "x:2,5", "--to", "onnx",
                  "-o", tmp_path / "out.onnx")
    assert_one_line_error(res, 2, "'fc1.weight' is not a tensor but a pickled builtins.exec")
    assert not marker.exists() and not (tmp_path / "out.onnx").exists()


def test_a_wrapper_prefix_is_dropped_only_when_the_keys_then_fit():
    from modelport.checkpoints import fit_keys

    wanted = {"fc1.weight", "fc1.bias"}
    assert fit_keys({"module.fc1.weight": 1, "module.fc1.bias": 2}, wanted) == (
        {"fc1.weight": 1, "fc1.bias": 2}, "module.", 0)
    assert fit_keys({"_orig_mod.net.fc1.weight": 1, "_orig_mod.net.fc1.bias": 2, "_orig_mod.loss.w": 3},
                    wanted) == ({"fc1.weight": 1, "fc1.bias": 2}, "_orig_mod.net.", 1)
    unfit = {"model.fc1.weight": 1, "model.fc2.bias": 2}
    assert fit_keys(unfit, wanted) == (unfit, None, 0)  # strict loading then names what differs
