"""`modelport inspect` in a process of its own: reading a signature loads the model into its
runtime (the TFLite interpreter, TensorFlow, torch), and a damaged file can crash that runtime
(measured by benchmarks/fuzz.py: a bit-flipped .tflite whose tensor indices pass every Python-side
check still segfaults the interpreter's constructor). Here a crash is one line and exit 3, and the
worker is confined like every other (modelport/workers/sandbox.py).
"""

from __future__ import annotations

import sys


def inspect_job(job: dict) -> dict:
    from modelport.converters.signatures import describe

    return {"info": describe(job["path"])}


def main(job_path: str, result_path: str) -> int:
    from modelport.workers.shell import run_job

    return run_job(job_path, result_path, inspect_job)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
