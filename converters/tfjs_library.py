"""Import tensorflowjs 4.22 beside TensorFlow 2.21: only ever imported in the tfjs layer (modelport/layers.py).

tensorflowjs is installed there with --no-deps because its tensorflow-decision-forests requirement
pins TF 2.15 (trap 15). Two of its imports are for conversions modelport never asks for, and are
stubbed with empty modules so the package imports at all:
- `tensorflow_decision_forests`: imported at the top of the SavedModel converter only to register
  the decision-forest ops a TF-DF model would need;
- `jax` (`jax.experimental.jax2tf`): imported by `tensorflowjs.converters.__init__` for JAX
  sources. The stub goes in only after TensorFlow and Keras are imported: Keras looks for a real
  jax at import (`jax.monitoring`) and would break on the stub. A layer with a real jax uses it.
Importing this module does the stubbing and the import (the layer's build probe imports it);
`tensorflowjs` and `saved_model_conversion` are what the edge uses.
"""

from __future__ import annotations

import importlib.util
import sys
import types

import tensorflow  # noqa: F401  (before the jax stub, see above)
import keras  # noqa: F401


def _stub(name: str) -> types.ModuleType:
    module = sys.modules.get(name)
    if module is None:
        module = types.ModuleType(name)
        module.__doc__ = "an empty stand-in installed by modelport.converters.tfjs_library"
        sys.modules[name] = module
    return module


if importlib.util.find_spec("tensorflow_decision_forests") is None:
    _stub("tensorflow_decision_forests")
if importlib.util.find_spec("jax") is None:
    _stub("jax").experimental = _stub("jax.experimental")
    sys.modules["jax.experimental"].jax2tf = _stub("jax.experimental.jax2tf")

import tensorflowjs  # noqa: E402
from tensorflowjs.converters import tf_saved_model_conversion_v2 as saved_model_conversion  # noqa: E402

__all__ = ["tensorflowjs", "saved_model_conversion"]
