"""What one conversion edge is asked to do, and what it reports back.

Both types are plain JSON-able data: the parent process writes an `EdgeJob` for a worker
subprocess (modelport/pipeline/edge_worker.py) and reads back an `EdgeResult`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from modelport.types import IOMap, IOSpec
from modelport.converters.options import EdgeOptions


@dataclass
class EdgeJob:
    edge: str  # e.g. "onnx->tflite"
    module: str  # module under modelport.converters.edges
    source: str
    source_format: str
    source_flavor: str | None
    target_format: str
    output: str  # where the edge writes its artifact (inside a scratch folder)
    options: EdgeOptions
    source_io: IOSpec | None = None  # what is known of the source's signature (fills PyTorch gaps)
    strategy: str = "default"  # which of the edge's strategies to run (converters/strategies.py)
    scan_source: bool = False  # the user's own model: refuse it if it touches files (modelport/io_ops.py)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["options"] = self.options.to_dict()
        d["source_io"] = self.source_io.to_dict() if self.source_io else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EdgeJob":
        d = dict(d)
        d["options"] = EdgeOptions.from_dict(d["options"])
        d["source_io"] = IOSpec.from_dict(d["source_io"]) if d.get("source_io") else None
        return cls(**d)


@dataclass
class EdgeResult:
    io_map: IOMap
    converter: str  # library name and version, e.g. "onnx2tf 2.6.9"
    details: dict[str, Any] = field(default_factory=dict)  # exporter used, opset, quantization...
    notes: list[str] = field(default_factory=list)  # what the user should know (layout changes, fallbacks)

    def to_dict(self) -> dict[str, Any]:
        return {"io_map": self.io_map.to_dict(), "converter": self.converter, "details": self.details, "notes": self.notes}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EdgeResult":
        return cls(IOMap.from_dict(d["io_map"]), d["converter"], d.get("details", {}), d.get("notes", []))
