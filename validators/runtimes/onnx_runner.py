"""ONNX Runtime, with the CUDA execution provider for --device cuda."""

from __future__ import annotations

from modelport.errors import UsageError
from modelport.libraries import require
from modelport.types import TensorSpec
from modelport.validators.runtimes.base import Runner

_ORT = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
        "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int16)": "int16", "tensor(int8)": "int8",
        "tensor(uint8)": "uint8", "tensor(bool)": "bool", "tensor(bfloat16)": "bfloat16"}


def ort_type_to_numpy(t: str) -> str:
    return _ORT.get(t, t)


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
