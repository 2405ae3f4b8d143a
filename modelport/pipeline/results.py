"""What `convert()` returns: the route it took, each step's report, the I/O map and the validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelport.types import IOMap


@dataclass
class StepReport:
    edge: str
    converter: str
    seconds: float
    details: dict[str, Any]
    notes: list[str]
    smoke: dict[str, Any] | None
    strategy: str = "default"  # the strategy whose artifact was kept
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every strategy tried for this step, in order


@dataclass
class ConvertResult:
    source: str
    output: str
    manifest: str
    route: str
    steps: list[StepReport]
    io_map: IOMap
    seconds: float
    intermediates: list[str] = field(default_factory=list)
    validation: dict[str, Any] | None = None
    # One {route, outcome, reason} per route tried, when the planned one failed and others followed.
    routes_tried: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "output": self.output, "manifest": self.manifest, "route": self.route,
            "seconds": round(self.seconds, 3), "io_map": self.io_map.to_dict(),
            "steps": [vars(s) for s in self.steps], "intermediates": self.intermediates,
            "validation": self.validation, "routes_tried": self.routes_tried,
        }
