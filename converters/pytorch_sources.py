"""Load a PyTorch source (TorchScript, ExportedProgram, a package folder, a Hugging Face model folder, or a
`file.py:callable` reference) for
conversion, and describe its inputs. Callables and weights load through modelport.torch_modules
(weights only as a state_dict of tensors, never an arbitrary pickle)."""

from __future__ import annotations

import sys

from modelport.errors import UsageError
from modelport.types import IOSpec, TensorSpec, default_output_names
from modelport.libraries import require
from modelport.torch_modules import (build_module, forward_input_names, load_exported_program, load_package,
                                     load_torchscript, load_weights, package_inputs)


def load_module(src: str, flavor: str, *, weights: str | None = None, task: str | None = None):
    """Return an nn.Module, a ScriptModule or an ExportedProgram, in eval mode where it applies
    (`task`: a Hugging Face folder's --task)."""
    require("torch", "loading a PyTorch model")  # exit 4 naming the library when it is missing
    if flavor == "torchscript":
        model = load_torchscript(src)  # refused if it touches files: tracing it to ONNX would run it
    elif flavor == "exported_program":
        model = load_exported_program(src)
        if weights:
            raise UsageError("--weights applies to file.py:callable sources, not to an ExportedProgram")
        return model
    elif flavor == "package":
        return load_package(src, weights)[0]
    elif flavor == "hf_folder":
        from modelport.hf_models import load_hf_model

        return load_hf_model(src, task)[0]
    else:
        return build_module(src, weights)
    if weights:
        load_weights(model, weights)
    return model.eval()


def _sym(d) -> int | str:
    return int(d) if isinstance(d, int) or str(d).isdigit() else str(d)


def module_io(model, flavor: str) -> IOSpec:
    """What can be known of the I/O without running the model (shapes only for ExportedProgram)."""
    torch = require("torch", "reading a PyTorch model")
    if flavor == "exported_program":
        sig = model.graph_signature
        placeholders = {n.name: n for n in model.graph.nodes if n.op == "placeholder"}
        inputs = []
        for name in sig.user_inputs:
            val = placeholders[name].meta.get("val")
            if isinstance(val, torch.Tensor):
                inputs.append(TensorSpec(name, [_sym(d) for d in val.shape], str(val.dtype).replace("torch.", "")))
            else:
                inputs.append(TensorSpec(name, None, "float32"))
        out_node = next(n for n in model.graph.nodes if n.op == "output")
        vals = [a.meta.get("val") if hasattr(a, "meta") else None for a in out_node.args[0]][: len(sig.user_outputs)]
        outputs = [
            TensorSpec(n, [_sym(d) for d in v.shape], str(v.dtype).replace("torch.", ""))
            if isinstance(v, torch.Tensor) else TensorSpec(n)
            for n, v in zip(default_output_names(len(vals)), vals)
        ]
        return IOSpec(inputs, outputs)
    if flavor == "package":
        inputs = package_inputs(sys.modules[type(model).__module__].INPUTS)
        return IOSpec([TensorSpec(n, shape, dtype or "float32") for n, shape, dtype in inputs], [])
    if flavor == "hf_folder":
        return IOSpec([TensorSpec(i.name, list(i.shape), i.dtype) for i in model.hf_folder.inputs], [])
    if flavor == "torchscript":
        names = [i.debugName().split(".")[0] for i in list(model.graph.inputs())[1:]]
        return IOSpec([TensorSpec(n, None) for n in names], [])
    return IOSpec([TensorSpec(n, None) for n in forward_input_names(model)], [])


def example_tensor(spec: TensorSpec, sizes: list[int]):
    """The example a PyTorch converter traces with: seeded, so every run traces the same values."""
    torch = require("torch", "tracing a PyTorch model")
    dtype = getattr(torch, spec.dtype)
    gen = torch.Generator().manual_seed(0)
    if dtype.is_floating_point:
        return torch.randn(sizes, generator=gen).to(dtype)
    if dtype == torch.bool:
        return torch.zeros(sizes, dtype=torch.bool)
    return torch.randint(0, 2, sizes, generator=gen, dtype=dtype)


def resolve_inputs(job, model) -> list[tuple[TensorSpec, list[int]]]:
    """Merge what the model says of its inputs with --input-shape / --input-dtype (an EdgeJob's
    options): (spec, example sizes) per input, in the forward's order."""
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


def eager_outputs(model, args) -> list:
    """What the model returns on `args`, as a list (a tuple or list gives its items)."""
    torch = require("torch", "running a PyTorch model")
    with torch.no_grad():
        out = model.module()(*args) if isinstance(model, torch.export.ExportedProgram) else model(*args)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def count_outputs(model, args) -> int:
    """How many tensors the model returns on `args` (a tuple or list counts its items)."""
    return len(eager_outputs(model, args))


def export_examples(job, converter: str):
    """For the edges that torch.export the module themselves (litert-torch's two): the loaded model,
    its nn.Module, the resolved inputs, the seeded example tensors and the eager outputs on them.
    TorchScript is NotApplicable (torch.export takes no ScriptModule); a model that fails on its
    examples is the user's input error (exit 2)."""
    from modelport.errors import NotApplicable

    torch = require("torch", "tracing a PyTorch model")
    flavor = job.source_flavor or "callable"
    if flavor == "torchscript":
        raise NotApplicable(f"{converter} converts nn.Modules and ExportedPrograms, not TorchScript")
    model = load_module(job.source, flavor, weights=job.options.weights, task=job.options.task)
    inputs = resolve_inputs(job, model)
    args = tuple(example_tensor(s, ex) for s, ex in inputs)
    try:
        outs = eager_outputs(model, args)
    except Exception as e:
        raise UsageError(f"running the model on the example inputs failed: {type(e).__name__}: "
                         f"{str(e).splitlines()[0][:300]}") from None
    module = model.module() if isinstance(model, torch.export.ExportedProgram) else model
    return model, module, inputs, args, outs
