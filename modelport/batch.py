"""`modelport batch MANIFEST`: many models, each job isolated, resumable, with reports for CI.

Flow: load and check the manifest (modelport/batch_manifest.py) -> decide per job whether it can
be skipped (resume) -> run the rest through an executor (modelport/batch_executors.py: local
processes or Ray tasks) -> record each result for the next resume -> reports
(modelport/batch_reports.py) and the exit code (the worst job's).

Resume: a job is skipped when its fingerprint (the resolved manifest entry, the sha256 of its
source, weights and calibration data, and the versions of modelport and the converter and
runtime libraries) equals the one recorded by its last run, that run was valid, and every
artifact is intact: its sha256 equals the one in its provenance manifest and in the record. A job
that failed is always redone. The record is `<output_dir>/<name>/.modelport-batch-job.json`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

import modelport
from modelport import manifest as provenance
from modelport.batch_manifest import JobSpec, load_manifest
from modelport.batch_results import (CONVERSION_FAILED, CONVERTED, NOT_RUN, PARITY_FAILED, SKIPPED, VALID,
                                     BatchReport, JobResult, TargetResult, worst)
from modelport.errors import UsageError
from modelport.placement import write_atomic

EXECUTORS = ("local", "ray")
RECORD = ".modelport-batch-job.json"
DEFAULT_REPORT_DIR = "modelport-report"
# Libraries whose version changes an artifact or a verdict (a new one redoes every job).
VERSIONED = ("torch", "onnx", "onnxruntime", "onnxscript", "onnxsim", "onnx2tf", "tensorflow", "tf-keras", "keras",
             "tf2onnx", "ai-edge-litert", "numpy", "protobuf")


@dataclass
class BatchOptions:
    jobs: int = 1
    only: tuple[str, ...] = ()
    report_dir: str | None = None
    resume: bool = True
    fail_fast: bool = False
    timeout: float | None = None
    executor: str = "local"
    ray_address: str | None = None


def tool_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"modelport": modelport.__version__}
    for dist in VERSIONED:
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "absent"
    return out


def _source_file(source: str) -> str | None:
    """The file whose content is the source: the path, or a callable's .py file or module file."""
    if os.path.exists(source):
        return source
    file_part = source.rsplit(":", 1)[0]
    if os.path.exists(file_part):
        return file_part
    try:
        import importlib.util

        spec = importlib.util.find_spec(file_part)  # package.module:callable (imports the parent packages only)
        return spec.origin if spec is not None and spec.origin and os.path.exists(spec.origin) else None
    except (ImportError, ValueError):
        return None


def fingerprint(spec: JobSpec, versions: dict[str, str]) -> str | None:
    """None when the source cannot be hashed (then the job is never skipped)."""
    src = _source_file(spec.source)
    if src is None:
        return None
    # The timeout decides how long to wait, not what comes out: changing it redoes nothing.
    data = {"spec": {k: v for k, v in spec.to_dict().items() if k != "timeout"}, "source_sha256": provenance.sha256_of(src),
            "weights_sha256": provenance.sha256_of(spec.weights) if spec.weights else None,
            "calibration_sha256": provenance.sha256_of(spec.calibration_data) if spec.calibration_data else None,
            "versions": versions}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _record_path(spec: JobSpec) -> str:
    return os.path.join(spec.output_dir, RECORD)


def resumable(spec: JobSpec, fp: str | None) -> JobResult | None:
    """The skipped result, when the last run of this exact job was valid and its artifacts are intact."""
    if fp is None or not os.path.isfile(_record_path(spec)):
        return None
    try:
        with open(_record_path(spec)) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != fp or record.get("status") not in (VALID, CONVERTED):
        return None
    targets = []
    for target in spec.targets:
        art = (record.get("artifacts") or {}).get(target)
        if not art or not os.path.exists(art["path"]):
            return None
        meta = provenance.load(art["path"]) or {}
        digest = provenance.sha256_of(art["path"])
        if digest != art.get("sha256") or digest != (meta.get("artifact") or {}).get("sha256"):
            return None
        targets.append(TargetResult(target, SKIPPED, "unchanged", output=art["path"],
                                    manifest=provenance.manifest_path(art["path"])))
    return JobResult(spec.name, spec.source, SKIPPED, targets, message=f"unchanged since its valid run of {record.get('finished')}",
                     fingerprint=fp)


def _write_record(spec: JobSpec, result: JobResult) -> None:
    path = _record_path(spec)
    if result.status not in (VALID, CONVERTED):
        if os.path.exists(path):
            os.remove(path)
        return
    artifacts = {}
    for t in result.targets:
        meta = provenance.load(t.output) if t.output else None
        artifacts[t.target] = {"path": t.output, "sha256": (meta or {}).get("artifact", {}).get("sha256")}
    write_atomic(path, json.dumps({"fingerprint": result.fingerprint, "status": result.status, "artifacts": artifacts,
                                   "finished": _now()}, indent=2) + "\n")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def job_result(spec: JobSpec, payload: dict, log: str, fp: str | None) -> JobResult:
    """A job's payload from its process (or the executor's error) as a JobResult."""
    seconds = payload.get("seconds")
    if "error" in payload:
        err = payload["error"]
        status = NOT_RUN if err["kind"] in ("not_run", "interrupted") else CONVERSION_FAILED
        targets = [TargetResult(t, status, err["message"]) for t in spec.targets]
        return JobResult(spec.name, spec.source, status, targets, message=err["message"], seconds=seconds, log=log,
                         fingerprint=fp)
    targets = [TargetResult.from_dict(t) for t in payload["targets"]]
    return JobResult(spec.name, spec.source, worst([t.status for t in targets]), targets, seconds=seconds, log=log,
                     bench=payload.get("bench"), fingerprint=fp)


def run_batch(manifest_path: str, opts: BatchOptions, on_event: Callable[[str, str, JobResult | None], None] | None = None
              ) -> tuple[BatchReport, str]:
    """Run the batch; return the report and the report folder. on_event(kind, name, result) is
    called with kind "planned", "skipped", "started" or "done" for a live display."""
    if opts.executor not in EXECUTORS:
        raise UsageError(f"--executor {opts.executor}: expected one of {', '.join(EXECUTORS)}")
    if opts.jobs < 1:
        raise UsageError(f"-j {opts.jobs}: expected at least 1")
    if opts.timeout is not None and opts.timeout <= 0:
        raise UsageError(f"--timeout {opts.timeout}: expected a positive number of seconds")
    m = load_manifest(manifest_path)
    specs = m.jobs
    if opts.only:
        names = {s.name for s in specs}
        unknown = [n for n in opts.only if n not in names]
        if unknown:
            raise UsageError(f"--only {', '.join(unknown)}: not in {manifest_path} (models: {', '.join(sorted(names))})")
        specs = [s for s in specs if s.name in opts.only]
    report_dir = os.path.abspath(opts.report_dir or os.path.join(os.path.dirname(m.path), DEFAULT_REPORT_DIR))
    try:
        os.makedirs(os.path.join(report_dir, "logs"), exist_ok=True)
    except OSError as e:
        raise UsageError(f"--report-dir {report_dir}: cannot create it ({e.strerror})") from None
    emit = on_event or (lambda kind, name, result: None)
    t_start = time.perf_counter()
    versions = tool_versions()
    report = BatchReport(manifest=m.path, versions=versions, created=_now(), modelport_version=modelport.__version__,
                         options={"jobs": opts.jobs, "only": list(opts.only), "resume": opts.resume,
                                  "fail_fast": opts.fail_fast, "timeout": opts.timeout, "executor": opts.executor,
                                  "ray_address": opts.ray_address, "report_dir": report_dir})
    results: dict[str, JobResult] = {}
    pending, fps = [], {}
    for spec in specs:  # every job first, so a live display knows the total before the first skip
        emit("planned", spec.name, None)
    for spec in specs:
        fps[spec.name] = fingerprint(spec, versions)
        skipped = resumable(spec, fps[spec.name]) if opts.resume else None
        if skipped is not None:
            results[spec.name] = skipped
            emit("skipped", spec.name, skipped)
        else:
            pending.append({"spec": spec.to_dict(), "report_dir": report_dir, "timeout": spec.timeout or opts.timeout,
                            "log": os.path.join(report_dir, "logs", f"{spec.name}.log")})
    by_name = {s.name: s for s in specs}
    stop = threading.Event()
    lock = threading.Lock()

    def started(job: dict) -> None:
        emit("started", job["spec"]["name"], None)

    def done(job: dict, payload: dict) -> None:
        spec = by_name[job["spec"]["name"]]
        result = job_result(spec, payload, os.path.relpath(job["log"], report_dir), fps[spec.name])
        with lock:
            results[spec.name] = result
            if result.status == NOT_RUN:
                result.log = None
            _write_record(spec, result)
            if opts.fail_fast and result.status in (CONVERSION_FAILED, PARITY_FAILED):
                stop.set()
        emit("done", spec.name, result)

    try:
        if pending:
            if opts.executor == "ray":
                from modelport.batch_executors import run_ray

                run_ray(pending, opts.jobs, opts.ray_address, stop, started, done)
            else:
                from modelport.batch_executors import run_local

                run_local(pending, opts.jobs, stop, started, done)
    except KeyboardInterrupt:
        report.interrupted = True
    for spec in specs:
        if spec.name not in results:
            results[spec.name] = JobResult(spec.name, spec.source, NOT_RUN,
                                           [TargetResult(t, NOT_RUN, "not run") for t in spec.targets],
                                           message="not run (interrupted)" if report.interrupted else "not run")
    report.jobs = [results[s.name] for s in specs]
    report.seconds = round(time.perf_counter() - t_start, 3)
    return report, report_dir
