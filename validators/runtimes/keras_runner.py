"""Keras 3 on the TensorFlow backend, for `.keras` sources (loaded with safe_mode: no lambda layers)
and `file.py:callable` sources that build a Keras model (built seeded, modelport/callables.py)."""

from __future__ import annotations

import numpy as np

from modelport.errors import UsageError
from modelport.libraries import require
from modelport.types import TensorSpec
from modelport.validators.runtimes.base import Runner
from modelport.validators.runtimes.savedmodel_runner import set_tf_threads


class KerasRunner(Runner):
    """A Keras 3 `.keras` file or Keras callable, run by Keras on the TensorFlow backend (a conversion source)."""

    runtime = "keras"

    def _load(self):
        import os

        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        self._model64 = None  # the float64 rebuild, made on first use; False when it cannot be made
        tf = require("tensorflow", "running TensorFlow")
        set_tf_threads(tf, self.threads)
        keras = require("keras", "running Keras")
        gpus = tf.config.list_physical_devices("GPU") if self.device != "cpu" else []
        self.device_used = self._pick_device(bool(gpus), "TensorFlow sees no GPU")
        from modelport.formats import is_callable_reference

        if is_callable_reference(self.path):
            from modelport.callables import build_keras

            self.model = build_keras(self.path)
            return
        try:
            self.model = keras.saving.load_model(self.path, compile=False, safe_mode=True)
        except Exception as e:
            raise UsageError(f"{self.path}: not a loadable Keras model ({str(e).splitlines()[0][:200]})") from None

    def input_specs(self):
        return [TensorSpec(t.name, [d if d is not None else f"d{i}" for i, d in enumerate(t.shape)],
                           np.dtype(t.dtype).name) for t in self.model.inputs]

    def output_specs(self):
        return []

    def run(self, feed):
        return self._call(self.model, feed)

    def _call(self, model, feed, widen: bool = False):
        from modelport.specs import keras_output_names

        args = [feed[t.name] for t in self.model.inputs]
        if widen:
            args = [a.astype(np.float64) if a.dtype == np.float32 else a for a in args]
        out = model(args if len(args) > 1 else args[0], training=False)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        return {n: np.asarray(o) for n, o in zip(keras_output_names(self.model), outs)}

    def run_float64(self, feed):
        """The model rebuilt from its config with every float32 dtype made float64, its weights
        widened, on float64 inputs (what validation.py's float64 re-judgement compares with, as
        nn.Module.double() gives it for PyTorch). None where the rebuild or the run fails (a layer
        that casts to float32 itself, a custom layer the config cannot rebuild)."""
        if self._model64 is False:
            return None
        if self._model64 is None:
            try:
                self._model64 = float64_copy(self.model)
            except Exception:
                self._model64 = False
                return None
        try:
            return self._call(self._model64, feed, widen=True)
        except Exception:
            self._model64 = False
            return None


def float64_copy(model):
    """`model` rebuilt from its config with float64 dtypes, its float32 weights widened (raises
    where the config cannot be rebuilt). Shared with the corpus's conditioning measure."""
    model64 = type(model).from_config(_as_float64(model.get_config()))
    model64.set_weights([w.astype(np.float64) if w.dtype == np.float32 else w for w in model.get_weights()])
    return model64


def _as_float64(config):
    """A Keras config with every "float32" dtype (layer dtypes and dtype policies) made "float64"."""
    if isinstance(config, dict):
        return {k: "float64" if v == "float32" else _as_float64(v) for k, v in config.items()}
    if isinstance(config, list):
        return [_as_float64(v) for v in config]
    return config
