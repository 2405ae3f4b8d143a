"""How to benchmark (`modelport bench`'s options, `modelport.api.BenchOptions`), and their checks."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from modelport.errors import UsageError
from modelport.validators.validate_options import TFJS_BACKENDS

ORDERS = ("sequential", "random", "interleaved")
DEFAULT_RUNS, DEFAULT_DURATION = 50, 1.0  # when neither --runs nor --duration is given (as benchmark_model)


@dataclass
class BenchOptions:
    batch_sizes: tuple[int, ...] | None = None  # None: 1, or the batch of --inputs
    warmup: int = 5
    min_warmup_seconds: float = 0.5
    runs: int | None = None
    duration: float | None = None
    max_duration: float = 150.0
    threads: int | None = None  # None: the cores this process may use
    device: str = "cpu"
    order: str = "sequential"
    seed: int = 0
    input_shapes: tuple[str, ...] = ()
    input_dtypes: tuple[str, ...] = ()
    value_ranges: tuple[str, ...] = ()
    inputs: str | None = None
    weights: str | None = None
    task: str | None = None  # a Hugging Face folder's task (default: its config.json's)
    labels: dict[str, str] = field(default_factory=dict)  # model -> the name reports use (default: file name)
    baseline: str | None = None  # a previous run's --json: compare p50 per artifact and batch size
    max_regression: float = 0.10  # with a baseline: a p50 this much slower (a fraction) is a regression
    tfjs_backends: tuple[str, ...] = TFJS_BACKENDS  # a TF.js model is measured on each (a row per backend)

    def measured_bounds(self) -> tuple[int, float]:
        """(min runs, min seconds): --runs alone is a count, --duration alone a time, both: both."""
        if self.runs is None and self.duration is None:
            return DEFAULT_RUNS, DEFAULT_DURATION
        return (self.runs if self.runs is not None else 1), (self.duration or 0.0)


def check(opts: BenchOptions) -> None:
    """Everything that can be refused is refused before minutes of measuring (UsageError)."""
    if opts.batch_sizes is not None and (not opts.batch_sizes or any(b < 1 for b in opts.batch_sizes)):
        raise UsageError("--batch-sizes: expected positive integers, e.g. 1,8,32")
    if opts.batch_sizes and opts.inputs:
        raise UsageError("--batch-sizes and --inputs exclude each other: the batch is what --inputs holds")
    for name, value in (("--warmup", opts.warmup), ("--runs", opts.runs), ("--threads", opts.threads)):
        if value is not None and value < (0 if name == "--warmup" else 1):
            raise UsageError(f"{name} {value}: expected {'0 or more' if name == '--warmup' else 'at least 1'}")
    for name, value in (("--min-warmup-seconds", opts.min_warmup_seconds), ("--duration", opts.duration)):
        if value is not None and value < 0:
            raise UsageError(f"{name} {value}: expected 0 or more seconds")
    if opts.max_duration <= 0:
        raise UsageError(f"--max-duration {opts.max_duration}: expected a positive number of seconds")
    if not opts.tfjs_backends or any(b not in TFJS_BACKENDS for b in opts.tfjs_backends):
        raise UsageError(f"--tfjs-backend {','.join(opts.tfjs_backends)}: expected backends among "
                         f"{', '.join(TFJS_BACKENDS)}")
    if opts.order not in ORDERS:
        raise UsageError(f"--order {opts.order}: expected one of {', '.join(ORDERS)}")
    if opts.device not in ("cpu", "cuda", "auto"):
        raise UsageError(f"--device {opts.device}: expected cpu, cuda or auto")
    if not (isinstance(opts.max_regression, (int, float)) and opts.max_regression >= 0):
        raise UsageError(f"--max-regression {opts.max_regression!r}: expected a fraction of 0 or more, e.g. 0.1")


def parsed_inputs(opts: BenchOptions) -> dict:
    """--input-shape/--input-dtype/--value-range parsed here, so bad syntax fails before any work."""
    from modelport.input_overrides import parse_input_dtype, parse_input_shape
    from modelport.validators.inputs import parse_value_range

    shapes = {}
    for text in opts.input_shapes:
        o = parse_input_shape(text)
        shapes[o.name] = [e if e is not None else d for d, e in zip(o.shape or [], o.example or [])]
    if opts.inputs and not os.path.exists(opts.inputs):
        raise UsageError(f"--inputs {opts.inputs}: no such file or folder")
    return {"shapes": shapes, "dtypes": dict(parse_input_dtype(t) for t in opts.input_dtypes),
            "value_ranges": dict(parse_value_range(t) for t in opts.value_ranges),
            "inputs": os.path.abspath(opts.inputs) if opts.inputs else None}
