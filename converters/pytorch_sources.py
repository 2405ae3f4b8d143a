"""Load a PyTorch source (TorchScript, ExportedProgram, a package folder, or a `file.py:callable` reference) for
conversion, and describe its inputs. Callables and weights load through modelport.torch_modules
(weights only as a state_dict of tensors, never an arbitrary pickle)."""

from __future__ import annotations

import sys

from modelport.errors import UsageError
from modelport.types import IOSpec, TensorSpec, default_output_names
from modelport.libraries import require
from modelport.torch_modules import build_module, forward_input_names, load_package, load_weights, package_inputs


def load_module(src: str, flavor: str, *, weights: str | None = None):
    """Return an nn.Module, a ScriptModule or an ExportedProgram, in eval mode where it applies."""
    torch = require("torch", "loading a PyTorch model")
    if flavor == "torchscript":
        try:
            model = torch.jit.load(src, map_location="cpu")
        except Exception as e:
            raise UsageError(f"{src}: not a loadable TorchScript file ({str(e).splitlines()[0][:200]})") from None
    elif flavor == "exported_program":
        try:
            model = torch.export.load(src)
        except Exception as e:
            raise UsageError(f"{src}: not a loadable ExportedProgram ({str(e).splitlines()[0][:200]})") from None
        if weights:
            raise UsageError("--weights applies to file.py:callable sources, not to an ExportedProgram")
        return model
    elif flavor == "package":
        return load_package(src, weights)[0]
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
    if flavor == "torchscript":
        names = [i.debugName().split(".")[0] for i in list(model.graph.inputs())[1:]]
        return IOSpec([TensorSpec(n, None) for n in names], [])
    return IOSpec([TensorSpec(n, None) for n in forward_input_names(model)], [])
