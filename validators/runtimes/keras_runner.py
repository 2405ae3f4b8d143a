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
        from modelport.specs import keras_output_names

        args = [feed[t.name] for t in self.model.inputs]
        out = self.model(args if len(args) > 1 else args[0], training=False)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        return {n: np.asarray(o) for n, o in zip(keras_output_names(self.model), outs)}
