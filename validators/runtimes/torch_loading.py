"""Load a PyTorch artifact for running, without importing modelport's converters.

Validators may not reach into converters' internals (ARCHITECTURE.md), so this loader is the
runner-side twin of converters/pytorch_sources.py: TorchScript and ExportedProgram files, and
package folders, Hugging Face model folders and `file.py:callable` modules through the shared modelport.torch_modules.
"""

from __future__ import annotations

from modelport.errors import UsageError
from modelport.torch_modules import load_exported_program, load_torchscript


def load_torch_model(path: str, flavor: str, weights: str | None = None, device: str = "cpu",
                     task: str | None = None):
    """Return (callable model on `device`, input names, input shapes or None each, input dtypes (numpy
    names) or None each); `task` is a Hugging Face folder's --task. Only an ExportedProgram and a package record dtypes; the others take
    whatever they are fed."""
    if flavor == "torchscript":
        model = load_torchscript(path, device).eval()  # scanned before it runs (modelport/io_ops.py)
        names = [i.debugName().split(".")[0] for i in list(model.graph.inputs())[1:]]
        return model, names, [None] * len(names), [None] * len(names)
    if flavor == "exported_program":
        ep = load_exported_program(path)
        placeholders = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
        names = list(ep.graph_signature.user_inputs)
        shapes, dtypes = [], []
        for n in names:
            val = placeholders[n].meta.get("val")
            shapes.append([int(d) if str(d).isdigit() else str(d) for d in val.shape] if val is not None else None)
            dtypes.append(str(val.dtype).removeprefix("torch.") if val is not None else None)
        if device != "cpu":
            # torch.export specialises on the device it traced on: `.to("cuda")` on its module leaves
            # device checks and constants on the CPU (pytorch#121761). The export pass moves them.
            from torch.export.passes import move_to_device_pass

            ep = move_to_device_pass(ep, device)
        return ep.module(), names, shapes, dtypes
    if flavor == "package":
        from modelport.torch_modules import load_package, package_inputs

        model, inputs, _ = load_package(path, weights)
        specs = package_inputs(inputs)
        return model.to(device), [n for n, _, _ in specs], [s for _, s, _ in specs], [d for _, _, d in specs]
    if flavor == "hf_folder":
        from modelport.hf_models import load_hf_model

        model, folder = load_hf_model(path, task)
        return (model.to(device), [i.name for i in folder.inputs], [list(i.shape) for i in folder.inputs],
                [i.dtype for i in folder.inputs])
    if flavor == "callable":
        from modelport.torch_modules import build_module, forward_input_names

        model = build_module(path, weights).to(device)
        names = forward_input_names(model)
        return model, names, [None] * len(names), [None] * len(names)
    raise UsageError(f"{path}: unknown PyTorch flavor {flavor!r}")
