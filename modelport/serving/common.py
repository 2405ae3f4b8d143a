"""What both serving targets share: their options, model names, the one-line refusals, manifests."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from modelport.errors import UsageError
from modelport.serving.reference import InputOptions

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass
class PackageOptions:
    output: str | None = None  # torchserve: the model store folder; tf-serving: the package folder
    name: str | None = None  # the served model's name (one MODEL only); default: the file's stem
    force: bool = False
    serve_check: bool = False  # torchserve: start TorchServe and ask it (tf-serving is always checked)
    port: int | None = None  # torchserve --serve-check: the inference port (default: a free one)
    version: str = "1.0"  # torchserve: the archive's version
    base_path: str = "/models"  # tf-serving: where models.config says the model folders are
    ready_timeout: float = 120.0
    inputs: InputOptions = field(default_factory=InputOptions)


def model_names(models: list[str], name: str | None) -> list[str]:
    if not models:
        raise UsageError("nothing to package: give at least one MODEL")
    if name is not None and len(models) > 1:
        raise UsageError("--name names one model; with several MODELs each is named after its file")
    names = [name] if name is not None else [_stem(m) for m in models]
    for n, m in zip(names, models):
        if not NAME_RE.match(n):
            raise UsageError(f"{m}: {n!r} is not a usable model name (letters, digits, '_', '-', '.'); pass --name")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UsageError(f"two MODELs would both be named {dup[0]!r}; package them separately with --name")
    return names


def _stem(path: str) -> str:
    base = os.path.basename(os.path.normpath(path))
    for suffix in (".pt2", ".pt", ".pth"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", base) or "model"


def check_port(port: int | None) -> None:
    if port is None:
        return
    from modelport.serving.torchserve_server import port_in_use

    if not 1 <= port <= 65535:
        raise UsageError(f"--port {port}: not a TCP port (1-65535)")
    if port_in_use(port):
        raise UsageError(f"--port {port}: the port is in use on 127.0.0.1; pick another or leave --port out "
                         "for a free one")


def identity_io_map(golden) -> dict:
    from modelport.types import IOMap, TensorMapping

    return IOMap([TensorMapping(s["name"], s["name"]) for s in golden.input_specs],
                 [TensorMapping(n, n) for n in golden.output_names]).to_dict()


_KINDS = {"onnx": "an ONNX model", "tflite": "a TFLite model", "savedmodel": "a TensorFlow SavedModel",
          "keras": "a Keras model", "pytorch": "a PyTorch model"}
_FLAVORS = {"torchscript": "a TorchScript file", "exported_program": "an ExportedProgram file",
            "callable": "a Python callable (file.py:name)", "package": "a PyTorch package folder",
            "hf_folder": "a Hugging Face model folder"}


def detect_for(model: str, takes: str):
    """The model's format (modelport/formats.py), or its usual one-line refusal followed by what the
    target takes."""
    from modelport.formats import detect

    try:
        return detect(model, thorough=False)
    except UsageError as e:
        raise UsageError(f"{e.message}; {takes}") from None


def describe(detected) -> str:
    """'this is an ONNX model', for the one-line refusals."""
    what = _FLAVORS.get(detected.flavor or "") or _KINDS.get(detected.format.value, f"a {detected.format.value} model")
    return f"this is {what}"
