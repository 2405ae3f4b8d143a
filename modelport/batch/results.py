"""What `modelport batch` produces: per job (one model) and per target, a status and its reason.

Plain dataclasses that serialise to JSON (batch.json) and back. The statuses, worst last:
skipped / not run < valid / converted < parity failed < conversion failed; the exit code follows the worst.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

VALID = "valid"
CONVERTED = "converted"  # validate: false
PARITY_FAILED = "parity failed"
CONVERSION_FAILED = "conversion failed"
SKIPPED = "skipped"
NOT_RUN = "not run"

LEGEND = {
    VALID: "converted, and every artifact matched its source within tolerance",
    CONVERTED: "converted and run once in its runtime, but not compared with its source (validate: false)",
    PARITY_FAILED: "converted, but an artifact's outputs differ from the source (it is written, marked failed)",
    CONVERSION_FAILED: "no usable artifact: bad source, converter error, crash, timeout or out of memory",
    SKIPPED: "unchanged since a valid run (source, options, tool versions, artifact hashes): not redone",
    NOT_RUN: "not started: --fail-fast stopped the batch, or it was interrupted",
}
MARK = {VALID: "✔", CONVERTED: "✓", PARITY_FAILED: "✗", CONVERSION_FAILED: "✗", SKIPPED: "↷", NOT_RUN: "-"}
EXIT_CODES = {VALID: 0, CONVERTED: 0, SKIPPED: 0, NOT_RUN: 0, PARITY_FAILED: 1, CONVERSION_FAILED: 3}
_RANK = {SKIPPED: 0, NOT_RUN: 0, VALID: 1, CONVERTED: 1, PARITY_FAILED: 2, CONVERSION_FAILED: 3}


def worst(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: _RANK[s]) if statuses else CONVERSION_FAILED


@dataclass
class TargetResult:
    target: str
    status: str
    message: str = ""  # why it failed, or the route when it passed
    output: str | None = None
    manifest: str | None = None
    seconds: float | None = None
    route: str | None = None
    validation: dict[str, Any] | None = None  # passed, and the worst output's metrics

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TargetResult":
        return cls(**d)


@dataclass
class JobResult:
    name: str
    source: str
    status: str
    targets: list[TargetResult] = field(default_factory=list)
    message: str = ""  # a job-level failure (timeout, crash) or the skip reason
    seconds: float | None = None
    log: str | None = None  # the job process's log, in the report folder
    bench: dict[str, Any] | None = None  # {json, markdown, plot, results: [{label, batch_size, p50_ms, ...}]}
    fingerprint: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "JobResult":
        return cls(**{**d, "targets": [TargetResult.from_dict(t) for t in d.get("targets", [])]})


@dataclass
class BatchReport:
    manifest: str
    jobs: list[JobResult] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    seconds: float = 0.0
    modelport_version: str = ""
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        return max((j.exit_code for j in self.jobs), default=0)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in LEGEND}
        for j in self.jobs:
            out[j.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exit_code": self.exit_code, "counts": self.counts(), "legend": LEGEND}


def summary(report: BatchReport) -> str:
    """The one-line verdict of a batch (terminal, Markdown and HTML reports all end with it)."""
    counts = report.counts()
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    return f"{len(report.jobs)} job(s): " + ", ".join(parts) + f"; {report.seconds:.1f} s" + \
        (" (interrupted)" if report.interrupted else "")
