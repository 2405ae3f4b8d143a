"""modelport's Python API: what the CLI calls, and what batch scripts can call directly.

    from modelport.api import convert
    result = convert("fixtures/models.py:cnn", "tflite", input_shapes=["image:1,3,32,32"])
    print(result.output, result.route)

Every function raises a `ModelportError` subclass (with its exit code) on failure and never
leaves a half-written artifact behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from modelport import manifest
from modelport.errors import ConversionError, ModelportError, ParityError, UnavailableError, UsageError
from modelport.placement import check_free, make_scratch, place, write_atomic
from modelport.process_exit import describe_exit
from modelport.quiet import worker_env
from modelport.types import Format, IOMap
from modelport.converters.formats import Detected, detect
from modelport.converters.job import EdgeJob, EdgeResult
from modelport.converters.options import ConvertOptions, build_options
from modelport.converters.planner import Edge, plan, route_text

_EXTENSION = {Format.ONNX: ".onnx", Format.TFLITE: ".tflite", Format.SAVEDMODEL: "_savedmodel", Format.PYTORCH: ".pt2"}
LOG_TAIL_LINES = 25


@dataclass
class StepReport:
    edge: str
    converter: str
    seconds: float
    details: dict[str, Any]
    notes: list[str]
    smoke: dict[str, Any] | None


@dataclass
class ConvertResult:
    source: str
    output: str
    manifest: str
    route: str
    steps: list[StepReport]
    io_map: IOMap
    seconds: float
    intermediates: list[str] = field(default_factory=list)
    validation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "output": self.output, "manifest": self.manifest, "route": self.route,
            "seconds": round(self.seconds, 3), "io_map": self.io_map.to_dict(),
            "steps": [vars(s) for s in self.steps], "intermediates": self.intermediates,
            "validation": self.validation,
        }


def default_output(source: str, target: Format, quantize: str | None = None, pytorch_format: str | None = None) -> str:
    """Beside the source: cnn.onnx -> cnn.tflite; models.py:cnn -> cnn.onnx next to models.py."""
    if ":" in source and not os.path.exists(source):
        file_part, attr = source.split(":", 1)
        folder = os.path.dirname(file_part) if file_part.endswith(".py") else "."
        stem = os.path.join(folder, attr.split(".")[-1])
    else:
        stem = os.path.splitext(source.rstrip("/"))[0]
    if quantize:
        stem += "_" + quantize.replace("-", "_")
    if target == Format.PYTORCH and pytorch_format == "torchscript":
        return stem + ".pt"
    if target == Format.PYTORCH and pytorch_format == "package":
        return stem + "_pytorch"
    return stem + _EXTENSION[target]


def _target(to: str | Format) -> Format:
    try:
        fmt = Format(to)
    except ValueError:
        raise UsageError(f"unknown format {to!r} (choose from onnx, savedmodel, tflite, pytorch)") from None
    return fmt


def convert(
    source: str,
    to: str | Format,
    output: str | None = None,
    *,
    via: str | Format | None = None,
    opset: int | None = None,
    quantize: str | None = None,
    calibration_data: str | None = None,
    input_shapes: list[str] | tuple[str, ...] = (),
    input_dtypes: list[str] | tuple[str, ...] = (),
    weights: str | None = None,
    force: bool = False,
    keep_intermediates: bool = False,
    validate: bool = True,
    device: str = "cpu",
    atol: tuple[str, ...] = (),
    rtol: tuple[str, ...] = (),
    samples: int = 1,
    pytorch_format: str | None = None,
    log=None,
) -> ConvertResult:
    """Convert `source` to format `to` along the planned route; see the module docstring.

    With `validate` (the default) the final artifact and every intermediate one are compared with
    the source (modelport.validation); a failing artifact is still written, marked failed in its
    manifest, and ParityError (exit 1) is raised after it is in place.
    `log`, when given, is called with each converter's captured output (for --verbose).
    """
    t_start = time.perf_counter()
    target = _target(to)
    options = build_options(input_shapes=input_shapes, input_dtypes=input_dtypes, opset=opset, quantize=quantize,
                            calibration_data=calibration_data, weights=weights, pytorch_format=pytorch_format)
    if validate:
        from modelport.validators.tolerances import parse_tolerance_overrides

        parse_tolerance_overrides(tuple(atol), tuple(rtol))  # bad tolerances fail before any work
        if samples < 1:
            raise UsageError("--samples must be at least 1")
    detected = detect(source, thorough=False)
    if weights and detected.flavor not in ("callable", "package"):
        raise UsageError("--weights applies to file.py:callable sources and PyTorch packages only")
    route = plan(detected.format, target, via=_target(via) if via else None, quantize=quantize)
    if pytorch_format and target != Format.PYTORCH:
        raise UsageError("--pytorch-format applies to --to pytorch only")
    out = output or default_output(source, target, quantize, pytorch_format)
    check_free(out, force)
    if keep_intermediates:  # refuse before the work, not after it
        for i, edge in enumerate(route[:-1]):
            check_free(_kept_name(out, _step_name(i, edge)), force)
    scratch = make_scratch(out)
    try:
        current, current_fmt, flavor = _absolute_source(source, detected), detected.format, detected.flavor
        steps: list[StepReport] = []
        io_map: IOMap | None = None
        step_outputs = []
        step_maps: list[IOMap] = []
        for i, edge in enumerate(route):
            step_out = os.path.join(scratch, _step_name(i, edge))
            step_options = _options_for_step(edge, options, io_map, scratch)
            result, smoke, seconds = _run_edge(edge, current, current_fmt, flavor, step_out, step_options, scratch, log)
            steps.append(StepReport(edge.name, result.converter, round(seconds, 3), result.details, result.notes, smoke))
            io_map = result.io_map if io_map is None else io_map.then(result.io_map)
            current, current_fmt, flavor = step_out, edge.target, None
            step_outputs.append(step_out)
            step_maps.append(io_map)
        assert io_map is not None
        validation = None
        if validate:
            precision = {"fp16": "fp16", "dynamic-int8": "int8", "int8": "int8"}.get(quantize or "", "fp32")
            artifacts = [(p, m, precision if p == current else "fp32") for p, m in zip(step_outputs, step_maps)]
            tolerances = {"atol": list(atol), "rtol": list(rtol), "samples": samples}
            validation = _validate_route(_absolute_source(source, detected), options, artifacts, device, tolerances,
                                         scratch, log)
            names = {p: (out if p == current else f"{route[i].name} intermediate ({os.path.basename(p)})")
                     for i, p in enumerate(step_outputs)}
            for c in validation["candidates"]:
                c["path"] = names.get(c["path"], c["path"])
        record = manifest.build(
            source={"path": os.path.abspath(source) if os.path.exists(source) else source,
                    "format": detected.format.value, "flavor": detected.flavor,
                    "sha256": manifest.sha256_of(source.split(":")[0] if detected.flavor == "callable" else source),
                    "weights_sha256": manifest.sha256_of(weights) if weights else None},
            artifact={"path": os.path.abspath(out), "format": target.value, "sha256": manifest.sha256_of(current)},
            route=route_text(route), steps=[vars(s) for s in steps], options=options.to_dict(), io_map=io_map.to_dict(),
        )
        record["validation"] = validation
        intermediates = _keep_intermediates(step_outputs[:-1], out, force) if keep_intermediates else []
        place(current, out, scratch)
        write_atomic(manifest.manifest_path(out), json.dumps(record, indent=2) + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result = ConvertResult(source, out, manifest.manifest_path(out), route_text(route), steps, io_map,
                           time.perf_counter() - t_start, intermediates, validation)
    if validation is not None and not validation["passed"]:
        failed = [c for c in validation["candidates"] if not c["passed"]]
        worst = failed[0]
        why = worst.get("error") or next((o["output"] + ": " + o["reason"] for o in worst["outputs"] if not o["passed"]), "")
        raise ParityError(f"{out} was written but fails parity with the source ({worst['path']}: {why}); "
                          f"marked failed in {manifest.manifest_path(out)}", result=result)
    return result


def _options_for_step(edge: Edge, options: ConvertOptions, io_map: IOMap | None, scratch: str) -> ConvertOptions:
    """Quantization belongs to the quantizing edge only; weights to the PyTorch edge only.

    Calibration data is given in the source's terms (names, NCHW); when earlier steps renamed or
    permuted the inputs, it is remapped through the I/O map so far, e.g. NCHW -> NHWC.
    """
    step = dataclasses.replace(options)
    if not edge.quantizes:
        step.quantize, step.calibration_data = None, None
    elif options.calibration_data and io_map is not None:
        step.calibration_data = _remap_calibration(options.calibration_data, io_map, scratch)
    if edge.source != Format.PYTORCH:
        step.weights = None
    return step


def _remap_calibration(path: str, io_map: IOMap, scratch: str) -> str:
    import numpy as np

    try:
        data = np.load(path)
    except Exception as e:
        raise UsageError(f"--calibration-data {path}: not a readable .npz ({type(e).__name__})") from None
    remapped = {}
    for m in io_map.inputs:
        if m.source not in data.files:
            raise UsageError(f"--calibration-data {path}: no array for input {m.source!r} (has: {', '.join(data.files)})")
        array = data[m.source]
        if m.perm is not None:
            if m.perm[0] != 0 or array.ndim != len(m.perm):
                raise UsageError(f"--calibration-data {path}: array {m.source!r} of shape {list(array.shape)} "
                                 f"cannot follow the layout change {m.perm} (samples must be stacked on axis 0)")
            array = array.transpose(m.perm)
        remapped[m.artifact] = array
    out = os.path.join(scratch, "calibration_remapped.npz")
    np.savez(out, **remapped)
    return out


def _absolute_source(source: str, detected: Detected) -> str:
    if detected.flavor == "callable":
        target, attr = source.split(":", 1)
        return f"{os.path.abspath(target)}:{attr}" if target.endswith(".py") else source
    return os.path.abspath(source)


def _step_name(i: int, edge: Edge) -> str:
    return f"step{i + 1}_{edge.target.value}{_EXTENSION[edge.target]}"


def _kept_name(out: str, step_name: str) -> str:
    """Where --keep-intermediates puts a step's artifact: beside the output, e.g. cnn.step1_onnx.onnx."""
    return f"{os.path.splitext(out.rstrip('/'))[0]}.{step_name}"


def _keep_intermediates(paths: list[str], out: str, force: bool) -> list[str]:
    kept = []
    for p in paths:
        dest = _kept_name(out, os.path.basename(p))
        check_free(dest, force)
        place(p, dest, os.path.dirname(p))
        kept.append(dest)
    return kept


def _run_worker(module: str, label: str, what: str, job: dict, scratch: str, log, gpu: bool = False) -> tuple[dict, float]:
    """Run `python -m MODULE JOB RESULT` with its output captured; return its JSON payload.

    A worker that dies (signal, sys.exit) leaves no result: that becomes a ConversionError with the
    log's tail; an error it reports keeps its kind (bad input 2, unavailable 4, conversion 3).
    """
    stem = os.path.join(scratch, label.replace("->", "_to_"))
    job_path, result_path, log_path = stem + ".job.json", stem + ".result.json", stem + ".log"
    with open(job_path, "w") as f:
        json.dump(job, f)
    env = worker_env(gpu)
    t0 = time.perf_counter()
    with open(log_path, "w") as log_file:
        proc = subprocess.run([sys.executable, "-m", module, job_path, result_path],
                              stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=scratch)
    seconds = time.perf_counter() - t0
    with open(log_path, errors="replace") as f:
        log_text = f.read()
    if log:
        log(label, log_text)
    # With a log callback the caller has shown the whole log; otherwise keep its tail for --verbose.
    tail = None if log else "\n".join(log_text.rstrip().splitlines()[-LOG_TAIL_LINES:])
    if not os.path.exists(result_path):
        raise ConversionError(f"{label}: the {what} process died ({describe_exit(proc.returncode)})", detail=tail)
    with open(result_path) as f:
        payload = json.load(f)
    if "error" in payload:
        err = payload["error"]
        cls = {"UsageError": UsageError, "UnavailableError": UnavailableError}.get(err["kind"], ConversionError)
        raise cls(f"{label}: {err['message']}", detail=tail)
    return payload, seconds


def _run_edge(edge: Edge, src: str, src_fmt: Format, flavor: str | None, out: str, options: ConvertOptions,
              scratch: str, log) -> tuple[EdgeResult, dict | None, float]:
    job = EdgeJob(edge=edge.name, module=edge.module, source=src, source_format=src_fmt.value, source_flavor=flavor,
                  target_format=edge.target.value, output=out, options=options)
    payload, seconds = _run_worker("modelport.worker", edge.name, f"{edge.library} converter", job.to_dict(), scratch, log)
    return EdgeResult.from_dict(payload["edge"]), payload.get("smoke"), seconds


def _validate_route(source: str, options: ConvertOptions, artifacts: list[tuple[str, IOMap, str]], device: str,
                    tolerances: dict, scratch: str, log) -> dict:
    """Validate every artifact of the route against the source, in a worker; return the report dict."""
    shapes = [f"{o.name}:" + ",".join(str(e if e is not None else (d if isinstance(d, int) else 1))
                                      for d, e in zip(o.shape, o.example or [None] * len(o.shape)))
              for o in options.inputs if o.shape]
    dtypes = [f"{o.name}:{o.dtype}" for o in options.inputs if o.dtype]
    job = {
        "reference": source,
        "candidates": [path for path, _, _ in artifacts],
        "options": {"device": device, "input_shapes": shapes, "input_dtypes": dtypes, "weights": options.weights,
                    "io_maps": {path: m.to_dict() for path, m, _ in artifacts},
                    "precisions": {path: p for path, _, p in artifacts}, **tolerances},
    }
    payload, _ = _run_worker("modelport.validate_worker", "validate", "validation", job, scratch, log,
                             gpu=device != "cpu")
    return payload["report"]


def inspect_model(path: str) -> dict[str, Any]:
    from modelport.converters.signatures import describe

    info = describe(path)
    info["manifest"] = manifest.load(path)
    return info


def formats_matrix() -> list[dict[str, Any]]:
    from modelport.converters.planner import matrix

    return matrix()


__all__ = ["convert", "inspect_model", "formats_matrix", "default_output", "ConvertResult", "ModelportError"]
