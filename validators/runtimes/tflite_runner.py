"""The LiteRT (TFLite) interpreter; the flatbuffer is verified in Python first, since a truncated file can crash it."""

from __future__ import annotations

import numpy as np

from modelport.errors import UsageError
from modelport.libraries import require
from modelport.specs import from_tflite_detail
from modelport.validators.runtimes.base import Runner


class TFLiteRunner(Runner):
    runtime = "tflite"

    def _load(self):
        from modelport.io_ops import refuse, tflite_io_ops
        from modelport.tflite_flatbuffer import verify

        litert = require("ai_edge_litert.interpreter", "running the LiteRT (TFLite) interpreter")
        self.device_used = self._pick_device(False, "the LiteRT Python interpreter has no GPU delegate")
        try:
            verify(self.path)  # the interpreter can crash the process on a truncated file
        except ValueError as e:
            raise UsageError(f"{self.path}: corrupt or truncated TFLite file ({e})") from None
        refuse(self.path, tflite_io_ops(self.path))  # Flex file ops (modelport/io_ops.py)
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
        from modelport.libraries import native_stderr_silenced

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
