"""`modelport batch MANIFEST`: many models, each job isolated, resumable, with reports for CI.

Flow: load and check the manifest (modelport/batch/manifest.py) -> decide per job whether it can
be skipped (modelport/batch/resume.py) -> run the rest through an executor
(modelport/batch/executors.py: local processes or Ray tasks, each job being
modelport/batch/job.py) -> record each result for the next resume -> reports
(modelport/batch/reports.py) and the exit code (the worst job's).
"""

from __future__ import annotations

import datetime as _dt
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

import modelport
from modelport.batch.manifest import JobSpec, load_manifest
from modelport.batch.results import (CONVERSION_FAILED, NOT_RUN, PARITY_FAILED, BatchReport, JobResult,
                                     TargetResult, worst)
from modelport.batch.resume import fingerprint, resumable, tool_versions, write_record
from modelport.errors import UsageError

EXECUTORS = ("local", "ray")
DEFAULT_REPORT_DIR = "modelport-report"


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
            write_record(spec, result, _now())
            if opts.fail_fast and result.status in (CONVERSION_FAILED, PARITY_FAILED):
                stop.set()
        emit("done", spec.name, result)

    try:
        if pending:
            if opts.executor == "ray":
                from modelport.batch.executors import run_ray

                run_ray(pending, opts.jobs, opts.ray_address, stop, started, done)
            else:
                from modelport.batch.executors import run_local

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
