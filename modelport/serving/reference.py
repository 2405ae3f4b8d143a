"""The validation inputs and the source's answers, and the comparison of a server's answers with them.

The inputs are made exactly as `modelport validate` makes them (seeded, `--input-shape`,
`--input-dtype`, `--value-range`, `--inputs`), by the project's validator in its confined worker:
`validate(source, [candidate], save_outputs=...)` writes them with the source's outputs as golden
data (validators/golden.py). The order of the inputs there is the order the model takes them in,
and the order of the outputs the order it returns them in: the I/O map a package records.
A server's answers are then judged output by output like any runner's (validators/metrics.py,
validators/tolerances.py) and reported in a ValidationReport (validators/reports.py).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field

import numpy as np

from modelport.errors import UsageError


@dataclass
class InputOptions:
    """How the validation inputs are made and the answers judged (`validate`'s options of the same names)."""

    seed: int = 0
    samples: int = 1
    input_shapes: tuple[str, ...] = ()
    input_dtypes: tuple[str, ...] = ()
    value_ranges: tuple[str, ...] = ()
    inputs: str | None = None
    atol: tuple[str, ...] = ()
    rtol: tuple[str, ...] = ()


@dataclass
class Golden:
    feeds: list[dict[str, np.ndarray]]  # per sample, inputs in the model's call order
    outputs: list[dict[str, np.ndarray]]  # per sample, outputs in the model's return order
    report: object = None  # the ValidationReport of the candidate run beside the source
    notes: list[str] = field(default_factory=list)

    @property
    def input_specs(self) -> list[dict]:
        return [{"name": k, "shape": list(v.shape), "dtype": v.dtype.name} for k, v in self.feeds[0].items()]

    @property
    def output_names(self) -> list[str]:
        return list(self.outputs[0])


def validation_data(source: str, candidate: str, options: InputOptions, scratch: str) -> Golden:
    """Inputs and the source's outputs, through `modelport validate` (confined when the sandbox is on);
    `candidate` is run beside it and judged (its report is kept)."""
    from modelport.validators.golden import load_golden
    from modelport.validators.validate_options import ValidateOptions
    from modelport.workers import sandbox

    if sandbox.active():  # as modelport.api.validate: the runtimes run the models in a confined worker
        from modelport.validators.confined import validate_confined as validate
    else:
        from modelport.validators.validation import validate

    path = os.path.join(scratch, "golden.npz")
    opts = ValidateOptions(seed=options.seed, samples=options.samples, input_shapes=tuple(options.input_shapes),
                           input_dtypes=tuple(options.input_dtypes), value_ranges=tuple(options.value_ranges),
                           inputs=options.inputs, atol=tuple(options.atol), rtol=tuple(options.rtol), save_outputs=path)
    try:
        report = validate(source, [candidate], opts)
    except UsageError as e:  # several MODELs share the options: keep the entries that name this one's inputs
        m = re.search(r"are not inputs of the reference \(inputs: ([^)]*)\)", e.message)
        if not m:
            raise
        mine = {n.strip() for n in m.group(1).split(",")}
        keep = lambda entries: tuple(t for t in entries if t.split(":", 1)[0] in mine)  # noqa: E731
        narrowed = dataclasses.replace(opts, input_shapes=keep(opts.input_shapes), input_dtypes=keep(opts.input_dtypes),
                                       value_ranges=keep(opts.value_ranges))
        if narrowed == opts:
            raise
        report = validate(source, [candidate], narrowed)
    bad = [c for c in report.candidates if c.error]
    if bad:
        raise UsageError(f"{source}: does not run on the validation inputs ({bad[0].error})")
    feeds, outs = load_golden(path)
    if not feeds or not feeds[0]:
        raise UsageError(f"{source}: the model has no inputs that modelport can see")
    return Golden(feeds, outs, report)


def judge(golden: Golden, answers: list[dict[str, np.ndarray]], *, label: str, fmt: str, runtime: str,
          options: InputOptions):
    """A CandidateResult for a server's answers (one dict per sample), output by output, by name."""
    from modelport.validators.metrics import compare_output, merge_samples
    from modelport.validators.results import CandidateResult, OutputResult
    from modelport.validators.tolerances import parse_tolerance_overrides, tolerance_for

    overrides = parse_tolerance_overrides(tuple(options.atol), tuple(options.rtol))
    per_output: dict[str, list[OutputResult]] = {}
    for ref_out, got in zip(golden.outputs, answers):
        for name, ref in ref_out.items():
            tol = tolerance_for(name, "fp32", overrides)
            if name not in got:
                r = OutputResult(name, "-", False, "missing: the server's answer has no output of this name", tol,
                                 severity=float("inf"))
            else:
                r = compare_output(np.asarray(ref), np.asarray(got[name]), tol, output=name, candidate_output=name,
                                   mapping="name")
            per_output.setdefault(name, []).append(r)
    result = CandidateResult(label, fmt, runtime, "cpu", "fp32", False)
    result.outputs = sorted((merge_samples(rs) for rs in per_output.values()), key=lambda r: -r.severity)
    result.passed = bool(result.outputs) and all(r.passed for r in result.outputs)
    return result


def report_for(source: str, source_format: str, golden: Golden, candidates: list, options: InputOptions,
               notes: list[str], versions: dict[str, str]):
    from modelport.validators.results import ValidationReport

    base = golden.report
    return ValidationReport(source, source_format, list(candidates), options.seed, len(golden.feeds), "cpu",
                            {**(getattr(base, "versions", None) or {}), **versions}, list(notes))


def with_candidate_label(result, label: str):
    return dataclasses.replace(result, path=label)
