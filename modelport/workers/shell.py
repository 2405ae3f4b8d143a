"""The shell every JSON worker shares: go offline, quiet the loggers, run the work, write the result.

A worker is `python -m MODULE JOB RESULT` (modelport/workers/spawn.py starts it): it reads JOB,
calls `work(job) -> dict`, and writes the dict, or the error as {"error": {kind, message}}, to
RESULT. The kind names the exit code the parent gives it (bad input 2, unavailable 4, conversion 3).
A worker that dies (a signal, a library's sys.exit) writes nothing; the parent says so.
"""

from __future__ import annotations

import json
import traceback


def run_job(job_path: str, result_path: str, work) -> int:
    """Run `work` on the job read from job_path and write its result (or error) to result_path."""
    from modelport.workers.environment import quiet_python_loggers
    from modelport.workers.offline import block_network

    block_network()
    quiet_python_loggers()
    result: dict = {}
    try:
        with open(job_path) as f:
            job = json.load(f)
        result = work(job)
    except BaseException as e:
        result["error"] = error_payload(e)
    from modelport.workers.usage import own_usage

    result["usage"] = own_usage()
    with open(result_path, "w") as f:
        json.dump(result, f)
    return 0


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
