"""Validate the artifacts of a conversion in a process of its own (`modelport convert` calls it).

Runtimes crash and load large libraries; like the conversion edges (modelport/worker.py), the
validation step runs isolated, with its log captured, and reports back as JSON.
"""

from __future__ import annotations

import sys


def validate_job(job: dict) -> dict:
    from modelport.types import IOMap
    from modelport.validation import ValidateOptions, validate

    opts = ValidateOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in job["options"].items() if k != "io_maps"})
    opts.io_maps = {p: IOMap.from_dict(m) for p, m in job["options"].get("io_maps", {}).items()}
    return {"report": validate(job["reference"], job["candidates"], opts).to_dict()}


def main(job_path: str, result_path: str) -> int:
    from modelport.worker import run_job

    return run_job(job_path, result_path, validate_job)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
