"""Validation inside the edge workers (issue 14): what the parent asks of each worker, what it keeps.

A separate validation process imports torch, TensorFlow and ONNX Runtime again: on a small model
that is most of the validation's cost. The edge worker that wrote an artifact has its runtime
imported and has just run it, so it also judges it (validators/step_validation.py): the first
step's worker runs the source too and writes its inputs and outputs as golden data; later steps
replay that file. The parent only collects verdicts.

Kept from the separate validation worker, which stays for what a later step's worker cannot do:
a failure there is judged again in that worker, where the source runs and can be re-run in
float64 (validators/validation.py, `_against_float64`); a verdict that comes back broken (the
worker's validation raised, or the worker died after writing its artifact) leaves the artifact
to that worker too. So a verdict never rests on less evidence than before, and a pass costs no
process of its own. Not done in the workers: GPU validation (it needs a worker started with the
GPU visible) and steps that run in another interpreter (a layer's runtime versions may differ
from the validator's, modelport/layers.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelport.converters.options import EdgeOptions
from modelport.types import IOMap
from modelport.validators.validate_options import ValidateOptions


@dataclass
class WorkerValidation:
    source: str  # absolute: the workers run elsewhere
    options: ValidateOptions  # with the conversion's input shapes, dtypes and weights
    golden: str | None = None  # the source's inputs and outputs, once a first step's worker wrote them
    fields: dict | None = None  # a report's fields other than its candidates (seed, samples, versions...)
    versions: dict[str, str] = field(default_factory=dict)  # of every runtime any worker's validation used
    notes: list[str] = field(default_factory=list)

    @classmethod
    def for_conversion(cls, source: str, edge_options: EdgeOptions,
                       validation: ValidateOptions | None) -> "WorkerValidation | None":
        """None where the workers cannot validate: no validation, a GPU device, golden files given."""
        from modelport.pipeline.route_validation import route_validation_options

        if validation is None or validation.load_outputs or validation.save_outputs:
            return None
        if any(d not in (None, "cpu") for d in (validation.device, validation.reference_device)):
            return None
        return cls(source, route_validation_options(edge_options, validation))

    def spec(self, io_map: IOMap | None, precision: str) -> dict | None:
        """The job's `validation` part for a step whose input has `io_map` from the source (None:
        the first step, which runs the source); None when no golden data exists yet for a later step."""
        if io_map is not None and self.golden is None:
            return None
        return {"options": self.options.to_dict(), "precision": precision,
                "prefix_map": io_map.to_dict() if io_map is not None else None,
                "reference": self.source if io_map is None else None,
                "golden": self.golden if io_map is not None else None}

    def reads(self, spec: dict | None) -> list[str]:
        """What a worker must read for `spec`, beyond its own step's files: the source it runs (the
        first step), the golden data it replays (later ones), the given inputs."""
        from modelport.workers.sandbox import readable_paths

        if spec is None:
            return []
        return readable_paths(spec.get("reference")) + [p for p in (spec.get("golden"), self.options.inputs) if p]

    def take(self, verdict: dict | None) -> dict | None:
        """The candidate result to keep from a worker's verdict: a pass, or a failure judged with
        the source at hand (the first step's); None leaves the artifact to the validation worker."""
        if not verdict or "candidate" not in verdict:
            return None
        if verdict.get("golden") and self.golden is None:
            self.golden = verdict["golden"]
        report = verdict["report"]
        if self.fields is None or verdict["complete"]:
            self.fields = {k: v for k, v in report.items() if k not in ("candidates", "passed")}
        self.versions.update(report.get("versions") or {})
        self.notes.extend(n for n in report.get("notes") or [] if n not in self.notes)
        candidate = verdict["candidate"]
        return candidate if candidate["passed"] or verdict["complete"] else None

    def report(self, candidates: list[dict], base: dict | None = None) -> dict:
        """One report over `candidates`, on `base` (a validation worker's report) or the workers' fields."""
        fields = dict(base if base is not None else self.fields or {})
        fields["versions"] = {**self.versions, **(fields.get("versions") or {})}
        fields["notes"] = list(dict.fromkeys([*(fields.get("notes") or []), *self.notes]))
        return dict(fields, candidates=candidates, passed=all(c["passed"] for c in candidates))



def one_report(candidates: list[dict], base: dict | None, in_worker: WorkerValidation | None) -> dict:
    """The report over a chain's (or several chains') candidates, whoever judged them: on the
    validation worker's report `base`, with what the edge workers' verdicts add when they judged."""
    if in_worker is not None:
        return in_worker.report(candidates, base)
    return dict(base, candidates=candidates, passed=all(c["passed"] for c in candidates))
