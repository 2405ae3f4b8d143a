"""`validate()` in a confined worker: the runtimes that run untrusted models never run in the
modelport process itself when the sandbox is on (modelport/workers/sandbox.py).

The worker is the one `convert` uses for its validation (validators/validate_worker.py). Paths
travel absolute (the worker's folder is its scratch folder) and the report comes back with the
paths as the user gave them; golden outputs (`--save-outputs`) are written in the scratch folder
and moved into place, so a model never gets a writable path of the user's.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile

from modelport.formats import absolute_reference
from modelport.placement import write_atomic_bytes
from modelport.validators.results import ValidationReport
from modelport.validators.validate_options import ValidateOptions
from modelport.workers.sandbox import readable_paths
from modelport.workers.spawn import run_worker


def validate_confined(reference: str | None, candidates: list[str], options: ValidateOptions) -> ValidationReport:
    scratch = tempfile.mkdtemp(prefix="modelport-validate-")
    try:
        absolute = lambda p: os.path.abspath(p) if p else p  # noqa: E731
        opts = dataclasses.replace(options, inputs=absolute(options.inputs), weights=absolute(options.weights),
                                   load_outputs=absolute(options.load_outputs),
                                   save_outputs=os.path.join(scratch, "golden.npz") if options.save_outputs else None)
        ref = absolute_reference(reference) if reference else reference
        cands = [absolute_reference(c) for c in candidates]
        reads = [p for r in [ref, *cands] for p in readable_paths(r)]
        reads += [p for p in (opts.inputs, opts.weights, opts.load_outputs) if p]
        on_gpu = any(d not in (None, "cpu") for d in (opts.device, opts.reference_device))
        job = {"reference": ref, "candidates": cands, "options": opts.to_dict()}
        payload, _ = run_worker("modelport.validators.validate_worker", "validate", "validation", job, scratch, None,
                                gpu=on_gpu, reads=reads)
        report = ValidationReport.from_dict(payload["report"])
        if options.save_outputs:  # copied, then renamed beside its destination: atomic on any file system
            with open(opts.save_outputs, "rb") as f:
                write_atomic_bytes(options.save_outputs, f.read())
        report.reference = reference or report.reference
        given = dict(zip(cands, candidates))
        for c in report.candidates:
            c.path = given.get(c.path, c.path)
        return report
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
