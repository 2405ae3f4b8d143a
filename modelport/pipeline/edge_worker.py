"""Run one conversion edge, then load and run its artifact once, in a process of its own.

Converters crash (SIGABRT inside onnx2tf or the interpreter), call sys.exit, and print pages of
logs (traps 7 and 9). The pipeline (modelport/pipeline/convert.py) starts
`python -m modelport.pipeline.edge_worker JOB RESULT` through modelport/workers/spawn.py, with
stdout/stderr going to a log file, and reads RESULT (JSON) back. A missing RESULT means the
process died; the parent reports that with the log's tail.

It lives in the pipeline, not in converters/, because it is where a converter meets a runtime:
the edge comes from converters/, the smoke run from validators/ (which never import each other).

The smoke run is what makes "converted" mean "loads and runs in its own runtime": onnx2tf can
write a .tflite that no interpreter accepts, and only running it shows that.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import sys
import time

from modelport.errors import first_line


def _smoke_run(path: str, fmt: str, sizes: dict[str, int], examples: dict[str, dict] | None = None,
               value_ranges: dict[str, list[float]] | None = None) -> dict:
    import numpy as np

    from modelport.formats import detect
    from modelport.types import Format
    from modelport.validators.inputs import generate
    from modelport.validators.runtimes import runner_for

    flavor = detect(path, thorough=False).flavor if fmt == Format.PYTORCH.value else None  # .pt2 or TorchScript
    runner = runner_for(path, Format(fmt), flavor).load()
    try:
        # A TorchScript file records no input shapes or dtypes: the edge reports what it traced with.
        specs = [_filled(sp, (examples or {}).get(sp.name)) for sp in runner.input_specs()]
        feed = generate(specs, seed=0, sizes=sizes, value_ranges={k: tuple(v) for k, v in (value_ranges or {}).items()})
        t0 = time.perf_counter()
        out = runner.run(feed)
        seconds = time.perf_counter() - t0
    finally:
        runner.close()
    bad = [k for k, v in out.items() if np.asarray(v).dtype.kind == "f" and not np.isfinite(v).all()]
    return {
        "runtime": runner.runtime,
        "load_seconds": runner.load_seconds,
        "run_seconds": seconds,
        "outputs": {k: list(np.asarray(v).shape) for k, v in out.items()},
        "non_finite_outputs": bad,
    }


def _filled(spec, example: dict | None):
    from modelport.validators.runtimes import ANY_DTYPE

    if example is None:
        return spec
    return dataclasses.replace(spec, shape=spec.shape if spec.shape is not None else example["shape"],
                               dtype=spec.dtype if spec.dtype != ANY_DTYPE else example["dtype"])


def convert_edge(job_dict: dict, checkpoint=None) -> dict:
    """Convert, smoke-run, and (when the job asks, modelport/pipeline/worker_validation.py) validate
    the artifact here, where its runtime is already imported."""
    from modelport.converters.job import EdgeJob

    job_dict = dict(job_dict)
    validation = job_dict.pop("validation", None)
    job = EdgeJob.from_dict(job_dict)
    if job.scan_source:
        _refuse_io_ops(job.source, job.source_format)
    edge = importlib.import_module(f"modelport.converters.edges.{job.module}")
    from modelport.converters import dynamic_dims
    from modelport.pipeline.dim_proof import prove

    # an edge may keep a dynamic dim only where running proves it, at the tolerances it is judged by
    dynamic_dims.prover = functools.partial(prove, judged_by=(validation or {}).get("options"))
    t0 = time.perf_counter()
    result: dict = {"edge": edge.convert(job).to_dict(), "convert_seconds": time.perf_counter() - t0}
    sizes = {d: e for o in job.options.inputs for d, e in zip(o.shape or [], o.example or []) if isinstance(d, str) and e}
    try:
        result["smoke"] = _smoke_run(job.output, job.target_format, sizes, result["edge"]["details"].get("example_inputs"),
                                     job.options.value_ranges)
    except Exception as e:
        first = first_line(e, limit=None)
        source_error = _source_fails_too(job, sizes)
        if source_error is None:
            result["error"] = {"kind": "ConversionError",
                               "message": f"the {job.target_format} artifact was written but does not run in its runtime: {first[:300]}"}
        else:  # generated inputs outside an op's domain (an integer division by zero): not the artifact's fault
            result["smoke"] = {"inconclusive": True, "error": first[:300], "source_error": source_error[:300]}
            result["edge"]["notes"].append(
                f"smoke run inconclusive: the artifact and the source both fail on generated inputs ({first[:120]})")
    if validation is not None and "error" not in result and not result["smoke"].get("inconclusive"):
        result["validation"] = _validate_here(job.output, result["edge"]["io_map"], validation, result, checkpoint)
    return result


def _validate_here(artifact: str, edge_map: dict, spec: dict, result: dict, checkpoint) -> dict:
    """The artifact's verdict (validators/step_validation.py), after the conversion's result is
    saved: if validating kills the worker, the conversion still counts, and the parent has the
    artifact judged in a validation worker. A validation that raises (the source fails on the
    generated inputs) is left to that worker too, which reports it as before."""
    from modelport.types import IOMap
    from modelport.validators.step_validation import validate_step

    if checkpoint is not None:
        checkpoint(result)
    try:
        return validate_step(artifact, IOMap.from_dict(edge_map), spec)
    except (Exception, SystemExit) as e:
        return {"error": first_line(e, limit=None)[:300]}


def _refuse_io_ops(path: str, fmt: str) -> None:
    """A user's SavedModel or TFLite that reads or writes files is refused before a converter loads
    it (modelport/io_ops.py), as the validator refuses it before running it."""
    from modelport.io_ops import graph_io_ops, refuse, tflite_io_ops
    from modelport.libraries import require

    if fmt == "tflite":
        refuse(path, tflite_io_ops(path))
    elif fmt == "savedmodel":
        tf = require("tensorflow", "reading a SavedModel")
        try:
            signatures = tf.saved_model.load(path).signatures
        except Exception:
            return  # not loadable: the converter says why
        for fn in signatures.values():
            refuse(path, graph_io_ops(fn.graph.as_graph_def()))


def _source_fails_too(job, sizes: dict[str, int]) -> str | None:
    """The source's own error on generated inputs of the same seed, or None when it runs (then the
    artifact's failure is the artifact's). Only file sources in another runtime are re-run here: a
    PyTorch callable source is checked by the pytorch -> onnx step itself."""
    if job.source_format == "pytorch":
        return None
    try:
        _smoke_run(job.source, job.source_format, sizes, value_ranges=job.options.value_ranges)
    except Exception as e:
        return first_line(e, limit=None)
    return None


def main(job_path: str, result_path: str) -> int:
    from modelport.workers.shell import run_job

    return run_job(job_path, result_path, convert_edge, checkpoints=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
