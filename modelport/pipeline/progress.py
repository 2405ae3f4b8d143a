"""What `convert()` is doing right now, told as it happens: one event when a step (an edge's
strategy, or a validation run) starts and one when it ends.

A long conversion (VGG-19's onnx2tf step takes 100 s) must never look hung, and a step's time
belongs to the step, so the CLI shows one live line per step with its elapsed time
(cli/convert_progress.py). The pipeline only emits events: rendering is the caller's business,
and a script can pass any callable (`convert(..., progress=print)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal


@dataclass(frozen=True)
class StepEvent:
    kind: Literal["started", "finished"]
    key: str  # the same for a step's two events, unique within one convert() call
    label: str  # e.g. "step 1 pytorch-onnx (dynamo)", "validation of 2 artifacts"
    outcome: str = ""  # with "finished": converted, skipped, failed, passed, parity failed, error
    seconds: float = 0.0  # with "finished": the step's wall time


ProgressHook = Callable[[StepEvent], None]


class StepTimer:
    """Emits the started/finished pair around each step; numbering keys keeps two attempts of the
    same strategy (after another strategy of an earlier step) apart."""

    def __init__(self, hook: ProgressHook | None):
        self.hook = hook
        self.count = 0

    def started(self, label: str) -> str:
        self.count += 1
        key = f"{self.count}"
        if self.hook is not None:
            self.hook(StepEvent("started", key, label))
        return key

    def finished(self, key: str, label: str, outcome: str, seconds: float) -> None:
        if self.hook is not None:
            self.hook(StepEvent("finished", key, label, outcome, round(seconds, 3)))
