"""What `locate` found: plain data (JSON round trip), as every report that crosses a worker boundary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# statuses of a compared tensor
OK, DIVERGES, INHERITS, NOT_COMPARED, LAYER_FAILS = "ok", "diverges", "inherits", "not comparable", "layer does not run"


@dataclass
class TensorResult:
    source: str
    candidate: str
    position: int  # in the source's topological order
    source_op: str
    candidate_op: str
    module: str | None = None  # PyTorch: the nn.Module the tensor came from
    candidate_node: str = ""  # the artifact op that writes it: an ONNX node name, "op N" in TFLite
    shape: list[int] | None = None  # the source's
    candidate_shape: list[int] | None = None
    layout: str = ""  # how the artifact tensor's axes relate to the source's, and how that was decided
    perm: list[int] | None = None
    how: str = ""  # where the correspondence comes from
    max_abs: float | None = None
    cosine: float | None = None
    severity: float | None = None  # observed / allowed of the first rule broken (> 1 fails)
    passed: bool | None = None  # None: not comparable
    reason: str = ""
    status: str = OK
    local: dict[str, Any] | None = None  # --mode local: the layer alone on the source's values

    @classmethod
    def from_dict(cls, d: dict) -> "TensorResult":
        return cls(**d)


@dataclass
class LocateReport:
    source: str
    artifact: str
    source_format: str
    artifact_format: str
    route: str
    mode: str
    seed: int
    precision: str
    correspondence: str  # how tensors were paired
    outputs_passed: bool  # the artifact's outputs against the source's on this input, as validate judges them
    tensors: list[TensorResult] = field(default_factory=list)  # every compared pair, in the source's order
    first: str | None = None  # the first divergence (a source tensor name), None when there is none
    divergences: list[str] = field(default_factory=list)  # every divergence no earlier one explains
    unmatched: int = 0  # source tensors with no artifact counterpart
    fused: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: dict[str, int] = field(default_factory=dict)  # how many times each side ran to capture
    seconds: dict[str, float] = field(default_factory=dict)
    source_graph_size: int = 0
    repro: str | None = None  # what --repro wrote, in words ("" when it could not)
    # --bisect (or the fallback when nothing pairs): {"nodes", "max_probes", "probes": [{k, node, op,
    # output, verdict, reason, seconds}], "result"}: `first` was found by re-converting prefixes
    bisection: dict[str, Any] | None = None

    @property
    def diverged(self) -> bool:
        return self.first is not None

    def tensor(self, source_name: str) -> TensorResult | None:
        return next((t for t in self.tensors if t.source == source_name), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LocateReport":
        d = dict(d)
        d["tensors"] = [TensorResult.from_dict(t) for t in d.get("tensors", [])]
        return cls(**d)
