"""What `modelport bench` produces: per artifact and batch size, the timings, memory and verdict.

Plain dataclasses that serialise to JSON (the --json report, which is also the --baseline input of
a later run) and back. Latencies are in milliseconds; sizes and memory in bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

OK, SKIPPED, ERROR = "ok", "skipped", "error"


@dataclass
class LatencyStats:
    """Statistics of the measured runs, in milliseconds (percentiles by linear interpolation)."""

    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LatencyStats":
        return cls(**{f.name: d[f.name] for f in fields(cls)})


@dataclass
class BenchResult:
    """One artifact at one batch size, measured in a process of its own.

    `label` is the key reports and baselines use (the artifact's file name, or its path when two
    artifacts share a name). `status` is ok, skipped (`reason` says why: e.g. a static batch of 1)
    or error (`reason` is the one-line message, `error_kind` its ModelportError class).
    """

    label: str
    path: str
    format: str
    batch_size: int
    status: str = OK
    reason: str | None = None
    error_kind: str | None = None
    runtime: str | None = None
    runtime_version: str | None = None
    device: str | None = None  # what ran: cpu or cuda
    device_note: str | None = None
    threads: int | None = None
    size_bytes: int | None = None
    input_shapes: dict[str, list[int]] = field(default_factory=dict)  # as fed to the artifact
    import_seconds: float | None = None  # importing the runtime's library in a fresh process
    load_seconds: float | None = None  # building the session / interpreter / module
    first_inference_seconds: float | None = None
    warmup_runs: int = 0
    warmup_seconds: float = 0.0
    runs: int = 0
    measured_seconds: float = 0.0
    latency_ms: LatencyStats | None = None
    inferences_per_second: float | None = None
    samples_per_second: float | None = None
    peak_rss_bytes: int | None = None  # peak resident memory of the benchmark process
    gpu_peak_bytes: int | None = None  # peak device memory (PyTorch on cuda)
    latencies_ms: list[float] = field(default_factory=list)  # every measured run, in order
    log_tail: str | None = None  # the end of the worker's log, for an error

    @property
    def key(self) -> tuple[str, int, str | None]:
        """What a baseline entry is matched on."""
        return (self.label, self.batch_size, self.device)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BenchResult":
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if kw.get("latency_ms") is not None:
            kw["latency_ms"] = LatencyStats.from_dict(kw["latency_ms"])
        return cls(**kw)


@dataclass
class Comparison:
    """One (label, batch size, device) against the baseline: p50 now and then.

    `change` is (current - baseline) / baseline; status is regressed (past the limit), ok,
    new (not in the baseline) or missing (in the baseline, not measured now).
    """

    label: str
    batch_size: int
    device: str | None
    status: str
    baseline_p50_ms: float | None = None
    current_p50_ms: float | None = None
    change: float | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Comparison":
        return cls(**{f.name: d.get(f.name) for f in fields(cls)})


@dataclass
class Regression:
    baseline: str  # the baseline file
    max_regression: float  # a fraction: 0.10 for 10%
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. the baseline ran on another CPU

    @property
    def regressed(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.status == "regressed"]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Regression":
        return cls(baseline=d["baseline"], max_regression=d["max_regression"],
                   comparisons=[Comparison.from_dict(c) for c in d.get("comparisons", [])], notes=list(d.get("notes", [])))


@dataclass
class BenchReport:
    """A whole run: the method (so the numbers can be reproduced), the machine, and the results
    in the order they were run."""

    results: list[BenchResult] = field(default_factory=list)
    method: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    modelport_version: str = ""
    created: str = ""
    regression: Regression | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[BenchResult]:
        return [r for r in self.results if r.status == ERROR]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BenchReport":
        return cls(results=[BenchResult.from_dict(r) for r in d.get("results", [])], method=dict(d.get("method", {})),
                   machine=dict(d.get("machine", {})), modelport_version=d.get("modelport_version", ""),
                   created=d.get("created", ""),
                   regression=Regression.from_dict(d["regression"]) if d.get("regression") else None,
                   notes=list(d.get("notes", [])))
