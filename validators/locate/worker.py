"""`modelport locate` in a process of its own, confined like every process that runs a model
(modelport/api.py starts it when the sandbox is on; modelport/workers/shell.py runs the job)."""

from __future__ import annotations

import sys


def locate_job(job: dict) -> dict:
    if "bisect" in job:  # --bisect's runs of the source (bisect.py): the sample, then the repro
        from modelport.validators.locate.bisect import bisect_job

        return bisect_job(job["bisect"])
    from modelport.validators.locate.locate import locate
    from modelport.validators.locate.options import LocateOptions

    return {"report": locate(job["source"], job["artifact"], LocateOptions.from_dict(job["options"])).to_dict()}


def main(job_path: str, result_path: str) -> int:
    from modelport.workers.shell import run_job

    return run_job(job_path, result_path, locate_job)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
