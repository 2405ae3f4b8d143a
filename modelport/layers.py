"""Environments layered on the pinned stack, for a converter whose pins conflict with it.

litert-torch 0.10 needs ai-edge-litert 2.3.0 and onnx2tf 2.6.9 pins ai-edge-litert 2.1.2 exactly,
so pip cannot install both into one environment (measured: ResolutionImpossible). A layer is a
venv holding only the conflicting converter's own packages (modelport/constraints-litert.txt,
installed with --no-deps), whose site-packages come first and which sees the pinned stack's behind
them (a .pth file, scripts/build-layer.sh): torch, numpy and modelport itself are the stack's, and
a worker started with the layer's Python is the same modelport with its own ai-edge-litert. Only
the edge that needs it runs there (converters/planner.py `Edge.layer`); its artifact is validated
in the pinned stack, like every other.

`make venv` builds the litert layer at .venv/layers/litert (about 0.9 GB) and the tfjs layer at
.venv/layers/tfjs (tensorflowjs, a few MB); MODELPORT_LITERT_PYTHON / MODELPORT_TFJS_PYTHON name
other interpreters. Without it the routes that need it are reported unavailable (exit 4
when nothing else converts) and `modelport doctor` says so.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from modelport.errors import UnavailableError


@dataclass(frozen=True)
class Layer:
    name: str
    env_var: str  # names the layer's interpreter explicitly
    provides: str  # what the layer holds, for messages
    probe: str  # a module that imports only when the layer is complete


LAYERS = {"litert": Layer("litert", "MODELPORT_LITERT_PYTHON", "litert-torch 0.10 with ai-edge-litert 2.3.0",
                          "litert_torch"),
          # tensorflowjs 4.22 requires tensorflow-decision-forests, which pins TF 2.15 (pip:
          # ResolutionImpossible beside TF 2.21, trap 15): the layer holds tensorflowjs installed
          # --no-deps, and the edge stubs the modules it imports but never uses for a SavedModel
          # (converters/edges/savedmodel_to_tfjs.py).
          "tfjs": Layer("tfjs", "MODELPORT_TFJS_PYTHON", "tensorflowjs 4.22.0", "modelport.converters.tfjs_library")}


def layer_python(name: str) -> str:
    """The layer's interpreter: $ENV_VAR, else <this venv>/layers/NAME/bin/python."""
    layer = LAYERS[name]
    return os.environ.get(layer.env_var) or os.path.join(sys.prefix, "layers", name, "bin", "python")


def python_for(name: str | None) -> str:
    """The interpreter a worker of this layer runs with (this one for none), or UnavailableError."""
    if name is None:
        return sys.executable
    path = layer_python(name)
    if not os.access(path, os.X_OK):
        layer = LAYERS[name]
        raise UnavailableError(f"this route needs the {name} layer ({layer.provides}), which is not installed "
                               f"({path} is missing): `make venv` builds it, or set {layer.env_var}")
    return path


def stack_prefix() -> str:
    """The pinned stack's venv, from it or from one of its layers (VENV/layers/NAME): where the
    project's other local installs live (the npm packages of the TF.js runner, modelport/node_runtime.py)."""
    parent = os.path.dirname(sys.prefix)
    return os.path.dirname(parent) if os.path.basename(parent) == "layers" else sys.prefix
