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

from modelport.errors import UsageError
from modelport.types import Format
from modelport.validators.runtimes.base import ANY_DTYPE, DEVICES, Runner
from modelport.validators.runtimes.keras_runner import KerasRunner
from modelport.validators.runtimes.onnx_runner import OnnxRuntimeRunner
from modelport.validators.runtimes.savedmodel_runner import SavedModelRunner
from modelport.validators.runtimes.tflite_runner import TFLiteRunner
from modelport.validators.runtimes.torch_runner import TorchRunner

__all__ = ["ANY_DTYPE", "DEVICES", "Runner", "runner_for", "OnnxRuntimeRunner", "TFLiteRunner", "SavedModelRunner",
           "TorchRunner", "KerasRunner"]


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
