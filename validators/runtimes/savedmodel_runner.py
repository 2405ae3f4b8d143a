"""TensorFlow running a SavedModel's signature (default `serving_default`), on the GPU for --device cuda."""

from __future__ import annotations

from modelport.errors import UsageError
from modelport.io_ops import graph_io_ops, refuse
from modelport.libraries import require
from modelport.specs import from_tf_spec
from modelport.validators.runtimes.base import Runner


class SavedModelRunner(Runner):
    runtime = "tensorflow"

    def __init__(self, path: str, device: str = "cpu", threads: int | None = None, signature: str = "serving_default"):
        super().__init__(path, device, threads)
        self.signature = signature

    def _load(self):
        tf = require("tensorflow", "running TensorFlow")
        self.tf = tf
        set_tf_threads(tf, self.threads)
        gpus = tf.config.list_physical_devices("GPU") if self.device != "cpu" else []
        self.device_used = self._pick_device(bool(gpus), "TensorFlow sees no GPU")
        self.tf_device = "/GPU:0" if self.device_used == "cuda" else "/CPU:0"
        with tf.device(self.tf_device):
            self.obj = tf.saved_model.load(self.path)
        if self.signature not in self.obj.signatures:
            raise UsageError(f"{self.path}: no signature {self.signature!r} (has: {', '.join(self.obj.signatures)})")
        self.fn = self.obj.signatures[self.signature]
        refuse(self.path, graph_io_ops(self.fn.graph.as_graph_def()))  # before it runs (modelport/io_ops.py)

    def input_specs(self):
        return [from_tf_spec(k, v) for k, v in sorted(self.fn.structured_input_signature[1].items())]

    def output_specs(self):
        return [from_tf_spec(k, v) for k, v in sorted(self.fn.structured_outputs.items())]

    def run(self, feed):
        with self.tf.device(self.tf_device):
            out = self.fn(**{k: self.tf.constant(v) for k, v in feed.items()})
        return {k: v.numpy() for k, v in out.items()}

    def prepare(self, feed):
        tf, fn = self.tf, self.fn
        with tf.device(self.tf_device):
            tensors = {k: tf.constant(v) for k, v in feed.items()}
        if self.device_used == "cpu":
            return lambda: fn(**tensors)  # eager CPU execution returns when the outputs are computed

        def call():
            out = fn(**tensors)
            tf.test.experimental.sync_devices()  # GPU kernels run asynchronously
            return out

        return call


def set_tf_threads(tf, threads: int | None) -> None:
    """Intra-op threads for TensorFlow; possible only before its runtime starts (first op)."""
    if not threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised in this process (validate runs runners side by side)
        pass
