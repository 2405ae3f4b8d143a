"""The proof behind keeping a dynamic dim in onnx2tf's artifacts (converters/dynamic_dims.py).

It is a validation against the source ONNX at its example size and at another size of every dim
the artifact keeps dynamic (validators/dynamic_sizes.py). The validation code is the one
`modelport validate` uses. It lives here because converters never import validators; the edge
worker hands it to the edge.
"""

from __future__ import annotations

from modelport.converters.job import EdgeJob
from modelport.types import IOMap


def validation_options(job: EdgeJob, judged_by: dict | None = None):
    """The validation of a kept artifact: the conversion's example sizes and dtypes (as the route's
    validation gets them, modelport/pipeline/route_validation.py), its value ranges, and the
    tolerances the conversion's own validation holds it to (`judged_by`, that validation's options):
    a looser --atol the user chose must not fix a dim that the final verdict would pass. Only the
    tolerances for every output travel: one given per output names the source's outputs, and the
    reference here is the step's ONNX source."""
    from modelport.pipeline.route_validation import route_validation_options
    from modelport.validators.validate_options import ValidateOptions

    import dataclasses

    ranges = tuple(f"{k}:{lo},{hi}" for k, (lo, hi) in (job.options.value_ranges or {}).items())
    judged = ValidateOptions.from_dict(judged_by) if judged_by else ValidateOptions()
    tolerances = {"atol": tuple(t for t in judged.atol if ":" not in t),
                  "rtol": tuple(t for t in judged.rtol if ":" not in t), "preset": judged.preset}
    # the reference here is the step's ONNX source: no state_dict, no Hugging Face task to build
    return dataclasses.replace(route_validation_options(job.options, ValidateOptions(value_ranges=ranges, **tolerances)),
                               weights=None, task=None)


def prove(job: EdgeJob, io_map: IOMap, judged_by: dict | None = None) -> tuple[bool, str]:
    """Whether the artifact at job.output matches the source ONNX at its sizes and at another size
    of every dim it keeps dynamic; and one line saying what was seen."""
    import dataclasses

    from modelport.errors import ModelportError
    from modelport.validators.dynamic_sizes import describe
    from modelport.validators.validation import validate

    opts = dataclasses.replace(validation_options(job, judged_by), io_maps={job.output: io_map})
    try:
        report = validate(job.source, [job.output], opts)
    except ModelportError as e:
        return False, f"validation could not run ({e.message})"
    c = report.candidates[0]
    if c.error:
        return False, f"it fails to run ({c.error[:200]})"
    if not c.sizes:
        return False, "no dim stayed dynamic in the artifact"
    if any(e["passed"] is not True for e in c.sizes):
        return False, "; ".join(describe(c.sizes))
    if not c.passed:
        worst = next((o for o in c.outputs if not o.passed), None)
        return False, "it differs from the source at the example sizes" + (f" ({worst.output}: {worst.reason})" if worst else "")
    return True, "; ".join(describe(c.sizes))
