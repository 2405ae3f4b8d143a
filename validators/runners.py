"""One runner per runtime behind one interface, in the spirit of Polygraphy's runners.

`load()` builds the session/interpreter (timed separately), `input_specs()` / `output_specs()`
describe it, `run(feed)` maps names to numpy arrays, `close()` frees it. Each runner imports its
runtime only in `load()`, so describing a runner is cheap and building it can happen late (in a
subprocess). `device` is "cpu", "cuda" or "auto": a runtime that cannot use CUDA raises
UnavailableError for "cuda" and falls back to the CPU for "auto", saying so in `device_note`.
`threads` (None: the runtime's own default) sets the intra-op thread count, so a benchmark can
give every runtime the same number. `prepare(feed)` returns the cheapest call that runs one
inference with the inputs already in place: what `modelport bench` times.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from modelport.errors import UnavailableError, UsageError
from modelport.quiet import require
from modelport.specs import from_tf_spec, from_tflite_detail
from modelport.types import Format, TensorSpec, default_output_names

DEVICES = ("cpu", "cuda", "auto")
ANY_DTYPE = "any"  # an input whose dtype the runtime does not declare (eager PyTorch modules)


class Runner:
    runtime = "?"

    def __init__(self, path: str, device: str = "cpu", threads: int | None = None):
        if device not in DEVICES:
            raise UsageError(f"--device {device}: expected one of {', '.join(DEVICES)}")
        self.path = path
        self.device = device  # what was asked
        self.threads = threads
        self.device_used = "cpu"  # what runs
        self.device_note: str | None = None
        self.load_seconds: float | None = None

    def _pick_device(self, cuda_available: bool, why_not: str) -> str:
        if self.device == "cpu":
            return "cpu"
        if cuda_available:
            return "cuda"
        if self.device == "cuda":
            raise UnavailableError(f"{self.runtime} cannot run on cuda: {why_not}")
        self.device_note = f"{self.runtime}: no cuda ({why_not}); ran on cpu"
        return "cpu"

    def load(self) -> "Runner":
        t0 = time.perf_counter()
        self._load()
        self.load_seconds = time.perf_counter() - t0
        return self

    def _load(self) -> None:
        raise NotImplementedError

    def input_specs(self) -> list[TensorSpec]:
        raise NotImplementedError

    def output_specs(self) -> list[TensorSpec]:
        raise NotImplementedError

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def prepare(self, feed: dict[str, np.ndarray]) -> Callable[[], object]:
        """One inference on `feed`, as a call with nothing left to convert or copy beforehand.
        The default is run(); runners override it with their runtime's raw call."""
        return lambda: self.run(feed)

    def close(self) -> None:
        pass


class OnnxRuntimeRunner(Runner):
    runtime = "onnxruntime"

    def _load(self):
        ort = require("onnxruntime", "running ONNX Runtime")
        has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
        self.device_used = self._pick_device(has_cuda, "this onnxruntime build has no CUDAExecutionProvider")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if self.device_used == "cuda" else ["CPUExecutionProvider"]
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if self.threads:
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1  # the default sequential executor uses only intra-op threads
        try:
            self.session = ort.InferenceSession(self.path, opts, providers=providers)
        except Exception as e:
            raise UsageError(f"{self.path}: ONNX Runtime cannot load it ({str(e).splitlines()[0][:200]})") from None
        if self.device_used == "cuda" and "CUDAExecutionProvider" not in self.session.get_providers():
            self._pick_device(False, "the CUDA provider failed to initialise")
            self.device_used = "cpu"

    def _specs(self, values) -> list[TensorSpec]:
        from modelport.validators.dtypes import ort_type_to_numpy

        return [TensorSpec(v.name, [d if isinstance(d, int) else str(d) for d in v.shape], ort_type_to_numpy(v.type))
                for v in values]

    def input_specs(self):
        return self._specs(self.session.get_inputs())

    def output_specs(self):
        return self._specs(self.session.get_outputs())

    def run(self, feed):
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, feed)))

    def prepare(self, feed):
        session, names = self.session, [o.name for o in self.session.get_outputs()]
        return lambda: session.run(names, feed)


class TFLiteRunner(Runner):
    runtime = "tflite"

    def _load(self):
        from modelport.tflite_flatbuffer import verify

        litert = require("ai_edge_litert.interpreter", "running the LiteRT (TFLite) interpreter")
        self.device_used = self._pick_device(False, "the LiteRT Python interpreter has no GPU delegate")
        try:
            verify(self.path)  # the interpreter can crash the process on a truncated file
        except ValueError as e:
            raise UsageError(f"{self.path}: corrupt or truncated TFLite file ({e})") from None
        try:
            self.interpreter = litert.Interpreter(model_path=self.path, num_threads=self.threads)
        except (ValueError, RuntimeError) as e:
            raise UsageError(f"{self.path}: not a loadable TFLite model ({str(e).splitlines()[0][:200]})") from None
        sigs = self.interpreter.get_signature_list()
        self.signature = ("serving_default" if "serving_default" in sigs else next(iter(sigs))) if sigs else None
        if self.signature is None:
            self.interpreter.allocate_tensors()

    def input_specs(self):
        if self.signature:
            return [from_tflite_detail(d, n) for n, d in self.interpreter.get_signature_runner(self.signature).get_input_details().items()]
        return [from_tflite_detail(d) for d in self.interpreter.get_input_details()]

    def output_specs(self):
        if self.signature:
            return [from_tflite_detail(d, n) for n, d in self.interpreter.get_signature_runner(self.signature).get_output_details().items()]
        return [from_tflite_detail(d) for d in self.interpreter.get_output_details()]

    def run(self, feed):
        from modelport.quiet import native_stderr_silenced

        with native_stderr_silenced():  # the XNNPACK delegate announces itself on the first run
            return self._run(feed)

    def _run(self, feed):
        if self.signature:
            runner = self.interpreter.get_signature_runner(self.signature)
            return {k: np.array(v) for k, v in runner(**feed).items()}
        it = self.interpreter
        for d in it.get_input_details():
            if list(d["shape"]) != list(feed[d["name"]].shape):
                it.resize_tensor_input(d["index"], feed[d["name"]].shape)
        it.allocate_tensors()
        for d in it.get_input_details():
            it.set_tensor(d["index"], feed[d["name"]])
        it.invoke()
        return {d["name"]: it.get_tensor(d["index"]).copy() for d in it.get_output_details()}

    def prepare(self, feed):
        """Inputs set once, then invoke() alone, as TFLite's benchmark_model times it. A model with
        several signatures keeps the signature runner (invoke() runs only the first subgraph)."""
        it = self.interpreter
        if len(self.interpreter.get_signature_list()) > 1:
            runner = it.get_signature_runner(self.signature)
            return lambda: runner(**feed)
        details = (it.get_signature_runner(self.signature).get_input_details() if self.signature
                   else {d["name"]: d for d in it.get_input_details()})
        for name, d in details.items():
            if list(d["shape"]) != list(feed[name].shape):
                it.resize_tensor_input(d["index"], feed[name].shape)
        it.allocate_tensors()
        for name, d in details.items():
            it.set_tensor(d["index"], feed[name])
        return it.invoke


class SavedModelRunner(Runner):
    runtime = "tensorflow"

    def __init__(self, path: str, device: str = "cpu", threads: int | None = None, signature: str = "serving_default"):
        super().__init__(path, device, threads)
        self.signature = signature

    def _load(self):
        tf = require("tensorflow", "running TensorFlow")
        self.tf = tf
        _set_tf_threads(tf, self.threads)
        gpus = tf.config.list_physical_devices("GPU") if self.device != "cpu" else []
        self.device_used = self._pick_device(bool(gpus), "TensorFlow sees no GPU")
        self.tf_device = "/GPU:0" if self.device_used == "cuda" else "/CPU:0"
        with tf.device(self.tf_device):
            self.obj = tf.saved_model.load(self.path)
        if self.signature not in self.obj.signatures:
            raise UsageError(f"{self.path}: no signature {self.signature!r} (has: {', '.join(self.obj.signatures)})")
        self.fn = self.obj.signatures[self.signature]

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


def _set_tf_threads(tf, threads: int | None) -> None:
    """Intra-op threads for TensorFlow; possible only before its runtime starts (first op)."""
    if not threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised in this process (validate runs runners side by side)
        pass


class TorchRunner(Runner):
    """An eager module from `file.py:callable` (optionally with --weights), TorchScript (.pt) or an
    ExportedProgram (.pt2). Outputs are named output / output_0, output_1, ... as the exporter names them."""

    runtime = "torch"

    def __init__(self, path: str, device: str = "cpu", flavor: str = "callable", threads: int | None = None,
                 input_specs: list[TensorSpec] | None = None, weights: str | None = None):
        super().__init__(path, device, threads)
        self.flavor = flavor
        self._inputs = input_specs
        self.weights = weights

    def _load(self):
        from modelport.validators.torch_loading import load_torch_model

        self.torch = require("torch", "running PyTorch")
        if self.threads:
            self.torch.set_num_threads(self.threads)
        self.device_used = self._pick_device(self.torch.cuda.is_available(), "torch sees no CUDA device")
        self.model, names, shapes, dtypes = load_torch_model(self.path, self.flavor, self.weights, self.device_used)
        if self._inputs is None:
            # A Python module declares no dtypes: "any" tells the feed mapping to keep the source's dtype.
            self._inputs = [TensorSpec(n, s, d if d not in (None, "bfloat16") else ANY_DTYPE)
                            for n, s, d in zip(names, shapes, dtypes)]

    def input_specs(self):
        return list(self._inputs or [])

    def output_specs(self):
        return []

    def run(self, feed):
        torch = self.torch
        args = [torch.from_numpy(np.ascontiguousarray(feed[s.name])).to(self.device_used) for s in self.input_specs()]
        with torch.no_grad():
            out = self.model(*args)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        return {n: o.detach().cpu().numpy() for n, o in zip(default_output_names(len(outs)), outs)}

    def prepare(self, feed):
        torch, model = self.torch, self.model
        args = [torch.from_numpy(np.ascontiguousarray(feed[s.name])).to(self.device_used) for s in self.input_specs()]
        sync = torch.cuda.synchronize if self.device_used == "cuda" else None

        def call():
            with torch.no_grad():
                out = model(*args)
            if sync is not None:
                sync()  # CUDA kernels run asynchronously
            return out

        return call


class KerasRunner(Runner):
    """A Keras 3 `.keras` file, run by Keras on the TensorFlow backend (a conversion source)."""

    runtime = "keras"

    def _load(self):
        import os

        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        tf = require("tensorflow", "running TensorFlow")
        _set_tf_threads(tf, self.threads)
        keras = require("keras", "running Keras")
        gpus = tf.config.list_physical_devices("GPU") if self.device != "cpu" else []
        self.device_used = self._pick_device(bool(gpus), "TensorFlow sees no GPU")
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


def runner_for(path: str, fmt: Format, flavor: str | None = None, *, device: str = "cpu", **kwargs) -> Runner:
    if fmt == Format.ONNX:
        return OnnxRuntimeRunner(path, device)
    if fmt == Format.TFLITE:
        return TFLiteRunner(path, device, **kwargs)
    if fmt == Format.SAVEDMODEL:
        return SavedModelRunner(path, device, **kwargs)
    if fmt == Format.PYTORCH:
        return TorchRunner(path, device, flavor or "callable", **kwargs)
    if fmt == Format.KERAS:
        return KerasRunner(path, device, **kwargs)
    raise UsageError(f"no runner for {fmt.value} models")
