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
from modelport.validators.runtimes.tfjs_runner import TFJSRunner
from modelport.validators.runtimes.torch_runner import TorchRunner

__all__ = ["ANY_DTYPE", "DEVICES", "RUNNERS", "Runner", "runner_for", "OnnxRuntimeRunner", "TFLiteRunner", "SavedModelRunner",
           "TorchRunner", "KerasRunner", "TFJSRunner"]


# Format -> its runner. Adding a runtime is adding its module and one entry here.
RUNNERS: dict[Format, type[Runner]] = {
    Format.ONNX: OnnxRuntimeRunner,
    Format.TFLITE: TFLiteRunner,
    Format.SAVEDMODEL: SavedModelRunner,
    Format.PYTORCH: TorchRunner,
    Format.KERAS: KerasRunner,
    Format.TFJS: TFJSRunner,
}


def runner_for(path: str, fmt: Format, flavor: str | None = None, *, device: str = "cpu", **kwargs) -> Runner:
    """The runner of `fmt` for `path` (not loaded yet); `kwargs` are its options, e.g. threads."""
    runner = RUNNERS.get(fmt)
    if runner is None:
        raise UsageError(f"no runner for {fmt.value} models")
    if fmt == Format.PYTORCH:
        kwargs["flavor"] = flavor or "callable"
    return runner(path, device, **kwargs)
