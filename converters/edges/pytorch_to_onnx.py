"""pytorch -> onnx with torch.onnx.export: strategy `dynamo` (the dynamo exporter and its optimizer)
or `torchscript` (the TorchScript exporter).

Each exporter fails on models the other handles (trap 5), and the dynamo one sometimes writes
index loops that later steps cannot take (trap 11): the pipeline tries them in turn
(converters/strategies.py) and records which won. Dynamic dims named in --input-shape become
named ONNX dims (dim_param).
"""

from __future__ import annotations

import os

import torch

from modelport.errors import ConversionError, NotApplicable, UsageError
from modelport.types import IOMap, TensorMapping, TensorSpec, default_output_names
from modelport.converters.job import EdgeJob, EdgeResult
from modelport.converters.pytorch_sources import load_module, module_io

DEFAULT_OPSET = 18  # the dynamo exporter's native opset; newer ones get converted by onnxscript
EXTERNAL_DATA_BYTES = 1_800_000_000  # protobuf's hard limit is 2 GB


def _example(spec: TensorSpec, sizes: list[int]) -> torch.Tensor:
    dtype = getattr(torch, spec.dtype)
    gen = torch.Generator().manual_seed(0)
    if dtype.is_floating_point:
        return torch.randn(sizes, generator=gen).to(dtype)
    if dtype == torch.bool:
        return torch.zeros(sizes, dtype=torch.bool)
    return torch.randint(0, 2, sizes, generator=gen, dtype=dtype)


def _resolve_inputs(job: EdgeJob, model) -> list[tuple[TensorSpec, list[int]]]:
    """Merge what the model says of its inputs with --input-shape / --input-dtype."""
    known = module_io(model, job.source_flavor or "callable").inputs
    names = [t.name for t in known]
    for o in job.options.inputs:
        if o.name not in names:
            raise UsageError(f"--input-shape/--input-dtype name {o.name!r} is not an input of the model (inputs: {', '.join(names)})")
    out = []
    for t in known:
        o = job.options.input(t.name)
        shape, example = t.shape, None
        if o and o.shape is not None:
            shape, example = o.shape, o.example
        if shape is None:
            raise UsageError(
                f"input {t.name!r} has no known shape: pass --input-shape {t.name}:D1,D2,... "
                f"(inputs: {', '.join(names)}; mark dynamic dims by name, e.g. batch=2)"
            )
        # Symbolic dims without a given size trace at 2: exporters specialise dims traced at 0 or 1.
        example = [e if e is not None else (d if isinstance(d, int) else 2) for d, e in zip(shape, example or [None] * len(shape))]
        dtype = o.dtype if o and o.dtype else t.dtype
        out.append((TensorSpec(t.name, list(shape), dtype), list(example)))
    return out


def _param_bytes(model) -> int:
    if isinstance(model, torch.export.ExportedProgram):
        tensors = list(model.state_dict.values())
    else:
        tensors = list(model.state_dict().values())
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


def _export_dynamo(model, args, inputs, output_names, opset, external):
    dims: dict[str, torch.export.Dim] = {}
    dynamic_shapes = None
    if any(s.dynamic_dims for s, _ in inputs) and not isinstance(model, torch.export.ExportedProgram):
        dynamic_shapes = {
            s.name: ({ax: dims.setdefault(n, torch.export.Dim(n)) for ax, n in s.dynamic_dims.items()} or None)
            for s, _ in inputs
        }
    return torch.onnx.export(
        model, args if not isinstance(model, torch.export.ExportedProgram) else (),
        dynamo=True, input_names=[s.name for s, _ in inputs], output_names=output_names,
        dynamic_shapes=dynamic_shapes, opset_version=opset, external_data=external, verbose=False,
    )


def _count_outputs(model, args) -> int:
    with torch.no_grad():
        out = model.module()(*args) if isinstance(model, torch.export.ExportedProgram) else model(*args)
    return len(out) if isinstance(out, (tuple, list)) else 1


def convert(job: EdgeJob) -> EdgeResult:
    import onnx

    model = load_module(job.source, job.source_flavor or "callable", weights=job.options.weights)
    inputs = _resolve_inputs(job, model)
    args = tuple(_example(s, ex) for s, ex in inputs)
    try:
        n_out = _count_outputs(model, args)
    except Exception as e:
        raise UsageError(f"running the model on the example inputs failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}") from None
    output_names = job.options.output_names or default_output_names(n_out)
    opset = job.options.opset or DEFAULT_OPSET
    external = _param_bytes(model) > EXTERNAL_DATA_BYTES
    details = {"opset": opset, "external_data": external}
    exporter = "torchscript" if job.strategy == "torchscript" else "dynamo"
    if exporter == "torchscript" and isinstance(model, torch.export.ExportedProgram):
        raise NotApplicable("an ExportedProgram has no TorchScript form to export")
    try:
        if exporter == "dynamo":
            program = _export_dynamo(model, args, inputs, output_names, opset, external)
            program.save(job.output, external_data=external)
        else:
            dynamic_axes = {s.name: s.dynamic_dims for s, _ in inputs if s.dynamic_dims} or None
            details["opset"] = min(opset, 20)
            torch.onnx.export(model, args, job.output, dynamo=False, input_names=[s.name for s, _ in inputs],
                              output_names=output_names, dynamic_axes=dynamic_axes, opset_version=details["opset"])
    except Exception as e:  # the exporters raise many types; any failure means "try the next strategy"
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise ConversionError(f"the {exporter} exporter failed: {type(e).__name__}: {first}") from None
    onnx.checker.check_model(job.output if external else onnx.load(job.output), full_check=False)
    details["exporter"] = exporter
    notes = [f"exported with the {exporter} exporter at opset {details['opset']}"]
    io_map = IOMap(
        [TensorMapping(s.name, s.name, None, "name") for s, _ in inputs],
        [TensorMapping(n, n, None, "name") for n in output_names],
    )
    details["example_shapes"] = {s.name: ex for s, ex in inputs}
    return EdgeResult(io_map, f"torch {torch.__version__}", details, notes)


def artifact_files(path: str) -> list[str]:
    """The files an ONNX artifact consists of (the model and its external data, when any)."""
    return [p for p in (path, path + ".data") if os.path.exists(p)]
