"""Start a JSON worker (`python -m MODULE JOB RESULT`, modelport/workers/shell.py) and read its result.

Its stdout and stderr go to a log file in the caller's scratch folder, so library output never
reaches modelport's own; the caller's `log` callback gets the whole log (--verbose), otherwise its
tail is kept as the error's detail. A worker that dies leaves no result: that becomes a
ConversionError naming how it ended; an error it reports keeps its kind (and so its exit code).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Callable

from modelport.errors import ConversionError, NoStrategyHelps, NotApplicable, UnavailableError, UsageError
from modelport.workers import memory_limit, sandbox, usage
from modelport.workers.environment import worker_env
from modelport.workers.exits import describe_exit

LOG_TAIL_LINES = 25

Log = Callable[[str, str], None]  # (label, the worker's whole log)


def run_worker(module: str, label: str, what: str, job: dict, scratch: str, log: Log | None,
               gpu: bool = False, stem: str | None = None, python: str | None = None,
               reads: list[str] = (), timeout: float | None = None) -> tuple[dict, float]:
    """Run `python -m MODULE JOB RESULT` in `scratch` with its output captured; return (payload, seconds).
    `stem` names its files when one label runs more than once (the strategies of one edge);
    `python` is another interpreter (a layer's, modelport/layers.py), this one by default. The
    worker is confined (modelport/workers/sandbox.py) to `scratch` and the paths in `reads`, and
    stopped if it passes --max-memory (modelport/workers/memory_limit.py) or runs past `timeout`
    seconds (a ConversionError, as if it had died)."""
    stem = os.path.join(scratch, (stem or label).replace("->", "_to_"))
    job_path, result_path, log_path = stem + ".job.json", stem + ".result.json", stem + ".log"
    with open(job_path, "w") as f:
        json.dump(job, f)
    env = worker_env(gpu)
    argv = [python or sys.executable, "-m", module, job_path, result_path]
    confined = sandbox.active()
    if confined:
        argv = sandbox.wrap(argv, scratch=scratch, reads=list(reads), gpu=gpu)
    cap = memory_limit.limit()
    t0 = time.perf_counter()
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(argv,
                                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=scratch)
        watch = memory_limit.MemoryWatch(proc.pid, cap)
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # the sandbox's --die-with-parent takes the confined child too
            timed_out = True
            proc.kill()
            proc.wait()
        except BaseException:  # Ctrl-C: the worker goes with us, nothing half-done is left running
            proc.kill()
            proc.wait()
            raise
        finally:
            watch.stop()
    seconds = time.perf_counter() - t0
    with open(log_path, errors="replace") as f:
        log_text = f.read()
    if log:
        log(label, log_text)
    # With a log callback the caller has shown the whole log; otherwise keep its tail for --verbose.
    tail = None if log else "\n".join(log_text.rstrip().splitlines()[-LOG_TAIL_LINES:])
    if watch.exceeded:
        raise ConversionError(f"{label}: {watch.message(what)}", detail=tail)
    if timed_out:
        raise ConversionError(f"{label}: the {what} process timed out after {timeout:g} s (--attempt-timeout)",
                              detail=tail)
    if not os.path.exists(result_path):
        code = sandbox.child_returncode(proc.returncode) if confined else proc.returncode
        raise ConversionError(f"{label}: the {what} process died ({describe_exit(code)})", detail=tail)
    with open(result_path) as f:
        payload = json.load(f)
    usage.add(payload.pop("usage", None), confined)  # the sandbox hides it from getrusage
    if "error" in payload:
        err = payload["error"]
        cls = {"UsageError": UsageError, "UnavailableError": UnavailableError,
               "NotApplicable": NotApplicable, "NoStrategyHelps": NoStrategyHelps}.get(err["kind"], ConversionError)
        raise cls(f"{label}: {err['message']}", detail=tail)
    return payload, seconds
