"""`modelport doctor`: which converters and runtimes import, their versions against the pinned
stack (modelport/constraints.txt), whether each runtime sees a GPU, and what to do otherwise."""

from __future__ import annotations

import importlib.metadata as md
import os
import re
from dataclasses import dataclass

from modelport.libraries import import_quietly

PINS_FILE = os.path.join(os.path.dirname(__file__), "constraints.txt")
LITERT_PINS_FILE = os.path.join(os.path.dirname(__file__), "constraints-litert.txt")

# (distribution, import name, role)
COMPONENTS = [
    ("torch", "torch", "PyTorch runtime and pytorch->onnx exporter"),
    ("onnxscript", "onnxscript", "torch's dynamo ONNX exporter"),
    ("onnx", "onnx", "ONNX format"),
    ("onnxruntime", "onnxruntime", "ONNX runtime"),
    ("onnxsim", "onnxsim", "fixes dynamic dims before onnx2tf"),
    ("onnx2tf", "onnx2tf", "onnx->tflite/savedmodel, tflite->savedmodel"),
    ("tensorflow", "tensorflow", "SavedModel runtime, savedmodel->tflite"),
    ("keras", "keras", "Keras sources"),
    ("tf2onnx", "tf2onnx", "savedmodel/tflite->onnx"),
    ("ai-edge-litert", "ai_edge_litert.interpreter", "TFLite (LiteRT) runtime"),
    ("matplotlib", "matplotlib", "bench --plot"),
]


@dataclass
class Check:
    name: str
    role: str
    installed: str | None
    pinned: str | None
    importable: bool
    gpu: str
    advice: str | None

    @property
    def ok(self) -> bool:
        return self.importable and (self.pinned is None or _base(self.installed) == _base(self.pinned))


def pins(path: str = PINS_FILE) -> dict[str, str]:
    out = {}
    if os.path.isfile(path):
        with open(path) as f:
            for line in f:
                m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", line.strip())
                if m:
                    out[_norm(m.group(1))] = m.group(2)
    return out


def _base(version: str | None) -> str | None:
    """'2.14.1+cu130' -> '2.14.1': a local build tag is not a different release."""
    return version.split("+")[0] if version else None


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _gpu(import_name: str, module) -> str:
    try:
        if import_name == "torch":
            return f"cuda: {module.cuda.get_device_name(0)}" if module.cuda.is_available() else "no GPU visible"
        if import_name == "onnxruntime":
            providers = module.get_available_providers()
            return "CUDAExecutionProvider available" if "CUDAExecutionProvider" in providers else "CPU only (" + ", ".join(providers) + ")"
        if import_name == "tensorflow":
            gpus = module.config.list_physical_devices("GPU")
            return f"{len(gpus)} GPU(s)" if gpus else "no GPU visible"
        if import_name.startswith("ai_edge_litert"):
            return "CPU (XNNPACK); no GPU delegate in the Python wheel"
    except Exception as e:  # a broken CUDA install must not break doctor
        return f"GPU check failed: {type(e).__name__}"
    return "-"


def run_checks(*, gpu: bool = True) -> list[Check]:
    pinned = pins()
    checks = []
    # the layer's own interpreter imports torch and TensorFlow again (about 10 s): it runs while this
    # process imports the stack, not after it
    layer_probe = _start_layer_probe()
    for dist, import_name, role in COMPONENTS:
        try:
            installed = md.version(dist)
        except md.PackageNotFoundError:
            installed = None
        pin = pinned.get(_norm(dist))
        importable, gpu_text, advice = False, "-", None
        if installed is None:
            advice = f"not installed: run `make venv` (or pip install -c modelport/constraints.txt {dist}=={pin or ''})".replace("==)", ")")
        else:
            try:
                module = import_quietly(import_name)
                importable = True
                gpu_text = _gpu(import_name, module) if gpu else "-"
            except Exception as e:
                advice = f"installed but fails to import ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
            if importable and pin and _base(installed) != _base(pin):
                advice = f"version {installed} differs from the pinned {pin}: `pip install -c modelport/constraints.txt {dist}=={pin}`"
        checks.append(Check(dist, role, installed, pin, importable, gpu_text, advice))
    checks.append(litert_layer_check(layer_probe))
    checks.append(sandbox_check())
    return checks


def sandbox_check() -> Check:
    """Whether workers can be confined here (modelport/workers/sandbox.py), and in which mode."""
    import shutil
    import subprocess

    from modelport.workers import sandbox

    role = f"confines every process that loads or runs a model (mode: {os.environ.get(sandbox.ENV_MODE, 'auto')})"
    bwrap = shutil.which("bwrap")
    version = None
    if bwrap:
        try:
            out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=30).stdout.split()
            version = out[-1] if out else None
        except (OSError, subprocess.TimeoutExpired):
            pass
    why = sandbox.probe()
    advice = None if why is None else f"{why}: models run unconfined (--require-sandbox refuses instead)"
    return Check("bubblewrap", role, version, None, why is None, "-", advice)


_LAYER_PROBE = "import importlib.metadata as m; print(m.version('litert-torch')); import litert_torch"
_LAYER_PROBE_SECONDS = 300


def _start_layer_probe():
    """The litert layer's interpreter asked, in a process of its own, which litert-torch it has and
    whether it imports; None when the layer is not built (litert_layer_check says so)."""
    import subprocess

    from modelport.layers import layer_python

    python = layer_python("litert")
    if not os.access(python, os.X_OK):
        return None
    return subprocess.Popen([python, "-c", _LAYER_PROBE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"})


def litert_layer_check(probe=None) -> Check:
    """litert-torch lives in a layer over the stack (modelport/layers.py): ask its own interpreter
    (the process `_start_layer_probe` started, or one started now) which version it has and whether
    it imports."""
    import subprocess

    from modelport.layers import LAYERS, layer_python

    layer = LAYERS["litert"]
    pin = pins(LITERT_PINS_FILE).get("litert-torch")
    role = "pytorch->tflite and pytorch->savedmodel (StableHLO), the alternative routes (its own layer over the stack)"
    probe = probe or _start_layer_probe()
    if probe is None:
        return Check("litert-torch", role, None, pin, False, "-",
                     f"layer not built ({layer_python('litert')} is missing): run `make venv`, or set {layer.env_var}")
    try:
        stdout, stderr = probe.communicate(timeout=_LAYER_PROBE_SECONDS)
    except subprocess.TimeoutExpired:
        probe.kill()
        probe.wait()
        return Check("litert-torch", role, None, pin, False, "-",
                     f"the layer's interpreter did not answer in {_LAYER_PROBE_SECONDS} s")
    lines = stdout.split()
    installed = lines[0] if lines else None
    if probe.returncode != 0:
        last = (stderr.strip().splitlines() or ["no output"])[-1][:160]
        return Check("litert-torch", role, installed, pin, False, "-", f"the layer fails to import it ({last}): "
                                                                        "rebuild it with `make venv`")
    advice = None if _base(installed) == _base(pin) else f"version {installed} differs from the pinned {pin}: `make venv`"
    return Check("litert-torch", role, installed, pin, True, "-", advice)
