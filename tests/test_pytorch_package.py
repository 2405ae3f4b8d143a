"""ONNX -> PyTorch as a Python package (`--pytorch-format package`): readable model.py + weights.pt
that run with torch alone, keep dynamic dims, train, and convert back; detection and bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import onnxruntime as ort
import pytest
import torch

from conftest import FIXTURES, assert_one_line_error, run_cli

ONNX = FIXTURES / "onnx"


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """Every fixture converted once: name -> package folder."""
    base = tmp_path_factory.mktemp("packages")
    out = {}
    for name in ("cnn", "mlp", "encoder", "two_io"):
        folder = base / f"{name}_pytorch"
        res = run_cli("convert", ONNX / f"{name}.onnx", "--to", "pytorch", "--pytorch-format", "package",
                      "-o", folder, "--json")
        assert res.code == 0, res.stderr
        report = json.loads(res.stdout)
        assert report["validation"]["passed"] and report["route"] == "onnx -> pytorch"
        out[name] = folder
    return out


def _feed(name: str, batch: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {"cnn": {"image": rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)},
            "mlp": {"features": rng.standard_normal((batch, 20)).astype(np.float32)},
            "encoder": {"input_ids": rng.integers(0, 100, (1, 11)).astype(np.int64)},
            "two_io": {"a": rng.standard_normal((2, 8)).astype(np.float32),
                       "b": rng.standard_normal((2, 4)).astype(np.float32)}}[name]


_STANDALONE = textwrap.dedent("""
    import sys, json, importlib, numpy as np
    sys.modules["modelport"] = None  # any import of modelport now fails
    folder, feed_path = sys.argv[1], sys.argv[2]
    sys.path.insert(0, str(__import__("pathlib").Path(folder).parent))
    package = importlib.import_module(__import__("pathlib").Path(folder).name)
    import torch
    model = package.load()
    feed = np.load(feed_path)
    with torch.no_grad():
        out = model(*[torch.from_numpy(feed[n]) for n in package.INPUTS])
    outs = out if isinstance(out, tuple) else (out,)
    np.savez(feed_path + ".out.npz", *[o.numpy() for o in outs])
    print(json.dumps({"inputs": list(package.INPUTS), "outputs": package.OUTPUTS,
                      "modules": sorted(m for m, v in sys.modules.items() if m.startswith("modelport") and v is not None)}))
""")


@pytest.mark.parametrize("name", ["cnn", "mlp", "encoder", "two_io"])
def test_package_runs_with_torch_alone_and_matches_onnx_runtime(name, packages, tmp_path):
    folder = packages[name]
    source = (folder / "model.py").read_text()
    assert "modelport" not in source.replace("converted by modelport", "").replace("Converted by modelport", "")
    assert "class Model(torch.nn.Module)" in source and "def load(" in source
    feed = _feed(name)
    np.savez(tmp_path / "feed.npz", **feed)
    proc = subprocess.run([sys.executable, "-c", _STANDALONE, str(folder), str(tmp_path / "feed.npz")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["modules"] == [] and info["inputs"] == list(feed)
    got = np.load(tmp_path / "feed.npz.out.npz")
    session = ort.InferenceSession(str(ONNX / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    want = session.run(None, feed)
    assert info["outputs"] == [o.name for o in session.get_outputs()]
    for i, w in enumerate(want):
        np.testing.assert_allclose(got[f"arr_{i}"], w, atol=1e-5, rtol=1e-4)
    assert not (folder / "__pycache__").exists()  # modelport's own loading left no bytecode beside it


def test_model_py_is_readable_code(packages):
    source = (packages["cnn"] / "model.py").read_text()
    forward = source[source.index("    def forward("):source.index("\ndef load(")]
    # Weights are read as self.<name>, ONNX settings are named, and fx's lifetime hints are gone.
    assert "self.features_0_weight" in forward and "strides=[1, 1]" in forward and "= None" not in forward
    assert "onnx_conv(" in forward and "def onnx_conv(" in source
    compile(source, "model.py", "exec")
    init = (packages["cnn"] / "__init__.py").read_text()
    assert "from .model import" in init
    assert (packages["cnn"] / "README.md").read_text().startswith("# PyTorch code for cnn.onnx")


def test_model_py_works_as_a_lone_file(packages, tmp_path):
    """model.py copied anywhere with weights.pt beside it: imported as a plain module."""
    for f in ("model.py", "weights.pt"):
        shutil.copy(packages["mlp"] / f, tmp_path / f)
    code = ("import model, torch; m = model.load(); "
            "print(tuple(m(torch.zeros(3, 20)).shape))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(3, 5)"  # mlp: 20 features in, 5 out


def _load(folder):
    from modelport.torch_modules import load_package

    return load_package(str(folder))


def test_dynamic_dims_stay_dynamic(packages):
    model, inputs, _ = _load(packages["cnn"])
    assert inputs["image"] == (["batch", 3, 32, 32], "float32")
    session = ort.InferenceSession(str(ONNX / "cnn.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        feed = _feed("cnn", batch)
        with torch.no_grad():
            got = model(torch.from_numpy(feed["image"])).numpy()
        np.testing.assert_allclose(got, session.run(None, feed)[0], atol=1e-5, rtol=1e-4)


def test_package_trains_and_its_state_dict_round_trips(packages, tmp_path):
    model, _, _ = _load(packages["mlp"])
    params = dict(model.named_parameters())
    assert params and all(p.requires_grad for p in params.values())
    x = torch.randn(16, 20)
    target = torch.randn(16, 5)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = (model(x) - target).square().mean()
        loss.backward()
        assert all(p.grad is not None for p in params.values())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    torch.save(model.state_dict(), tmp_path / "finetuned.pt")
    again, _, _ = _load(packages["mlp"])
    again.load_state_dict(torch.load(tmp_path / "finetuned.pt", weights_only=True))
    torch.testing.assert_close(again.eval()(x), model.eval()(x))


def test_finetuned_package_converts_back_to_onnx(packages, tmp_path):
    """package + --weights finetuned.pt -> onnx: the ONNX carries the new weights and passes parity."""
    model, _, _ = _load(packages["cnn"])
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)
    torch.save(model.state_dict(), tmp_path / "finetuned.pt")
    out = tmp_path / "cnn_back.onnx"
    res = run_cli("convert", packages["cnn"], "--to", "onnx", "-o", out, "--weights", tmp_path / "finetuned.pt",
                  "--input-shape", "image:batch=2,3,32,32", "--json")
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["validation"]["passed"]
    feed = _feed("cnn", 3)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    with torch.no_grad():
        want = model.eval()(torch.from_numpy(feed["image"])).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
    original = ort.InferenceSession(str(ONNX / "cnn.onnx"), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    assert np.abs(got - original).max() > 1e-3  # the fine-tuned weights, not the originals


def test_validate_and_inspect_take_a_package(packages):
    res = run_cli("validate", ONNX / "encoder.onnx", packages["encoder"], "--input-shape", "input_ids:1,20",
                  "--value-range", "input_ids:0,100", "--samples", "2")
    assert res.code == 0, res.stdout + res.stderr
    res = run_cli("inspect", packages["cnn"])
    assert res.code == 0 and "pytorch (package)" in res.stdout and "batch" in res.stdout


def test_force_replaces_a_package_but_never_another_folder(packages, tmp_path):
    dest = tmp_path / "mlp_pytorch"
    shutil.copytree(packages["mlp"], dest)
    res = run_cli("convert", ONNX / "mlp.onnx", "--to", "pytorch", "--pytorch-format", "package", "-o", dest)
    assert_one_line_error(res, 2, "already exists")
    res = run_cli("convert", ONNX / "mlp.onnx", "--to", "pytorch", "--pytorch-format", "package", "-o", dest,
                  "--force", "--no-validate")
    assert res.code == 0, res.stderr
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    res = run_cli("convert", ONNX / "mlp.onnx", "--to", "pytorch", "--pytorch-format", "package", "-o", other, "--force")
    assert_one_line_error(res, 2, "nor a PyTorch package; refusing to overwrite it")
    assert (other / "keep.txt").read_text() == "mine"


def test_bad_packages_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_cli("inspect", empty), 2, "neither a TensorFlow SavedModel", "PyTorch package")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.py").write_text("def load():\n    raise RuntimeError('no')\n")
    (broken / "weights.pt").write_bytes(b"")
    res = run_cli("validate", ONNX / "mlp.onnx", broken)
    assert_one_line_error(res, 2, "INPUTS")
    (broken / "model.py").write_text("INPUTS = {'features': (['batch', 20], 'float32')}\nOUTPUTS = ['y']\n"
                                     "def load():\n    raise RuntimeError('weights do not fit')\n")
    res = run_cli("convert", broken, "--to", "onnx", "-o", tmp_path / "x.onnx")
    assert_one_line_error(res, 2, "weights do not fit")
    assert not (tmp_path / "x.onnx").exists()


def test_inlined_constants_that_name_helpers_follow_their_definitions(tmp_path, monkeypatch):
    """A module-level dict of helper functions (activations by name) is written after the functions
    it names, so the generated source imports; renamed clashes stay consistent."""
    import os as _os

    from modelport.converters.onnx_torch.inline import Inliner

    pkg = tmp_path / "modelport_fake_ops"
    pkg.mkdir()
    (pkg / "acts.py").write_text(textwrap.dedent('''
        import torch
        def _relu(x):
            return torch.relu(x)
        def onnx_act(x):  # clashes with the name the caller asks for below
            return x
        ACTS = {"Relu": _relu, "Same": onnx_act}
        def act(x, name):
            return ACTS[name](x) + onnx_act(x) * 0
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    module = importlib.import_module("modelport_fake_ops.acts")
    for fn in (module._relu, module.onnx_act, module.act):
        monkeypatch.setattr(fn, "__module__", "modelport.fake_ops")
    inliner = Inliner(set(), {"torch": torch, "os": _os})
    name = inliner.name(module.act, "onnx_act")
    source = inliner.preamble()
    assert source.index("def _relu(") < source.index("ACTS = ") and name == "onnx_act"
    namespace: dict = {}
    exec(compile(source, "model.py", "exec"), namespace)
    torch.testing.assert_close(namespace[name](torch.tensor([-1.0, 2.0]), "Relu"), torch.tensor([0.0, 2.0]))
