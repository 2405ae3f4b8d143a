"""`convert_targets()`: one source to several formats in one run (`convert --to onnx,savedmodel,tflite`).

Three separate commands export a PyTorch model to ONNX three times and validate three times. Here
the targets' routes share their common prefix: targets are searched shortest route first, and a
later target's search starts from the longest chain an earlier one converted (pytorch -> onnx runs
once). Every chain is first converted, each edge worker judging its own artifact as `convert()`'s
do (modelport/pipeline/worker_validation.py), without the search acting on the verdicts; then the
artifacts no worker could judge, each once, are validated against the source in one worker; only a
target whose chain fails is searched again on its own with validation, so strategies and routes
still change until the numbers hold. When every first strategy succeeds this costs one conversion
per distinct step and no validation process. Each target gets its artifact and manifest exactly as
`convert()` writes them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from modelport.converters.strategies import edge_name, parse_forced
from modelport.errors import ConversionError, ModelportError, ParityError, UnavailableError, UsageError
from modelport.formats import detect
from modelport.pipeline.attempts import Link
from modelport.pipeline.convert import (DEFAULT_VALIDATION, Planned, absolute_inputs, parse_target, place_result,
                                        plan_conversion, planned_precision, raise_for_parity, search_route, source_defaults,
                                        search_routes, strategies_on_routes, validate_artifacts)
from modelport.pipeline.naming import default_output
from modelport.pipeline.options import ConvertOptions
from modelport.pipeline.progress import ProgressHook, StepTimer
from modelport.pipeline.results import ConvertResult
from modelport.pipeline.worker_validation import WorkerValidation, one_report
from modelport.placement import make_scratch
from modelport.types import Format
from modelport.validators.validate_options import ValidateOptions
from modelport.workers.spawn import Log


@dataclass
class MultiResult:
    source: str
    results: list[ConvertResult]  # one per target written, in the order the targets were given
    errors: dict[str, ModelportError] = field(default_factory=dict)  # target -> why it was not written or failed
    validation: dict[str, Any] | None = None  # one report for every artifact written (each named once)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "seconds": round(self.seconds, 3),
                "results": [r.to_dict() for r in self.results],
                "errors": {t: {"error": e.message, "exit_code": e.exit_code} for t, e in self.errors.items()},
                "validation": self.validation}

    def worst_error(self) -> ModelportError | None:
        """The error the command ends with: a conversion failure (its own code) before a parity failure (1)."""
        if not self.errors:
            return None
        return sorted(self.errors.values(), key=lambda e: isinstance(e, ParityError))[0]


def parse_targets(text: str | list | tuple) -> list[Format]:
    """"onnx,savedmodel,tflite" -> formats, in order; unknown or repeated names are a UsageError."""
    names = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if str(t).strip()]
    if not names:
        raise UsageError("--to needs a format (onnx, savedmodel, tflite, pytorch)")
    targets = []
    for name in names:
        fmt = parse_target(name, " in --to")
        if fmt in targets:
            raise UsageError(f"--to names {name} twice")
        targets.append(fmt)
    return targets


def target_options(options: ConvertOptions, target: Format, targets: list[Format]) -> ConvertOptions:
    """The options of one target: --quantize and the options that go with it (--calibration-data,
    --quantize-exclude, --fp16-io, --int8-activations) belong to the TFLite target, or to the ONNX one
    when there is no TFLite target; --pytorch-format to the PyTorch one, --via to the
    targets other than the format it names."""
    if options.route:
        raise UsageError("--route fixes one route to one target: give a single --to with it")
    quantized = Format.TFLITE if Format.TFLITE in targets else Format.ONNX if Format.ONNX in targets else None
    if options.quantize and quantized is None:
        raise UsageError("--quantize applies to a TFLite or ONNX output: add tflite or onnx to --to")
    changes: dict[str, Any] = {}
    if target != quantized:
        changes.update(quantize=None, calibration_data=None, quantize_exclude=(), fp16_io=False, int8_activations=None)
    if target != Format.PYTORCH:
        changes["pytorch_format"] = None
    if options.via and Format(options.via) == target:
        changes["via"] = None
    return dataclasses.replace(options, **changes)


def convert_targets(source: str, targets: str | list, output_dir: str | None = None,
                    options: ConvertOptions | None = None, *,
                    validation: ValidateOptions | None = DEFAULT_VALIDATION, log: Log | None = None,
                    progress: ProgressHook | None = None, outputs: dict[str, str] | None = None) -> MultiResult:
    """Convert `source` to every format in `targets`, each written to `output_dir` (default:
    beside the source) under its default name, or to `outputs[target]` where given (batch names
    them by job). Every check that can fail before the work fails for all targets at once
    (UsageError); a target that then fails is in `errors`, the others are written."""
    t_start = time.perf_counter()
    options = options or ConvertOptions()
    validation = absolute_inputs(validation)
    options, validation = source_defaults(source, options, validation)
    formats = parse_targets(targets)
    plans = []
    forced = parse_forced(options.strategies)
    source_format = detect(source, thorough=False).format if forced else None
    used: set[str] = set()
    for fmt in formats:
        opts = target_options(options, fmt, formats)
        if forced:  # each target takes the --strategy choices for the edges of its own routes
            mine = strategies_on_routes(options.strategies, source_format, fmt, opts)
            used |= {edge_name(t.partition("=")[0].strip()) for t in mine}
            opts = dataclasses.replace(opts, strategies=mine)
        out = default_output(source, fmt, opts.quantize, opts.pytorch_format)
        if output_dir:
            out = os.path.join(output_dir, os.path.basename(out.rstrip("/")))
        out = (outputs or {}).get(fmt.value, out)
        plans.append(plan_conversion(source, fmt, out, opts, validation))
    if set(forced) - used:
        raise UsageError(f"--strategy names {', '.join(sorted(set(forced) - used))}, which is not a step of any "
                         f"target's route")
    timer = StepTimer(progress)
    scratch = make_scratch(plans[0].out)
    results: dict[Format, ConvertResult] = {}
    errors: dict[str, ModelportError] = {}
    in_worker = WorkerValidation.for_conversion(plans[0].source_path, plans[0].edge_options, validation)
    try:
        found = _convert_all(plans, scratch, log, timer, errors, in_worker)
        judged, shared = (_validate_all(plans, found, validation, scratch, log, timer, in_worker)
                          if validation is not None else ({}, None))
        placed: list[tuple[list[Link], ConvertResult]] = []  # (its chain, its result) per target kept as found
        redone: list[ConvertResult] = []
        by_length = sorted(plans, key=lambda p: -len(found[p.target][0]) if p.target in found else 0)
        for planned in by_length:  # longest first: a shorter target's artifact may be a longer one's intermediate
            if planned.target not in found:
                continue
            route, search, tried = found[planned.target]
            report = judged.get(planned.target)
            alone = report is not None and not report["passed"]
            if alone:  # search this target again, on its own, validated
                where = os.path.join(scratch, f"{planned.target.value}-alone")
                os.makedirs(where)
                try:
                    route, search, report, tried = search_routes(planned, validation, where, log, timer, in_worker)
                except (ConversionError, UnavailableError) as e:
                    errors[planned.target.value] = e
                    continue
            result = place_result(planned, route, search, report, tried, t_start, copy_intermediates=True)
            results[planned.target] = result
            if alone:
                redone.append(result)
            else:
                placed.append((search.chain, result))
            try:
                raise_for_parity(result)
            except ParityError as e:
                errors[planned.target.value] = e
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ordered = [results[f] for f in formats if f in results]
    return MultiResult(source, ordered, {f.value: errors[f.value] for f in formats if f.value in errors},
                       _combined_report(shared, placed, redone), time.perf_counter() - t_start)


def _convert_all(plans: list[Planned], scratch: str, log: Log | None, timer: StepTimer,
                 errors: dict[str, ModelportError], in_worker: WorkerValidation | None) -> dict[Format, tuple]:
    """Every target converted (judged by its workers, not yet acted on), shortest planned route first, each starting from
    the longest chain converted so far that begins its planned route. A target whose search from a
    shared prefix fails is searched from the source (another exporter may serve its next step)."""
    chains: dict[tuple[str, ...], tuple[list[Link], list]] = {}  # edge names -> (links, their attempts)
    found: dict[Format, tuple] = {}
    for k, planned in enumerate(sorted(plans, key=lambda p: len(p.routes[0]))):
        where = os.path.join(scratch, f"target{k + 1}")
        os.makedirs(where)
        planned_route = planned.routes[0]
        names = tuple(e.name for e in planned_route)
        shared = next((chains[names[:n]] for n in range(len(names) - 1, 0, -1) if names[:n] in chains), None)
        result = None
        if shared is not None:
            links, attempts = shared
            try:
                search, _ = search_route(planned, planned_route, None, where, log, timer, prefix=links,
                                         in_worker=in_worker)
                search.attempts[:0] = attempts
                result = (planned_route, search, [])
            except (ConversionError, UnavailableError):
                result = None  # from the source, below
        if result is None:
            try:
                route, search, _, tried = search_routes(planned, None, where, log, timer, in_worker)
            except (ConversionError, UnavailableError) as e:
                errors[planned.target.value] = e
                continue
            result = (route, search, tried)
        found[planned.target] = result
        route, search = result[0], result[1]
        route_names = tuple(e.name for e in route)
        for n in range(1, len(search.chain) + 1):
            steps = set(range(n))
            chains.setdefault(route_names[:n], (search.chain[:n], [a for a in search.attempts if a.step in steps]))
    return found


def _validate_all(plans: list[Planned], found: dict[Format, tuple], validation: ValidateOptions, scratch: str,
                  log: Log | None, timer: StepTimer, in_worker: WorkerValidation | None
                  ) -> tuple[dict[Format, dict], dict | None]:
    """Every distinct artifact of every chain judged: by its own worker, or else (all of those
    together) in one validation run; each target's report, and one over every artifact."""
    artifacts: dict[str, tuple] = {}  # path -> (path, I/O map, precision, its link)
    for planned in plans:
        if planned.target not in found:
            continue
        chain = found[planned.target][1].chain
        for i, link in enumerate(chain):
            precision = planned_precision(planned) if i == len(chain) - 1 else "fp32"
            artifacts.setdefault(link.output, (link.output, link.io_map, precision, link))
    if not artifacts:
        return {}, None
    pending = [a for a in artifacts.values() if a[3].candidate is None]
    report = None
    if pending:
        reference = next(p for p in plans if p.target in found)
        report = validate_artifacts(reference, [a[:3] for a in pending], validation, scratch, log, timer)
        by_path = {c["path"]: c for c in report["candidates"]}
        for _, _, _, link in pending:
            link.candidate = dict(by_path[link.output])
    judged = {planned.target: one_report([dict(link.candidate) for link in found[planned.target][1].chain], report,
                                         in_worker)
              for planned in plans if planned.target in found}
    return judged, one_report([dict(a[3].candidate) for a in artifacts.values()], report, in_worker)


def _combined_report(shared: dict | None, placed: list[tuple[list[Link], ConvertResult]],
                     redone: list[ConvertResult]) -> dict | None:
    """One report over every artifact validated, each named once: the shared run's candidates under
    the name of the output they were written as (or as an intermediate step), then the candidates
    of the targets searched again on their own (named by their own report)."""
    names: dict[str, str] = {}
    for chain, result in placed:
        names[chain[-1].output] = result.output
    for chain, _ in placed:
        for link in chain[:-1]:
            names.setdefault(link.output, f"{link.edge.name} intermediate ({os.path.basename(link.output)})")
    candidates = [dict(c, path=names[c["path"]]) for c in (shared or {}).get("candidates", []) if c["path"] in names]
    candidates += [c for r in redone for c in (r.validation or {}).get("candidates", [])]
    base = shared or next((r.validation for r in redone if r.validation), None)
    if base is None:
        return None
    return dict(base, candidates=candidates, passed=all(c["passed"] for c in candidates))
