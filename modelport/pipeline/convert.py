"""`convert()`: plan the route, run each edge in a worker, validate every artifact, place the result.

Every edge runs isolated (modelport/pipeline/edge_worker.py) and its artifact is smoke-run before
the next step starts; with validation (the default) the final artifact and every intermediate one
are compared with the source, each by the worker that wrote it where it can
(modelport/pipeline/worker_validation.py), else in one more worker. Each edge's strategies are tried in turn until
the chain converts and passes (modelport/pipeline/attempts.py). Everything is written in a scratch folder beside
the output and moved into place at the end, with its provenance manifest: after an error nothing
half-written is left. A failing artifact is still written, marked failed in its manifest, and
ParityError (exit 1) is raised after it is in place.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass

from modelport import manifest
from modelport.converters.job import EdgeJob, EdgeResult
from modelport.converters.options import EdgeOptions, build_options
from modelport.converters.planner import Edge, alternative_routes, parse_route, plan, route_text
from modelport.converters.strategies import parse_forced, plan_strategies
from modelport.errors import ConversionError, NotApplicable, ParityError, UnavailableError, UsageError
from modelport.formats import Detected, absolute_reference, detect
from modelport.layers import python_for
from modelport.pipeline.naming import default_output, kept_name, step_name
from modelport.pipeline.attempts import Link, StrategySearch, candidate_reason
from modelport.pipeline.options import ConvertOptions, check_validation_fields
from modelport.pipeline.progress import ProgressHook, StepTimer
from modelport.pipeline.results import ConvertResult, StepReport
from modelport.pipeline.worker_validation import WorkerValidation, one_report
from modelport.placement import check_free, make_scratch, place, write_atomic
from modelport.types import QUANTIZE_PRESET, TARGET_FORMATS, Format, IOMap
from modelport.validators.validate_options import ValidateOptions
from modelport.workers import attempt_timeout
from modelport.workers.sandbox import readable_paths
from modelport.workers.spawn import Log, run_worker

DEFAULT_VALIDATION = ValidateOptions()  # frozen: never changed in place


@dataclass(frozen=True)
class Planned:
    """One conversion, checked and planned before any work: what convert() and convert_targets()
    (modelport/pipeline/multi.py) run."""

    source: str
    source_path: str  # absolute: workers run elsewhere
    detected: Detected
    target: Format
    options: ConvertOptions
    edge_options: EdgeOptions
    routes: list[list[Edge]]  # the planned route first, then the alternatives
    forced: dict[str, str]
    out: str


def convert(source: str, to: str | Format, output: str | None = None, options: ConvertOptions | None = None, *,
            validation: ValidateOptions | None = DEFAULT_VALIDATION, log: Log | None = None,
            progress: ProgressHook | None = None) -> ConvertResult:
    """Convert `source` to format `to` (written to `output`, default beside the source).

    `validation=None` skips the parity check (--no-validate); otherwise its device, tolerances,
    samples, seed, value ranges, inputs and preset are used as by `validate()`. `log`, when given,
    is called with each worker's captured output (for --verbose); `progress`, when given, with a
    StepEvent as each step (an edge's strategy, a validation run) starts and ends.
    """
    t_start = time.perf_counter()
    validation = absolute_inputs(validation)
    options, validation = source_defaults(source, options or ConvertOptions(), validation)
    planned = plan_conversion(source, to, output, options, validation)
    scratch = make_scratch(planned.out)
    in_worker = WorkerValidation.for_conversion(planned.source_path, planned.edge_options, validation)
    try:
        route, found, report, routes_tried = search_routes(planned, validation, scratch, log, StepTimer(progress),
                                                           in_worker)
        result = place_result(planned, route, found, report, routes_tried, t_start)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    raise_for_parity(result)
    return result


def plan_conversion(source: str, to: str | Format, output: str | None, options: ConvertOptions,
                    validation: ValidateOptions | None) -> Planned:
    """Every check that can fail before the work (bad options, an unknown source, an output that
    exists), and the routes to try."""
    from modelport.validators.inputs import parse_value_range

    target = parse_target(to)
    edge_options = build_options(input_shapes=options.input_shapes, input_dtypes=options.input_dtypes,
                                 opset=options.opset, quantize=options.quantize,
                                 calibration_data=options.calibration_data, quantize_exclude=options.quantize_exclude,
                                 fp16_io=options.fp16_io, int8_activations=options.int8_activations,
                                 weights=options.weights,
                                 pytorch_format=options.pytorch_format, task=options.task,
                                 value_ranges=dict(parse_value_range(t) for t in smoke_value_ranges(source, options, validation)))
    if validation is not None:
        _check_validation(validation)
    detected = detect(source, thorough=False)
    if options.weights and (detected.flavor not in ("callable", "package") or detected.format != Format.PYTORCH):
        raise UsageError("--weights applies to PyTorch file.py:callable sources and PyTorch packages only"
                         + (" (a Keras callable loads its own weights: model.load_weights in the callable)"
                            if detected.format == Format.KERAS else ""))
    if options.task and detected.flavor != "hf_folder":
        raise UsageError("--task applies to Hugging Face model folders only (config.json and weights)")
    if detected.flavor == "hf_folder" and target == Format.PYTORCH and not (options.via or options.route):
        # A Hugging Face folder is PyTorch code and weights; a PyTorch artifact of it (an
        # ExportedProgram, or --pytorch-format) is written from its ONNX export.
        options = dataclasses.replace(options, via=Format.ONNX.value)
    routes = routes_for(detected.format, target, options)
    if options.pytorch_format and target != Format.PYTORCH:
        raise UsageError("--pytorch-format applies to --to pytorch only")
    if options.quantize_exclude and target != Format.ONNX:
        raise UsageError("--quantize-exclude applies to an ONNX output (ONNX Runtime's quantizers leave named nodes "
                         "in float); TFLiteConverter quantizes a whole TFLite model")
    if options.int8_activations and target != Format.ONNX:
        raise UsageError("--int8-activations applies to an ONNX output (ONNX Runtime's static quantizer); "
                         "TFLiteConverter's int8 has int8 activations")
    if options.fp16_io and target != Format.ONNX:
        raise UsageError("--fp16-io applies to an ONNX output (ONNX Runtime's float16 converter); TFLiteConverter's "
                         "fp16 keeps float32 inputs and outputs")
    out = output or default_output(source, target, options.quantize, options.pytorch_format)
    check_free(out, options.force)
    forced = parse_forced(options.strategies)
    unused = set(forced) - {e.name for r in routes for e in r}
    if unused:
        raise UsageError(f"--strategy names {', '.join(sorted(unused))}, which is not a step of the route "
                         f"{route_text(routes[0])}")
    if options.keep_intermediates:  # refuse before the work, not after it
        for i, edge in enumerate(routes[0][:-1]):
            check_free(kept_name(out, step_name(i, edge)), options.force)
    return Planned(source, absolute_reference(source), detected, target, options, edge_options, routes, forced, out)


def place_result(planned: Planned, route: list[Edge], found, report: dict | None, routes_tried: list[dict],
                 t_start: float, copy_intermediates: bool = False) -> ConvertResult:
    """Move the winning chain's artifact into place with its provenance manifest; the result.
    `copy_intermediates`: kept intermediates are copied, not moved (another target's chain holds them)."""
    source, options, out = planned.source, planned.options, planned.out
    chain = found.chain
    steps = [StepReport(link.edge.name, link.result.converter, round(link.seconds, 3), link.result.details,
                        link.result.notes, link.smoke, link.strategy,
                        [a.to_dict() for a in found.attempts if a.step == k])
             for k, link in enumerate(chain)]
    io_map = chain[-1].io_map
    current = chain[-1].output
    step_outputs = [link.output for link in chain]
    if report is not None:
        report = copy.deepcopy(report)  # renamed below; the caller's copy may serve another target
        if chain[-1].candidate.get("settled_io_map"):  # ambiguous layouts, settled by running (trap 12)
            io_map = IOMap.from_dict(chain[-1].candidate["settled_io_map"])
            steps[-1].notes.extend(chain[-1].candidate.get("layout_evidence", []))
        steps[-1].notes.extend(chain[-1].candidate.get("reference_evidence", []))  # judged against float64
        names = {p: (out if p == current else f"{route[i].name} intermediate ({os.path.basename(p)})")
                 for i, p in enumerate(step_outputs)}
        for c in report["candidates"]:
            c["path"] = names.get(c["path"], c["path"])
    detected = planned.detected
    record = manifest.build(
        source={"path": os.path.abspath(source) if os.path.exists(source) else source,
                "format": detected.format.value, "flavor": detected.flavor,
                "sha256": manifest.sha256_of(source.split(":")[0] if detected.flavor == "callable" else source),
                "weights_sha256": manifest.sha256_of(options.weights) if options.weights else None},
        artifact={"path": os.path.abspath(out), "format": planned.target.value, "sha256": None},  # once placed
        route=route_text(route), steps=[vars(s) for s in steps], options=planned.edge_options.to_dict(),
        io_map=io_map.to_dict(),
    )
    record["validation"] = report
    if len(routes_tried) > 1:
        record["routes_tried"] = routes_tried
    intermediates = (_keep_intermediates(step_outputs[:-1], out, options.force, copy_intermediates)
                     if options.keep_intermediates else [])
    place(current, out, os.path.dirname(current))
    # hashed as placed: placing an ONNX model with external data renames the data file it names
    record["artifact"]["sha256"] = manifest.sha256_of(out)
    write_atomic(manifest.manifest_path(out), json.dumps(record, indent=2) + "\n")
    return ConvertResult(source, out, manifest.manifest_path(out), route_text(route), steps, io_map,
                         time.perf_counter() - t_start, intermediates, report, routes_tried)


def raise_for_parity(result: ConvertResult) -> None:
    """ParityError (exit 1) when the written artifact, or an intermediate one, fails parity."""
    report = result.validation
    if report is not None and not report["passed"]:
        worst = next(c for c in report["candidates"] if not c["passed"])
        from modelport.validators.locate.options import locate_hint

        hint = locate_hint(result.source, result.output, result.route.split("->")[-1].strip()) \
            if worst["path"] == result.output else ""
        raise ParityError(f"{result.output} was written but fails parity with the source ({worst['path']}: "
                          f"{candidate_reason(worst)}); marked failed in {result.manifest}{hint}", result=result)


def routes_for(src: Format, target: Format, options: ConvertOptions) -> list[list[Edge]]:
    """The routes to try, in order: --route alone, or the planned one and then (with fallback)
    the alternatives through other libraries (converters/planner.py)."""
    via = parse_target(options.via) if options.via else None
    if options.route:
        if via is not None:
            raise UsageError("--route and --via both fix the route: give one of them")
        return [parse_route(options.route, src, target, quantize=options.quantize)]
    planned = plan(src, target, via=via, quantize=options.quantize)
    return [planned] + (alternative_routes(src, target, via=via, quantize=options.quantize) if options.fallback else [])


def strategies_on_routes(strategies: tuple[str, ...] | list[str], src: Format, target: Format,
                         options: ConvertOptions) -> tuple[str, ...]:
    """The --strategy choices (EDGE=STRATEGY) that name an edge of one of this target's routes, the
    planned one or an alternative: a list given once for several targets (`--to a,b`, a batch
    manifest) keeps for each target what applies to it."""
    from modelport.converters.strategies import edge_name

    edges = {e.name for r in routes_for(src, target, options) for e in r}
    return tuple(t for t in strategies if edge_name(t.partition("=")[0].strip()) in edges)


def search_routes(planned: Planned, validation: ValidateOptions | None, scratch: str, log: Log | None,
                  timer: StepTimer, in_worker: WorkerValidation | None = None):
    """Search each route in turn until one converts and passes: (route, search result, report,
    one {route, outcome, reason} per route tried). `in_worker`: the edge workers validate their
    own artifacts (modelport/pipeline/worker_validation.py). When every route converts but fails parity,
    the planned route's artifact is the one kept (and marked failed); when none converts, the
    planned route's error is raised, with what the others met."""
    tried: list[dict] = []
    kept = None
    errors: list[ConversionError | UnavailableError] = []
    for k, route in enumerate(planned.routes):
        where = scratch if k == 0 else os.path.join(scratch, f"route{k + 1}")
        os.makedirs(where, exist_ok=True)
        try:
            found, report = search_route(planned, route, validation, where, log, timer, in_worker=in_worker)
        except (ConversionError, UnavailableError) as e:
            errors.append(e)
            tried.append({"route": route_text(route), "outcome": "failed", "reason": e.message})
            continue
        passed = report is None or report["passed"]
        reason = "" if passed else next((candidate_reason(c) for c in report["candidates"] if not c["passed"]), "")
        tried.append({"route": route_text(route), "outcome": ("converted" if report is None else "passed") if passed
                      else "parity failed", "reason": reason})
        if passed:
            return route, found, report, tried
        kept = kept or (route, found, report)
    if kept is not None:
        return (*kept, tried)
    first = errors[0]
    if len(errors) > 1:
        others = "; ".join(f"route {t['route']}: {t['reason'][:200]}" for t in tried[1:])
        # The planned route's error keeps its kind (and exit code); the alternatives' reasons follow it.
        first.message = f"{first.message} (and the alternative {others})"
        first.attempts = [a for e in errors for a in (getattr(e, "attempts", None) or [])] or first.attempts
    raise first


def search_route(planned: Planned, route: list[Edge], validation: ValidateOptions | None, scratch: str,
                 log: Log | None, timer: StepTimer, prefix: list[Link] | None = None,
                 in_worker: WorkerValidation | None = None):
    """Run the route's strategy search (modelport/pipeline/attempts.py) with this conversion's edge
    workers and validation worker; return (its result, the winning chain's validation report or None).
    `prefix`: links already converted for the route's first steps (by another target's search).
    `in_worker`: each edge worker also judges its artifact; only what it leaves unjudged (a failure
    a later step's worker cannot re-judge in float64) goes to the validation worker. It also
    serves a search without validation (`validation` None: multi-target conversion judges later)."""
    reports: list[dict] = []
    strategies = [plan_strategies(edge.name, planned.forced, planned.options.fallback) for edge in route]

    def run_edge(edge, strategy, src, fmt, flavor, step_out, io_map):
        step = route.index(edge)
        step_options = _options_for_step(edge, planned.edge_options, io_map, scratch)
        spec = None
        if in_worker is not None and edge.layer is None:  # a layer's runtimes may differ from the validator's
            spec = in_worker.spec(io_map, planned_precision(planned) if step == len(route) - 1 else "fp32")
        label = f"step {step + 1} {edge.name} ({strategy})"
        key, t0 = timer.started(label), time.perf_counter()
        outcome = "failed"
        try:
            result, smoke, seconds, verdict = _run_edge(edge, strategy, src, fmt, flavor, step_out, step_options,
                                                        scratch, log, scan=src == planned.source_path,
                                                        validation=spec,
                                                        reads=in_worker.reads(spec) if in_worker else [])
            candidate = in_worker.take(verdict) if in_worker is not None else None
            outcome = ("converted" if candidate is None else
                       "converted, passed" if candidate["passed"] else "converted, parity failed")
            return result, smoke, seconds, candidate
        except NotApplicable:
            outcome = "skipped"
            raise
        finally:
            timer.finished(key, label, outcome, time.perf_counter() - t0)

    def validate(artifacts):
        last = len(route) - 1
        report = validate_artifacts(planned, [(p, m, planned_precision(planned) if k == last else "fp32")
                                              for p, m, k in artifacts], validation, scratch, log, timer)
        reports.append(report)
        return report["candidates"]

    search = StrategySearch(route, strategies, run_edge, validate if validation is not None else None, scratch)
    found = search.run(planned.source_path, planned.detected.format, planned.detected.flavor, prefix=prefix)
    if validation is None:
        return found, None
    # The chain's artifacts may have been judged in different validation runs (and workers): one report.
    return found, one_report([dict(link.candidate) for link in found.chain], reports[-1] if reports else None,
                             in_worker)


def planned_precision(planned: Planned) -> str:
    """The tolerance preset of the route's last artifact (its earlier ones are fp32)."""
    return QUANTIZE_PRESET.get(planned.options.quantize or "", "fp32")


def validate_artifacts(planned: Planned, artifacts: list[tuple[str, IOMap, str]], validation: ValidateOptions,
                       scratch: str, log: Log | None, timer: StepTimer) -> dict:
    """One validation run of (path, I/O map from the source, precision) against the source."""
    from modelport.pipeline.route_validation import validate_route

    label = f"validation of {len(artifacts)} artifact{'s' if len(artifacts) > 1 else ''}"
    key, t0 = timer.started(label), time.perf_counter()
    outcome = "error"
    try:
        report = validate_route(planned.source_path, planned.edge_options, artifacts, validation, scratch, log)
        outcome = "passed" if all(c["passed"] for c in report["candidates"]) else "parity failed"
    finally:
        timer.finished(key, label, outcome, time.perf_counter() - t0)
    return report


TARGETS = TARGET_FORMATS  # what convert writes (not Keras)


def parse_target(to: str | Format, where: str = "") -> Format:
    """A target format by name; UsageError for an unknown name or a format convert cannot write."""
    try:
        fmt = Format(to)
    except ValueError:
        fmt = None
    if fmt not in TARGETS:
        raise UsageError(f"unknown format {getattr(to, 'value', to)!r}{where} (choose from "
                         f"{', '.join(t.value for t in TARGETS)})")
    return fmt


def source_defaults(source: str, options: ConvertOptions, validation: ValidateOptions | None
                    ) -> tuple[ConvertOptions, ValidateOptions | None]:
    """A Hugging Face model folder's own inputs where the user named none: its input shapes (dynamic
    batch and sequence, traced and validated at 2 x 16) and id ranges (within the vocabulary), read
    from its config.json (modelport/hf_folders.py), for options.task if given. Other sources are
    returned unchanged."""
    from modelport.hf_folders import default_input_shapes, default_value_ranges, folder_of

    folder = folder_of(source, options.task)
    if folder is None:
        return options, validation
    options = dataclasses.replace(options, input_shapes=default_input_shapes(folder, tuple(options.input_shapes)))
    if validation is not None:
        validation = dataclasses.replace(validation, value_ranges=default_value_ranges(folder, tuple(validation.value_ranges)))
    return options, validation


def smoke_value_ranges(source: str, options: ConvertOptions, validation: ValidateOptions | None) -> tuple[str, ...]:
    """The value ranges the smoke runs draw inputs from: the validation's, and without one
    (--no-validate) a Hugging Face folder's own (its ids within the vocabulary), so an artifact is
    not run on ids its embedding tables do not hold."""
    from modelport.hf_folders import default_value_ranges, folder_of

    given = tuple(validation.value_ranges) if validation is not None else ()
    folder = folder_of(source, options.task) if validation is None else None
    return default_value_ranges(folder, given) if folder is not None else given


def absolute_inputs(validation: ValidateOptions | None) -> ValidateOptions | None:
    """The validation with its --inputs path made absolute (the workers run in the scratch
    folder); UsageError when it does not exist, before any work."""
    if validation is None or not validation.inputs:
        return validation
    if not os.path.exists(validation.inputs):
        raise UsageError(f"--inputs {validation.inputs}: no such file or folder")
    return dataclasses.replace(validation, inputs=os.path.abspath(validation.inputs))


def _check_validation(validation: ValidateOptions) -> None:
    """Bad tolerances or sample counts fail before any work, not after minutes of converting."""
    from modelport.validators.inputs import parse_value_range
    from modelport.validators.tolerances import parse_tolerance_overrides

    check_validation_fields(validation)
    parse_tolerance_overrides(tuple(validation.atol), tuple(validation.rtol))
    for text in validation.value_ranges:
        parse_value_range(text)
    if validation.samples < 1:
        raise UsageError("--samples must be at least 1")


def _options_for_step(edge: Edge, options: EdgeOptions, io_map: IOMap | None, scratch: str) -> EdgeOptions:
    """Quantization belongs to the quantizing edge only; weights to the PyTorch edge only.

    Calibration data is given in the source's terms (names, NCHW); when earlier steps renamed or
    permuted the inputs, it is remapped through the I/O map so far, e.g. NCHW -> NHWC.
    """
    from modelport.pipeline.calibration import remap_calibration

    step = dataclasses.replace(options)
    if not edge.quantizes:
        step.quantize, step.calibration_data, step.quantize_exclude = None, None, []
    elif options.calibration_data and io_map is not None:
        step.calibration_data = remap_calibration(options.calibration_data, io_map, scratch)
    if edge.source != Format.PYTORCH:
        step.weights, step.task = None, None
    return step


def _keep_intermediates(paths: list[str], out: str, force: bool, copy_them: bool = False) -> list[str]:
    kept = []
    for p in paths:
        dest = kept_name(out, os.path.basename(p))
        check_free(dest, force)
        if copy_them:  # another target's chain holds the same file: it must stay where it is
            # under the same name, in a folder of its own: an ONNX model names its data file by it
            staged = os.path.join(p.rstrip("/") + ".copy", os.path.basename(p.rstrip("/")))
            os.makedirs(os.path.dirname(staged))
            (shutil.copytree if os.path.isdir(p) else shutil.copy2)(p, staged)
            if os.path.exists(p + ".data"):
                shutil.copy2(p + ".data", staged + ".data")
            p = staged
        place(p, dest, os.path.dirname(p))
        kept.append(dest)
    return kept


def _run_edge(edge: Edge, strategy: str, src: str, src_fmt: Format, flavor: str | None, out: str,
              options: EdgeOptions, scratch: str, log: Log | None, scan: bool = False,
              validation: dict | None = None, reads: list[str] = ()
              ) -> tuple[EdgeResult, dict | None, float, dict | None]:
    """(the edge's result, its smoke run, seconds, its own verdict when `validation` asked for one)."""
    job = EdgeJob(edge=edge.name, module=edge.module, source=src, source_format=src_fmt.value, source_flavor=flavor,
                  target_format=edge.target.value, output=out, options=options, strategy=strategy, scan_source=scan)
    stem = os.path.join(os.path.basename(os.path.dirname(out)), edge.name)  # one log per attempt
    reads = readable_paths(src) + [p for p in (options.weights, options.calibration_data) if p] + list(reads)
    payload, seconds = run_worker("modelport.pipeline.edge_worker", edge.name, f"{edge.library} converter",
                                  dict(job.to_dict(), validation=validation), scratch, log, stem=stem,
                                  python=python_for(edge.layer), reads=reads, timeout=attempt_timeout.limit())
    return EdgeResult.from_dict(payload["edge"]), payload.get("smoke"), seconds, payload.get("validation")
