"""Validate the artifacts of a conversion in a process of its own (`modelport convert` starts it).

Runtimes crash and load large libraries; like the conversion edges (modelport/pipeline/edge_worker.py),
the validation step runs isolated, with its log captured, and reports back as JSON
(modelport/pipeline/route_validation.py writes the job).
"""

from __future__ import annotations

import sys


def validate_job(job: dict) -> dict:
    from modelport.validators.validate_options import ValidateOptions
    from modelport.validators.validation import validate

    opts = ValidateOptions.from_dict(job["options"])
    return {"report": validate(job["reference"], job["candidates"], opts).to_dict()}


def main(job_path: str, result_path: str) -> int:
    from modelport.workers.shell import run_job

    return run_job(job_path, result_path, validate_job)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
