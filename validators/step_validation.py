"""Validate one conversion step's artifact inside the worker that just wrote it.

Why: a separate validation process imports torch, TensorFlow and ONNX Runtime again, which costs
more than validating a small model (13 s of a 26 s conversion, issue 14). The edge worker
(modelport/pipeline/edge_worker.py) already has its artifact's runtime imported and has just run
it once; here it also runs it on the validation's inputs. The first step of a route also runs the
source (its worker has the source's runtime: it just converted it) and writes the source's inputs
and outputs as golden data beside its artifact; later steps replay that file, so the source runs
once per conversion, not once per step. The parent only reads verdicts
(modelport/pipeline/worker_validation.py).

The verdict comes from the same `validate()` as `modelport validate`, so it is the same code and
the same inputs as the separate validation worker's: same seed, sizes and I/O map. What a later
step cannot do without the source is re-judge a failure against the source run in float64; such a
verdict says so (`complete: False`), and the parent has a failure judged again in the validation
worker, where the source runs.
"""

from __future__ import annotations

import dataclasses
import os

from modelport.types import IOMap
from modelport.validators.validate_options import ValidateOptions

GOLDEN_NAME = "golden.npz"


def validate_step(artifact: str, edge_map: IOMap, spec: dict) -> dict:
    """Judge `artifact` against the source. `spec` (written by the parent): options (ValidateOptions
    as a dict), precision, prefix_map (the I/O map from the source to this step's input, None for
    the first step), reference (the source, run when `golden` is None) or golden (a file to replay).
    Returns {candidate, report (its other fields), golden (the file written, or None), complete}."""
    from modelport.validators.validation import validate

    io_map = edge_map if spec.get("prefix_map") is None else IOMap.from_dict(spec["prefix_map"]).then(edge_map)
    opts = dataclasses.replace(ValidateOptions.from_dict(spec["options"]), io_maps={artifact: io_map},
                               precisions={artifact: spec["precision"]})
    written = None
    if spec.get("golden"):
        report = validate(None, [artifact], dataclasses.replace(opts, load_outputs=spec["golden"]))
    else:
        written = os.path.join(os.path.dirname(artifact.rstrip("/")), GOLDEN_NAME)
        report = validate(spec["reference"], [artifact], dataclasses.replace(opts, save_outputs=written))
    fields = report.to_dict()
    candidate = fields.pop("candidates")[0]
    return {"candidate": candidate, "report": fields, "golden": written, "complete": written is not None}
