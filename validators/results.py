"""What a validation produces: per candidate, per output, the metrics and the verdict.

Plain dataclasses that serialise to JSON (reports, manifests) and back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Tolerance:
    """The pass rule for one output.

    Elementwise rule (when atol/rtol are set): |got - ref| <= atol + rtol * |ref| for every element.
    Quantized presets judge by agreement instead: cosine similarity >= min_cosine and, for
    classifier-like outputs, top-1 agreement >= min_top1. Any rule that is set must hold.
    """

    preset: str = "fp32"
    atol: float | None = 1e-4
    rtol: float | None = 1e-3
    min_cosine: float | None = None
    min_top1: float | None = None
    # atol is relative to the output's magnitude: atol * max(1, max |ref|) (the fp16 preset's: half
    # precision keeps ~3 significant digits of the computation, not of each element)
    atol_scaled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Tolerance":
        return cls(**d)


@dataclass
class OutputResult:
    output: str  # the reference's output name
    candidate_output: str  # the candidate's name for it
    passed: bool
    reason: str  # "ok", or why it failed: "shape [1, 10] != [1, 5]", "NaN in candidate", "23% out of tolerance"
    tolerance: Tolerance
    mapping: str = ""  # how the output was matched (manifest, name, shape under permutation)
    shape_ref: list[int] | None = None
    shape_got: list[int] | None = None
    dtype_ref: str | None = None
    dtype_got: str | None = None
    max_abs: float | None = None
    mean_abs: float | None = None
    max_rel: float | None = None
    cosine: float | None = None
    out_of_tolerance: float | None = None  # share of elements violating the elementwise rule
    nan_count: int = 0
    inf_count: int = 0
    top1: float | None = None  # share of samples/rows whose argmax agrees (classifier-like outputs)
    top5: float | None = None  # share whose reference top-1 is in the candidate's top-5
    min_passing_atol: float | None = None  # the smallest atol (at this rtol) that would have passed
    severity: float = 0.0  # for sorting worst first: max over rules of (observed / allowed)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tolerance"] = self.tolerance.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "OutputResult":
        return cls(**{**d, "tolerance": Tolerance.from_dict(d["tolerance"])})


@dataclass
class CandidateResult:
    path: str
    format: str
    runtime: str
    device: str
    precision: str  # fp32 | fp16 | int8 (decides the default preset)
    passed: bool
    outputs: list[OutputResult] = field(default_factory=list)
    input_mapping: list[dict[str, Any]] = field(default_factory=list)  # source input -> candidate input, perm, rule
    error: str | None = None  # the candidate could not be run at all
    load_seconds: float | None = None
    run_seconds: float | None = None
    layout_evidence: list[str] = field(default_factory=list)  # ambiguous layouts settled by running, or why none matched
    settled_io_map: dict[str, Any] | None = None  # the I/O map running settled on, when it differs in layouts
    # a failing candidate judged again against the reference run in float64 (validation._against_float64)
    reference_evidence: list[str] = field(default_factory=list)
    # each claimed dynamic dim run at another size: {dim, base, size, passed (None: not proven), detail, max_abs}
    sizes: list[dict[str, Any]] = field(default_factory=list)
    # the same samples through the runtime's other backends (TF.js: cpu beside wasm): {backend,
    # passed, max_abs, detail}; a backend that differs fails the candidate, as a delegate bug would
    backends: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["outputs"] = [o.to_dict() for o in self.outputs]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CandidateResult":
        return cls(**{**d, "outputs": [OutputResult.from_dict(o) for o in d.get("outputs", [])]})


@dataclass
class ValidationReport:
    reference: str
    reference_format: str
    candidates: list[CandidateResult]
    seed: int
    samples: int
    device: str
    versions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. "cuda unavailable for tflite: ran on CPU"

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.candidates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference, "reference_format": self.reference_format, "passed": self.passed,
            "seed": self.seed, "samples": self.samples, "device": self.device, "versions": self.versions,
            "notes": self.notes, "candidates": [c.to_dict() for c in self.candidates],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ValidationReport":
        return cls(d["reference"], d["reference_format"], [CandidateResult.from_dict(c) for c in d["candidates"]],
                   d["seed"], d["samples"], d["device"], d.get("versions", {}), d.get("notes", []))
