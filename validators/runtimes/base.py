"""The interface every runner fills in, in the spirit of Polygraphy's runners (see the package docstring)."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from modelport.errors import UnavailableError, UsageError
from modelport.types import TensorSpec

DEVICES = ("cpu", "cuda", "auto")
ANY_DTYPE = "any"  # an input whose dtype the runtime does not declare (eager PyTorch modules)


class SelfTimedCall:
    """A prepared inference whose runtime lives in another process and times its own calls:
    `timed(min_runs, min_seconds, max_seconds)` runs the bench loop there and returns each call's
    ns (validators/bench/timing.py's contract). Timing the call from Python would add a round trip
    through the pipe to every inference (the TF.js runner, tfjs_runner.py)."""

    def __init__(self, call: Callable[[], object], timed: Callable[[int, float, float | None], list[int]]):
        self.call, self.timed = call, timed

    def __call__(self):
        return self.call()


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

    def run_float64(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """The same model computed in float64 on `feed`, or None where this runtime cannot. The
        validator asks a reference for it when a candidate fails: whether the candidate or the
        float32 reference is the one off the true values (validation.py, _against_float64)."""
        return None

    def prepare(self, feed: dict[str, np.ndarray]) -> Callable[[], object]:
        """One inference on `feed`, as a call with nothing left to convert or copy beforehand.
        The default is run(); runners override it with their runtime's raw call."""
        return lambda: self.run(feed)

    def close(self) -> None:
        pass
