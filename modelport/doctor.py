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
TFJS_PINS_FILE = os.path.join(os.path.dirname(__file__), "constraints-tfjs.txt")

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
    layer_probes = {name: _start_layer_probe(name) for name in LAYER_CHECKS}
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
    checks += [layer_check(name, probe) for name, probe in layer_probes.items()]
    checks += node_checks()
    checks += serving_checks()
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


# A layer's distribution, the module its build imports, the pins file, its role: each layer's own
# interpreter is asked (modelport/layers.py).
LAYER_CHECKS = {
    "litert": ("litert-torch", "litert_torch", LITERT_PINS_FILE,
               "pytorch->tflite and pytorch->savedmodel (StableHLO), the alternative routes (its own layer over the stack)"),
    "tfjs": ("tensorflowjs", "modelport.converters.tfjs_library", TFJS_PINS_FILE,
             "savedmodel->tfjs (tensorflowjs_converter; its own layer over the stack, trap 15)"),
}
_LAYER_PROBE_SECONDS = 300


def _start_layer_probe(name: str = "litert"):
    """The layer's interpreter asked, in a process of its own, which version of its converter it has
    and whether it imports; None when the layer is not built (layer_check says so)."""
    import subprocess

    from modelport.layers import layer_python

    python = layer_python(name)
    if not os.access(python, os.X_OK):
        return None
    dist, module, _, _ = LAYER_CHECKS[name]
    code = f"import importlib.metadata as m; print(m.version({dist!r})); import {module}"
    return subprocess.Popen([python, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"})


def layer_check(name: str = "litert", probe=None) -> Check:
    """A layer over the stack (modelport/layers.py): ask its own interpreter (the process
    `_start_layer_probe` started, or one started now) which version it has and whether it imports."""
    import subprocess

    from modelport.layers import LAYERS, layer_python

    layer = LAYERS[name]
    dist, _, pins_file, role = LAYER_CHECKS[name]
    pin = pins(pins_file).get(dist)
    probe = probe or _start_layer_probe(name)
    if probe is None:
        return Check(dist, role, None, pin, False, "-",
                     f"layer not built ({layer_python(name)} is missing): run `make venv`, or set {layer.env_var}")
    try:
        stdout, stderr = probe.communicate(timeout=_LAYER_PROBE_SECONDS)
    except subprocess.TimeoutExpired:
        probe.kill()
        probe.wait()
        return Check(dist, role, None, pin, False, "-", f"the layer's interpreter did not answer in {_LAYER_PROBE_SECONDS} s")
    lines = stdout.split()
    installed = lines[0] if lines else None
    if probe.returncode != 0:
        last = (stderr.strip().splitlines() or ["no output"])[-1][:160]
        return Check(dist, role, installed, pin, False, "-", f"the layer fails to import it ({last}): "
                                                             "rebuild it with `make venv`")
    advice = None if _base(installed) == _base(pin) else f"version {installed} differs from the pinned {pin}: `make venv`"
    return Check(dist, role, installed, pin, True, "-", advice)


def node_checks() -> list[Check]:
    """Node.js and the TF.js runner's npm packages (modelport/node_runtime.py)."""
    import json

    from modelport.errors import UnavailableError
    from modelport.node_runtime import MIN_NODE_MAJOR, node_binary, node_modules_dir, package_versions, version_of

    role = f"runs TF.js models (validate, bench; Node {MIN_NODE_MAJOR} or newer)"
    try:
        node = node_binary()
        checks = [Check("node", role, (version_of(node) or "").lstrip("v"), None, True, "-", None)]
    except UnavailableError as e:
        checks = [Check("node", role, None, None, False, "-", e.message)]
    lock = os.path.join(os.path.dirname(__file__), "js", "package-lock.json")
    with open(lock, encoding="utf-8") as f:
        locked = {k.split("node_modules/", 1)[1]: v.get("version") for k, v in json.load(f)["packages"].items() if k}
    for name, version in package_versions().items():
        advice = None if version else f"not installed in {node_modules_dir()}: run `make node`"
        if version and version != locked.get(name):
            advice = f"version {version} differs from the locked {locked.get(name)}: run `make node`"
        checks.append(Check(name, "the TF.js runner in Node (npm, pinned by modelport/js/package-lock.json)", version,
                            locked.get(name), version is not None, "CPU (cpu and wasm backends)", advice))
    return checks


def serving_checks() -> list[Check]:
    """Java, the TorchServe tools and tensorflow-serving-api (`modelport package`)."""
    from modelport.serving.doctor import serving_doctor_rows

    checks = []
    for name, version, note in serving_doctor_rows():
        ok = version is not None or name == "tf serving server"  # that row says none exists here: not a fault
        checks.append(Check(name, note, version, None, ok, "-", None if ok else note))
    return checks
