"""The shell every JSON worker shares: go offline, quiet the loggers, run the work, write the result.

A worker is `python -m MODULE JOB RESULT` (modelport/workers/spawn.py starts it): it reads JOB,
calls `work(job) -> dict`, and writes the dict, or the error as {"error": {kind, message}}, to
RESULT. The kind names the exit code the parent gives it (bad input 2, unavailable 4, conversion 3).
A worker that dies (a signal, a library's sys.exit) writes nothing; the parent says so.
"""

from __future__ import annotations

import json
import os
import traceback


def run_job(job_path: str, result_path: str, work, checkpoints: bool = False) -> int:
    """Run `work` on the job read from job_path and write its result (or error) to result_path.

    With `checkpoints`, `work(job, checkpoint)` may call `checkpoint(partial_result)` when the part
    that matters is done: that result is written at once, so a crash in what follows (a runtime
    dying while the worker validates its artifact) still leaves the parent what was finished."""
    from modelport.workers.environment import quiet_python_loggers
    from modelport.workers.offline import block_network

    block_network()
    quiet_python_loggers()
    result: dict = {}
    try:
        with open(job_path) as f:
            job = json.load(f)
        result = work(job, lambda partial: _write(result_path, partial)) if checkpoints else work(job)
    except BaseException as e:
        result["error"] = error_payload(e)
    _write(result_path, result)
    return 0


def _write(result_path: str, result: dict) -> None:
    """The result with the worker's own usage, replaced atomically (a checkpoint may be read)."""
    from modelport.workers.usage import own_usage

    tmp = result_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({**result, "usage": own_usage()}, f)
    os.replace(tmp, result_path)


def error_payload(e: BaseException) -> dict:
    """An exception raised in a worker as {kind, message}, the kind naming its exit code."""
    from modelport.errors import ModelportError

    if isinstance(e, ModelportError):
        return {"kind": type(e).__name__, "message": e.message}
    if isinstance(e, ImportError):  # a library imported at module level is missing: exit 4
        return {"kind": "UnavailableError",
                "message": f"needs the Python module '{e.name or e}', which is not importable ({e}); "
                           "install the pinned stack with `make venv`"}
    if isinstance(e, SystemExit):
        return {"kind": "ConversionError", "message": f"the library exited the process (status {e.code})"}
    traceback.print_exc()  # anything else is a bug: report it, with the traceback in the log
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return {"kind": "ConversionError", "message": f"{type(e).__name__}: {first[:300]}"}
