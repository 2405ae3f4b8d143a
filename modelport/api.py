"""modelport's Python API: what the CLI calls, and what scripts and batch drivers can call directly.

    from modelport.api import ConvertOptions, convert
    result = convert("fixtures/models.py:cnn", "tflite", "out/cnn.tflite",
                     ConvertOptions(input_shapes=("image:1,3,32,32",)))
    print(result.output, result.route, result.validation["passed"])

Each command has a function and typed options (dataclasses), built by the CLI from its flags:

| function | options | returns |
|---|---|---|
| `convert(source, to, output, ConvertOptions, validation=ValidateOptions or None)` | what to convert, how to validate it | `ConvertResult` |
| `convert_targets(source, ["onnx", "tflite"], output_dir, ConvertOptions, validation=...)` | several targets sharing their common steps and one validation | `MultiResult` |
| `validate(reference, candidates, ValidateOptions)` | how to validate | `ValidationReport` |
| `bench(models, BenchOptions)`, `bench_conversion(result, ConvertOptions, BenchOptions)` | how to bench | `BenchReport` |
| `run_batch(manifest, BatchOptions)` | how to run a batch | `(BatchReport, report folder)` |
| `locate(source, artifact, LocateOptions)` | mode, inputs, tolerances | `LocateReport` (`.first`: the first divergence) |

Every function raises a `ModelportError` subclass (with its exit code) on failure and never
leaves a half-written artifact behind. This module only gathers the entry points; the work is
done in modelport/pipeline (convert), validators/ (validate, bench) and modelport/batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from modelport import manifest
from modelport.batch.run import BatchOptions, run_batch
from modelport.errors import ModelportError
from modelport.pipeline.bench import bench_conversion
from modelport.pipeline.convert import convert
from modelport.pipeline.multi import MultiResult, convert_targets
from modelport.pipeline.naming import default_output
from modelport.pipeline.options import ConvertOptions
from modelport.pipeline.results import ConvertResult, StepReport
from modelport.validators.bench.measure import bench
from modelport.validators.bench.options import BenchOptions
from modelport.validators.bench.results import BenchReport
from modelport.validators.locate.options import LocateOptions
from modelport.validators.locate.results import LocateReport
from modelport.validators.results import ValidationReport
from modelport.validators.validate_options import ValidateOptions


def validate(reference: str | None, candidates: list[str], options: ValidateOptions) -> ValidationReport:
    """Run the same inputs through `reference` and every candidate and compare each output
    (`modelport validate`; with options.load_outputs, `reference` may be None)."""
    from modelport.workers import sandbox

    if sandbox.active():  # the runtimes run the models confined, in a worker (validators/confined.py)
        from modelport.validators.confined import validate_confined

        return validate_confined(reference, candidates, options)
    from modelport.validators import validation  # numpy and the runners: imported when used

    return validation.validate(reference, candidates, options)


def locate(source: str, artifact: str, options: LocateOptions | None = None) -> LocateReport:
    """The first tensor where `artifact` diverges from `source`, its conversion's source
    (`modelport locate`): both run on validate's first input, their tensors paired along the
    route in the artifact's manifest and compared in the source's topological order. Like
    validate, the models run in a confined worker when the sandbox is on."""
    import os
    import shutil
    import tempfile

    from modelport.formats import absolute_reference
    from modelport.workers import sandbox

    from modelport.errors import UsageError

    options = _recorded_inputs(artifact, (options or LocateOptions()).check())
    destination = options.repro
    if destination and os.path.lexists(destination):  # written in a scratch folder, moved into place only when whole
        raise UsageError(f"--repro {destination}: already exists; give a folder that does not")
    if destination and not os.path.isdir(os.path.dirname(os.path.abspath(destination))):
        raise UsageError(f"--repro {destination}: its parent folder does not exist")
    scratch = tempfile.mkdtemp(prefix="modelport-locate-")
    try:
        absolute = lambda p: os.path.abspath(p) if p else p  # noqa: E731
        opts = dataclasses.replace(options, inputs=absolute(options.inputs), weights=absolute(options.weights),
                                   repro=os.path.join(scratch, "repro") if destination else None)
        try:
            if opts.bisect:  # each probe is a conversion: run here, each conversion in its own workers
                from modelport.pipeline.locate_bisect import bisect

                report = bisect(source, artifact, opts, scratch)
            elif sandbox.active():
                from modelport.workers.sandbox import readable_paths
                from modelport.workers.spawn import run_worker

                src, art = absolute_reference(source), absolute_reference(artifact)
                reads = readable_paths(src) + readable_paths(art) + [p for p in (opts.inputs, opts.weights) if p]
                payload, _ = run_worker("modelport.validators.locate.worker", "locate", "location",
                                        {"source": src, "artifact": art, "options": opts.to_dict()}, scratch, None,
                                        reads=reads)
                report = LocateReport.from_dict(payload["report"])
                report.source, report.artifact = source, artifact  # as the user gave them
            else:
                from modelport.validators.locate.locate import locate as run

                report = run(source, artifact, opts)
        except UsageError as e:
            report = _bisect_fallback(e, source, artifact, opts, scratch)
        if destination and report.repro:
            shutil.move(opts.repro, destination)
        return report
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _bisect_fallback(error, source: str, artifact: str, opts: LocateOptions, scratch: str) -> LocateReport:
    """When no tensor of ARTIFACT pairs with one of SOURCE, locate bisects instead where it can (an
    ONNX source, a manifest with the route): re-converting prefixes of the source; else the error."""
    from modelport.pipeline.locate_bisect import bisect, why_not_bisectable
    from modelport.validators.locate.bisect import NOTHING_PAIRED

    if opts.bisect or NOTHING_PAIRED not in str(error) or why_not_bisectable(source, artifact):
        raise error
    report = bisect(source, artifact, dataclasses.replace(opts, bisect=True), scratch)
    report.notes.insert(0, f"no tensor pairs ({error}): bisected instead, re-converting prefixes of the source")
    return report


def _recorded_inputs(artifact: str, options: LocateOptions) -> LocateOptions:
    """The input shapes, dtypes, value ranges and weights the artifact's conversion used (its
    manifest), where the options give none: `modelport locate SOURCE ARTIFACT` runs both on the
    inputs the conversion was validated on, as the hint after a parity failure promises."""
    import os

    from modelport.converters.options import EdgeOptions
    from modelport.pipeline.route_validation import route_validation_options

    record = manifest.load(artifact)
    if not record or not record.get("options"):
        return options
    try:
        recorded = EdgeOptions.from_dict(record["options"])
    except (TypeError, KeyError):  # a manifest of another version: the options stand as given
        return options
    as_validated = route_validation_options(recorded, ValidateOptions())
    weights = recorded.weights if recorded.weights and os.path.isfile(recorded.weights) else None
    ranges = tuple(f"{k}:{lo},{hi}" for k, (lo, hi) in (recorded.value_ranges or {}).items())
    return dataclasses.replace(options, input_shapes=options.input_shapes or as_validated.input_shapes,
                               input_dtypes=options.input_dtypes or as_validated.input_dtypes,
                               value_ranges=options.value_ranges or ranges, weights=options.weights or weights)


def inspect_model(path: str) -> dict[str, Any]:
    """What `modelport inspect` shows: format, I/O signature, content summary, and the manifest if any.
    The model is read in a confined worker (converters/inspect_worker.py): loading it into its
    runtime is where a damaged file can crash the process."""
    import shutil
    import tempfile

    from modelport.formats import absolute_reference, detect
    from modelport.workers.sandbox import readable_paths
    from modelport.workers.spawn import run_worker

    # A missing file, an unknown format or a hostile archive: one line at once, no worker. Not the
    # thorough check, which parses a whole ONNX file: the worker's describe() does that.
    detect(path, thorough=False)
    absolute = absolute_reference(path)
    scratch = tempfile.mkdtemp(prefix="modelport-inspect-")
    try:
        payload, _ = run_worker("modelport.converters.inspect_worker", "inspect", "inspection", {"path": absolute},
                                scratch, None, reads=readable_paths(absolute))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    info = payload["info"]
    info["path"] = path
    info["manifest"] = manifest.load(path)
    info["dynamic_dims"] = _dynamic_dims(info)
    return info


def _dynamic_dims(info: dict[str, Any]) -> dict[str, Any]:
    """The inputs' dynamic dims ({tensor, axis, name}), and what the manifest's validation saw when it
    ran the artifact at other sizes of them (validators/dynamic_sizes.py; [] when it did not)."""
    import os

    from modelport.validators.dynamic_sizes import describe

    dims = [{"tensor": t["name"], "axis": i, "name": d} for t in info.get("inputs", [])
            for i, d in enumerate(t.get("shape") or []) if isinstance(d, str)]
    m = info.get("manifest") or {}
    candidates = (m.get("validation") or {}).get("candidates") or []
    name = os.path.basename(str((m.get("artifact") or {}).get("path", "")).rstrip("/"))
    # the artifact's own verdict: its path is the one the user gave, the others are named "... intermediate (...)"
    cand = next((c for c in candidates if os.path.basename(str(c.get("path", "")).rstrip("/")) == name),
                candidates[-1] if candidates else None)
    return {"inputs": dims, "proven": describe(cand.get("sizes") or []) if cand else []}


def formats_matrix() -> list[dict[str, Any]]:
    """Every (source, target) pair with its route, as `modelport formats` shows it."""
    from modelport.converters.planner import matrix

    return matrix()


__all__ = ["convert", "convert_targets", "MultiResult", "ConvertOptions", "ConvertResult", "StepReport", "default_output",
           "validate", "ValidateOptions", "ValidationReport",
           "bench", "bench_conversion", "BenchOptions", "BenchReport",
           "run_batch", "BatchOptions", "locate", "LocateOptions", "LocateReport", "inspect_model", "formats_matrix",
           "ModelportError"]
