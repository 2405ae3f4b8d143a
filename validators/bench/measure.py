"""`modelport bench`: every artifact × batch size measured under one method, each in its own process.

The method (README, "How bench measures"): a worker process per artifact and batch size
(validators/bench/worker.py) imports the runtime, loads the model, builds the same inputs as every
other artifact (validators/bench/feed.py), times the first inference, warms up for at least N
calls and S seconds, then times single inferences for at least --runs calls and --duration
seconds (capped by --max-duration). The thread count is the same in every runtime (default: the
cores this process may use) and recorded. --order random shuffles the jobs (seeded);
--order interleaved keeps every worker alive and measures them in rounds, one at a time, so a
drift of the machine (thermal, a background job) spreads over all artifacts instead of one.
With a baseline (BenchOptions.baseline) the run is compared with it (validators/bench/regression.py).
"""

from __future__ import annotations

import datetime as _dt
import os
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Callable

import modelport
from modelport.errors import UsageError
from modelport.types import Format
from modelport.workers.sandbox import readable_paths
from modelport.validators.bench.options import BenchOptions, check, parsed_inputs
from modelport.validators.bench.results import ERROR, OK, SKIPPED, BenchReport, BenchResult
from modelport.validators.bench.worker_client import Worker

INTERLEAVED_ROUNDS = 10
LOAD_TIMEOUT = 900.0  # seconds for import + load + warm-up before a worker counts as hung


def _labels(models: list[str], given: dict[str, str]) -> dict[str, str]:
    """The file name, unless two models share it (then the path as given)."""
    names = {m: given.get(m) or os.path.basename(m.rstrip("/")) for m in models}
    counts: dict[str, int] = {}
    for n in names.values():
        counts[n] = counts.get(n, 0) + 1
    return {m: (n if counts[n] == 1 or m in given else m) for m, n in names.items()}


@dataclass
class _Job:
    model: str
    label: str
    batch_size: int | None
    result: BenchResult
    worker: Worker | None = None
    latencies: list[int] = field(default_factory=list)
    gpu: str | None = None  # the device's name, when a worker ran on one
    backend: str | None = None  # a TF.js model's Node backend


def bench(models: list[str], opts: BenchOptions, progress: Callable[[str], None] | None = None) -> BenchReport:
    """Measure every model at every batch size; errors and skips are rows of the report, not raises."""
    from modelport.formats import detect
    from modelport.manifest import size_on_disk
    from modelport.validators.bench.machine import machine_info, usable_cores
    from modelport.validators.bench.regression import compare, load_baseline

    if not models:
        raise UsageError("nothing to benchmark: give at least one MODEL")
    check(opts)
    baseline = load_baseline(opts.baseline) if opts.baseline else None
    parsed = parsed_inputs(opts)
    formats = {m: detect(m, thorough=False) for m in models}  # a missing or unknown file fails here, before any work
    labels = _labels(models, opts.labels)
    threads = opts.threads or usable_cores()
    batch_sizes: list[int | None] = list(opts.batch_sizes) if opts.batch_sizes else [None if opts.inputs else 1]
    jobs = []
    for m in models:
        size = size_on_disk(m.split(":")[0] if formats[m].flavor == "callable" else m)
        # a TF.js model once per Node backend, labelled with it (cnn_tfjs [wasm])
        backends = opts.tfjs_backends if formats[m].format == Format.TFJS else (None,)
        for backend in backends:
            label = f"{labels[m]} [{backend}]" if backend else labels[m]
            for b in batch_sizes:
                jobs.append(_Job(m, label, b, BenchResult(label=label, path=m, format=formats[m].format.value,
                                                          batch_size=b or 0, size_bytes=size, threads=threads),
                                 backend=backend))
    if opts.order == "random":
        random.Random(opts.seed).shuffle(jobs)
    runs, seconds = opts.measured_bounds()
    base = load_message(opts, threads, parsed)
    report = BenchReport(
        method={"warmup": opts.warmup, "min_warmup_seconds": opts.min_warmup_seconds, "runs": runs, "duration": seconds,
                "max_duration": opts.max_duration, "threads": threads, "order": opts.order, "seed": opts.seed,
                "device": opts.device, "batch_sizes": [b for b in batch_sizes if b is not None],
                "inputs": opts.inputs or "generated", "input_shapes": list(opts.input_shapes),
                "rounds": INTERLEAVED_ROUNDS if opts.order == "interleaved" else 1,
                "timer": "time.perf_counter_ns around each single inference",
                "isolation": "one process per artifact and batch size"},
        machine=machine_info(), modelport_version=modelport.__version__,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    log_dir = tempfile.mkdtemp(prefix="modelport-bench-")
    say = progress or (lambda _text: None)
    try:
        if opts.order == "interleaved":
            _run_interleaved(jobs, base, runs, seconds, opts.max_duration, log_dir, say)
        else:
            for i, job in enumerate(jobs):
                say(f"[{i + 1}/{len(jobs)}] {job.label} batch {job.batch_size or '-'}")
                if _start(job, i, base, log_dir):
                    _measure(job, runs, seconds, opts.max_duration)
                    _finish(job)
    finally:
        for job in jobs:
            if job.worker is not None:
                job.worker.kill()
        shutil.rmtree(log_dir, ignore_errors=True)
    report.results = [j.result for j in jobs]
    report.machine["versions"] = {r.runtime: r.runtime_version for r in report.results if r.runtime and r.runtime_version}
    report.machine["gpu"] = next((j.gpu for j in jobs if j.gpu), None)
    report.notes.extend(_load_notes(report.machine))
    if baseline is not None:
        report.regression = compare(report, baseline, opts.baseline, opts.max_regression)
    return report


def load_message(opts: BenchOptions, threads: int, parsed: dict | None = None) -> dict:
    """The worker's "load" command without the model and batch size (see validators/bench/worker.py)."""
    return {"cmd": "load", "device": opts.device, "threads": threads, "seed": opts.seed, "warmup": opts.warmup,
            "min_warmup_seconds": opts.min_warmup_seconds, "max_seconds": opts.max_duration,
            "weights": opts.weights, "task": opts.task, **(parsed if parsed is not None else parsed_inputs(opts))}


def _start(job: _Job, index: int, base: dict, log_dir: str) -> bool:
    """Start the worker and load; False (with the result filled) when the job ends here."""
    reads = readable_paths(job.model) + [p for p in (base.get("weights"), base.get("inputs")) if p]
    job.worker = Worker(log_dir, index, base["device"], reads)
    reply = job.worker.request({**base, "path": os.path.abspath(job.model) if os.path.exists(job.model) else job.model,
                                "batch_size": job.batch_size, "backend": job.backend}, LOAD_TIMEOUT)
    r, job.gpu = job.result, reply.get("gpu")
    for key in ("runtime", "runtime_version", "device", "device_note", "import_seconds", "load_seconds",
                "first_inference_seconds", "warmup_runs", "warmup_seconds"):
        if reply.get(key) is not None:
            setattr(r, key, reply[key])
    if reply.get("input_shapes"):
        r.input_shapes = reply["input_shapes"]
        if not r.batch_size:
            r.batch_size = next((s[0] for s in r.input_shapes.values() if s), 1)
    if "error" in reply or "skip" in reply:
        if "error" in reply:
            _fail(job, reply)
        else:
            r.status, r.reason = SKIPPED, reply["skip"]
            _finish(job)
        return False
    return True


def _fail(job: _Job, reply: dict) -> None:
    r = job.result
    r.status, r.error_kind, r.reason = ERROR, reply["error"]["kind"], reply["error"]["message"]
    if job.worker is not None:
        r.log_tail = job.worker.log_tail() or None
        job.worker.kill()
        job.worker.close()
        job.worker = None


def _measure(job: _Job, runs: int, seconds: float, max_seconds: float) -> bool:
    reply = job.worker.request({"cmd": "measure", "runs": runs, "seconds": seconds, "max_seconds": max_seconds},
                               max_seconds + LOAD_TIMEOUT)
    if "error" in reply:
        _fail(job, reply)
        return False
    job.latencies.extend(reply["latencies_ns"])
    return True


def _finish(job: _Job) -> None:
    from modelport.validators.bench.timing import stats, throughput

    reply = job.worker.request({"cmd": "finish"}, 60)
    job.worker.close()
    job.worker = None
    r = job.result
    if "error" in reply:
        return _fail(job, reply)
    r.peak_rss_bytes, r.gpu_peak_bytes = reply.get("peak_rss_bytes"), reply.get("gpu_peak_bytes")
    if r.status == SKIPPED:
        return None
    r.status = OK
    r.runs = len(job.latencies)
    r.measured_seconds = sum(job.latencies) / 1e9
    r.latencies_ms = [x / 1e6 for x in job.latencies]
    r.latency_ms = stats(job.latencies)
    r.inferences_per_second, r.samples_per_second = throughput(job.latencies, r.batch_size)
    return None


def _run_interleaved(jobs: list[_Job], base: dict, runs: int, seconds: float, max_seconds: float, log_dir: str,
                     say: Callable[[str], None]) -> None:
    """Load every job, then measure them in rounds, one worker at a time, a slice of the runs each."""
    live = []
    for i, job in enumerate(jobs):
        say(f"loading [{i + 1}/{len(jobs)}] {job.label} batch {job.batch_size or '-'}")
        if _start(job, i, base, log_dir):
            live.append(job)
    rounds = max(1, min(INTERLEAVED_ROUNDS, runs))
    per_runs, per_seconds = -(-runs // rounds), seconds / rounds
    for k in range(rounds):
        say(f"round {k + 1}/{rounds}")
        live = [j for j in live if _measure(j, per_runs, per_seconds, max_seconds / rounds)]
    for job in live:
        _finish(job)


def _load_notes(machine: dict) -> list[str]:
    load, cores = machine.get("load_average_1min"), machine.get("usable_cores")
    if load is not None and cores and load > 0.5 * cores:
        return [f"the machine was busy when the run started (load average {load:.2f} on {cores} cores): "
                "expect noisier figures"]
    return []
