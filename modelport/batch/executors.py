"""Where `modelport batch` jobs run: local processes (a thread pool waits on them) or Ray tasks.

Both run each job through `run_job_process`: `python -m modelport.batch.job` in a session of its
own (so its converter workers form one process group), with a timeout. Stopping (Ctrl-C,
--fail-fast, a timeout) sends SIGINT to the group, so convert's cleanup runs and removes its
scratch folders, then SIGKILL after a grace period, then removes any scratch folder left behind:
an artifact is either complete (it was moved into place) or absent. Scheduling is the pool's or
Ray's, never our own.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Callable

from modelport.workers.exits import describe_exit
from modelport.workers.environment import worker_env

GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2
SCRATCH_GLOB = ".modelport-tmp-*"  # modelport.placement.make_scratch


def run_job_process(job: dict, stop: threading.Event | None = None) -> dict:
    """Run one job; return its payload ({"targets": [...], "bench": ...}) or {"error": {kind, message}},
    with "seconds" added. Also used inside a Ray task (a Ray cancel arrives as KeyboardInterrupt)."""
    spec, t0 = job["spec"], time.monotonic()
    timeout = job.get("timeout")
    os.makedirs(os.path.dirname(job["log"]), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="modelport-batch-") as tmp:
        job_path, result_path = os.path.join(tmp, "job.json"), os.path.join(tmp, "result.json")
        with open(job_path, "w") as f:
            json.dump(job, f)
        with open(job["log"], "w") as log:
            proc = subprocess.Popen([sys.executable, "-m", "modelport.batch.job", job_path, result_path],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=worker_env(gpu=spec.get("device", "cpu") != "cpu"), start_new_session=True)
        try:
            while proc.poll() is None:
                time.sleep(POLL_SECONDS)
                if timeout and time.monotonic() - t0 > timeout:
                    _stop(proc, spec["output_dir"])
                    return _error("timeout", f"timed out after {timeout:g} s; the job's processes were stopped",
                                  t0)
                if stop is not None and stop.is_set():
                    _stop(proc, spec["output_dir"])
                    return _error("interrupted", "stopped before it finished (--fail-fast or interrupted)", t0)
        except BaseException:  # KeyboardInterrupt (a Ray cancel), anything else: never leave the job running
            _stop(proc, spec["output_dir"])
            raise
        if not os.path.exists(result_path):
            _remove_scratch(spec["output_dir"])
            return _error("died", _death(proc.returncode), t0)
        with open(result_path) as f:
            payload = json.load(f)
    from modelport.workers import usage

    usage.add(payload.pop("usage", None), confined=False)  # the job process is not confined; its workers are
    payload["seconds"] = round(time.monotonic() - t0, 3)
    return payload


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        return f"the job's process died ({describe_exit(code)})"
    return f"the job's process ended without a result ({describe_exit(code)})"


def _error(kind: str, message: str, t0: float) -> dict:
    return {"error": {"kind": kind, "message": message}, "seconds": round(time.monotonic() - t0, 3)}


def _stop(proc: subprocess.Popen, output_dir: str) -> None:
    """SIGINT to the job's process group (convert cleans up), SIGKILL after the grace period."""
    for sig, grace in ((signal.SIGINT, GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
            if sig == signal.SIGINT:  # the leader is gone; its workers may not be
                os.killpg(proc.pid, signal.SIGKILL)
            break
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            break
    _remove_scratch(output_dir)


def _remove_scratch(output_dir: str) -> None:
    for path in glob.glob(os.path.join(output_dir, SCRATCH_GLOB)):
        shutil.rmtree(path, ignore_errors=True)


Done = Callable[[dict, dict], None]  # (job, payload)
Started = Callable[[dict], None]


def run_local(jobs: list[dict], workers: int, stop: threading.Event, on_start: Started, on_done: Done) -> None:
    """At most `workers` jobs at a time; a job not yet started when `stop` is set is not run."""

    def one(job):
        if stop.is_set():
            return {"error": {"kind": "not_run", "message": "not started"}}
        on_start(job)
        return run_job_process(job, stop)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modelport-job") as pool:
        futures = {pool.submit(one, job): job for job in jobs}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for f in done:
                    on_done(futures[f], f.result())
        except BaseException:
            stop.set()  # threads stop their jobs; the pool's exit waits for them
            _ignore_interrupts_while_stopping()
            raise


def _ignore_interrupts_while_stopping() -> None:
    """A second Ctrl-C while the jobs are being stopped would abandon them, running in their own
    sessions: from here on the batch finishes stopping them, whatever is pressed."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run_ray(jobs: list[dict], workers: int, address: str | None, stop: threading.Event, on_start: Started,
            on_done: Done) -> None:
    """Each job a Ray task (1 CPU). Without an address a local Ray is started for the run, with
    `workers` CPUs; with one, the cluster's resources decide how many run at once."""
    from modelport.libraries import require

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline: no usage report to the internet
    ray = require("ray", "--executor ray", extra="ray")
    started_here = not ray.is_initialized()
    if started_here:
        kwargs = {"address": address} if address else {"num_cpus": workers, "include_dashboard": False}
        try:
            ray.init(log_to_driver=False, configure_logging=False, **kwargs)
        except Exception as e:  # a wrong address, a cluster that does not answer
            from modelport.errors import UsageError

            raise UsageError(f"--executor ray: cannot start or reach Ray ({str(e).splitlines()[0][:200]})") from None
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(run_job_process)
        refs = {}
        for job in jobs:
            refs[task.remote(job)] = job
            on_start(job)
        while refs:
            if stop.is_set():
                for ref in refs:
                    ray.cancel(ref)
            done, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            for ref in done:
                job = refs.pop(ref)
                on_done(job, _ray_result(ray, ref))
    except BaseException:
        stop.set()
        _ignore_interrupts_while_stopping()
        for ref in list(refs):
            ray.cancel(ref)  # arrives as KeyboardInterrupt: run_job_process stops its job's processes
        if refs:  # let them finish stopping before a local Ray is shut down under them
            ray.wait(list(refs), num_returns=len(refs), timeout=GRACE_SECONDS + 10)
        raise
    finally:
        if started_here:
            ray.shutdown()


def _ray_result(ray, ref) -> dict:
    try:
        return ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        return {"error": {"kind": "interrupted", "message": "cancelled (--fail-fast or interrupted)"}}
    except ray.exceptions.RayError as e:  # the task's worker died, or the task raised
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return {"error": {"kind": "died", "message": f"the Ray task failed: {first[:300]}"}}
