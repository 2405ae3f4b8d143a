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
from modelport.types import IOMap, TensorMapping
from modelport.converters.job import EdgeJob, EdgeResult
from modelport.converters.pytorch_sources import count_outputs, example_tensor, load_module, resolve_inputs
from modelport.torch_modules import WEIGHTS_NOTE, output_names as module_output_names

DEFAULT_OPSET = 18  # the dynamo exporter's native opset; newer ones get converted by onnxscript
EXTERNAL_DATA_BYTES = 1_800_000_000  # protobuf's hard limit is 2 GB


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


def convert(job: EdgeJob) -> EdgeResult:
    import onnx

    model = load_module(job.source, job.source_flavor or "callable", weights=job.options.weights, task=job.options.task)
    inputs = resolve_inputs(job, model)
    args = tuple(example_tensor(s, ex) for s, ex in inputs)
    try:
        n_out = count_outputs(model, args)
    except Exception as e:
        raise UsageError(f"running the model on the example inputs failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}") from None
    output_names = job.options.output_names or module_output_names(model, n_out)
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
    if getattr(model, WEIGHTS_NOTE, None):
        notes.append(getattr(model, WEIGHTS_NOTE))
    io_map = IOMap(
        [TensorMapping(s.name, s.name, None, "name") for s, _ in inputs],
        [TensorMapping(n, n, None, "name") for n in output_names],
    )
    details["example_shapes"] = {s.name: ex for s, ex in inputs}
    return EdgeResult(io_map, f"torch {torch.__version__}", details, notes)


def artifact_files(path: str) -> list[str]:
    """The files an ONNX artifact consists of (the model and its external data, when any)."""
    return [p for p in (path, path + ".data") if os.path.exists(p)]
