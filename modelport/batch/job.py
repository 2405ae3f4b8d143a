"""One `modelport batch` job in a process of its own: every target of one model, then its bench.

`modelport batch` starts `python -m modelport.batch.job JOB RESULT` in a new session (process
group) with a timeout, its output going to the job's log. A crash, a hang or an out-of-memory
kill ends this process (and the converter workers under it) without touching the other jobs; the
parent reports it from the missing RESULT. Each target is converted and validated by the same
code as `modelport convert` (modelport/pipeline/convert.py), into the job's output folder, atomically;
several targets run as `convert --to a,b` does, sharing their common steps and one validation.
A failure of one target does not stop the others.
"""

from __future__ import annotations

import os
import sys
import time


def _target_result(target: str, result, status: str, message: str, seconds: float) -> dict:
    validation = (result.validation or {}) if result is not None else {}
    worst = None
    for c in validation.get("candidates", []):
        for o in c.get("outputs", []):
            if worst is None or (o.get("severity") or 0) > (worst.get("severity") or 0):
                worst = {"artifact": c.get("path"), "output": o.get("output"), "passed": o.get("passed"),
                         "reason": o.get("reason"), "max_abs": o.get("max_abs"), "severity": o.get("severity")}
    return {"target": target, "status": status, "message": message,
            "output": result.output if result is not None else None,
            "manifest": result.manifest if result is not None else None, "seconds": round(seconds, 3),
            "route": result.route if result is not None else None,
            "validation": {"passed": validation.get("passed"), "worst": worst} if validation else None}


def convert_options(spec, target: str):
    """The job's manifest entry as `convert()`'s typed options for one target."""
    from modelport.pipeline.options import ConvertOptions

    quantized = target == spec.quantized_target()
    return ConvertOptions(via=spec.via, opset=spec.opset, quantize=spec.quantize if quantized else None,
                          calibration_data=spec.calibration_data if quantized else None,
                          quantize_exclude=tuple(spec.quantize_exclude) if quantized else (),
                          fp16_io=spec.fp16_io and quantized, int8_activations=spec.int8_activations if quantized else None,
                          input_shapes=tuple(spec.input_shapes), input_dtypes=tuple(spec.input_dtypes),
                          weights=spec.weights, task=spec.task,
                          pytorch_format=spec.pytorch_format if target == "pytorch" else None,
                          strategies=tuple(_strategies_for(spec.strategy, target, spec)), fallback=spec.fallback,
                          force=True)


def _strategies_for(strategies: list[str], target: str, spec) -> list[str]:
    """The manifest's forced strategies that are steps of this target's routes (a manifest names them
    once for all its targets; convert refuses one that is not on its route), as `--to a,b` keeps them."""
    from modelport.formats import detect
    from modelport.pipeline.convert import strategies_on_routes
    from modelport.pipeline.options import ConvertOptions
    from modelport.types import Format

    if not strategies:
        return []
    routing = ConvertOptions(via=spec.via, quantize=spec.quantize if target == spec.quantized_target() else None,
                             fallback=spec.fallback)
    return list(strategies_on_routes(strategies, detect(spec.source, thorough=False).format, Format(target), routing))


def validate_options(spec):
    """How the job validates each artifact, or None when the manifest says `validate: false`."""
    from modelport.validators.validate_options import ValidateOptions

    if not spec.validate:
        return None
    return ValidateOptions(device=spec.device, atol=tuple(spec.atol), rtol=tuple(spec.rtol), samples=spec.samples,
                           seed=spec.seed, value_ranges=tuple(spec.value_range), inputs=spec.inputs)


def convert_target(spec, target: str) -> dict:
    from modelport.errors import ModelportError
    from modelport.pipeline.convert import convert

    t0 = time.perf_counter()
    try:
        result = convert(spec.source, target, spec.output_for(target), convert_options(spec, target),
                         validation=validate_options(spec))
    except ModelportError as e:
        return _row(spec, target, None, e, time.perf_counter() - t0)
    return _row(spec, target, result, None, time.perf_counter() - t0)


def convert_all_targets(spec) -> list[dict]:
    """A job with several targets: one run of convert_targets (modelport/pipeline/multi.py), so the
    targets share their common steps (the export runs once) and one validation, as
    `convert --to a,b` does. Each target's row as convert_target() gives it."""
    from modelport.errors import ModelportError
    from modelport.pipeline.multi import convert_targets
    from modelport.pipeline.options import ConvertOptions

    t0 = time.perf_counter()
    options = ConvertOptions(via=spec.via, opset=spec.opset, quantize=spec.quantize,
                             calibration_data=spec.calibration_data, quantize_exclude=tuple(spec.quantize_exclude),
                             fp16_io=spec.fp16_io, int8_activations=spec.int8_activations,
                             input_shapes=tuple(spec.input_shapes),
                             input_dtypes=tuple(spec.input_dtypes), weights=spec.weights, task=spec.task,
                             pytorch_format=spec.pytorch_format,
                             # a manifest (its defaults too) names strategies once for all targets: keep those
                             # on some target's route, as convert_options() does for one target
                             strategies=tuple(dict.fromkeys(s for t in spec.targets
                                                            for s in _strategies_for(spec.strategy, t, spec))),
                             fallback=spec.fallback, force=True)
    try:
        multi = convert_targets(spec.source, list(spec.targets), None, options, validation=validate_options(spec),
                                outputs={t: spec.output_for(t) for t in spec.targets})
    except ModelportError as e:  # refused before any work: every target shares the reason
        return [_row(spec, t, None, e, time.perf_counter() - t0) for t in spec.targets]
    written = {r.output: r for r in multi.results}
    rows = []
    for target in spec.targets:
        result = written.get(spec.output_for(target))
        seconds = result.seconds if result is not None else time.perf_counter() - t0
        rows.append(_row(spec, target, result, multi.errors.get(target), seconds))
    return rows


def _row(spec, target: str, result, error, seconds: float) -> dict:
    """One target's row: valid (or converted), parity failed (written, marked failed), or conversion
    failed (its error printed to the job's log)."""
    from modelport.batch.results import CONVERSION_FAILED, CONVERTED, PARITY_FAILED, VALID
    from modelport.errors import ParityError

    if isinstance(error, ParityError):
        return _target_result(target, error.result, PARITY_FAILED, error.message, seconds)
    if error is not None:
        print(f"{target}: {type(error).__name__}: {error.message}\n{error.detail or ''}", flush=True)
        return _target_result(target, None, CONVERSION_FAILED, error.message, seconds)
    return _target_result(target, result, VALID if spec.validate else CONVERTED, f"route {result.route}", seconds)


def bench_outputs(spec, outputs: list[str], report_dir: str) -> dict:
    """`modelport bench` of the source and the written artifacts; files in <report_dir>/bench/."""
    from modelport.validators.bench.measure import bench
    from modelport.validators.bench.options import BenchOptions
    from modelport.validators.bench.reports import write_files

    opts = BenchOptions(**spec.bench, device=spec.device, input_shapes=tuple(spec.input_shapes),
                        input_dtypes=tuple(spec.input_dtypes), weights=spec.weights, task=spec.task,
                        labels={spec.source: f"{spec.name} source"})
    report = bench([spec.source, *outputs], opts)
    folder = os.path.join(report_dir, "bench")
    os.makedirs(folder, exist_ok=True)
    files = write_files(report, json_path=os.path.join(folder, f"{spec.name}.json"),
                        markdown_path=os.path.join(folder, f"{spec.name}.md"),
                        plot_path=os.path.join(folder, f"{spec.name}.png"), step_summary=False)
    rows = [{"label": r.label, "batch_size": r.batch_size, "status": r.status, "reason": r.reason,
             "runtime": r.runtime, "p50_ms": r.latency_ms.p50 if r.latency_ms else None,
             "samples_per_second": r.samples_per_second, "peak_rss_bytes": r.peak_rss_bytes} for r in report.results]
    return {**files, "results": rows}


def run(job: dict) -> dict:
    from modelport.batch.manifest import JobSpec
    from modelport.batch.results import CONVERTED, VALID
    from modelport.errors import ModelportError

    spec = JobSpec.from_dict(job["spec"])
    os.makedirs(spec.output_dir, exist_ok=True)
    targets = convert_all_targets(spec) if len(spec.targets) > 1 else [convert_target(spec, spec.targets[0])]
    out: dict = {"targets": targets}
    outputs = [t["output"] for t in targets if t["status"] in (VALID, CONVERTED) and t["output"]]
    if spec.bench is not None and outputs:
        try:
            out["bench"] = bench_outputs(spec, outputs, job["report_dir"])
        except ModelportError as e:  # a bench that cannot run is a note on a job whose conversions stand
            out["bench"] = {"error": e.message}
    return out


def main(job_path: str, result_path: str) -> int:
    from modelport.workers.shell import run_job

    return run_job(job_path, result_path, run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
