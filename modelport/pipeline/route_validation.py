"""Validate every artifact of a route against the source, in a worker of its own.

The validator (validators/validation.py) runs in `python -m modelport.validators.validate_worker`:
runtimes crash and load large libraries, and the parent must stay light. The artifacts have no
manifest yet (they are still in the scratch folder), so their I/O maps and precisions travel with
the job.
"""

from __future__ import annotations

import dataclasses

from modelport.converters.options import EdgeOptions
from modelport.types import IOMap
from modelport.validators.validate_options import ValidateOptions
from modelport.workers.sandbox import readable_paths
from modelport.workers.spawn import Log, run_worker


def route_validation_options(options: EdgeOptions, validation: ValidateOptions) -> ValidateOptions:
    """The validation's options with the conversion's input shapes, dtypes, weights and task: the
    artifacts are judged on the inputs they were converted for (also used by the edge workers
    that validate their own artifact, modelport/pipeline/worker_validation.py)."""
    shapes = [f"{o.name}:" + ",".join(str(e if e is not None else (d if isinstance(d, int) else 1))
                                      for d, e in zip(o.shape, o.example or [None] * len(o.shape)))
              for o in options.inputs if o.shape]
    dtypes = [f"{o.name}:{o.dtype}" for o in options.inputs if o.dtype]
    return dataclasses.replace(validation, input_shapes=tuple(shapes), input_dtypes=tuple(dtypes),
                               weights=options.weights, task=options.task)


def validate_route(source: str, options: EdgeOptions, artifacts: list[tuple[str, IOMap, str]],
                   validation: ValidateOptions, scratch: str, log: Log | None) -> dict:
    """`artifacts` are (path, I/O map from the source, precision); returns the report as a dict."""
    opts = dataclasses.replace(route_validation_options(options, validation),
                               io_maps={path: m for path, m, _ in artifacts},
                               precisions={path: p for path, _, p in artifacts})
    job = {"reference": source, "candidates": [path for path, _, _ in artifacts], "options": opts.to_dict()}
    on_gpu = any(d not in (None, "cpu") for d in (opts.device, opts.reference_device))
    reads = readable_paths(source) + [p for p in (options.weights, validation.inputs) if p]
    payload, _ = run_worker("modelport.validators.validate_worker", "validate", "validation", job, scratch, log,
                            gpu=on_gpu, reads=reads)
    return payload["report"]
