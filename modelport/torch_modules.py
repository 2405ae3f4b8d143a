"""Import a `file.py:callable` / `package.module:callable` reference and load a state_dict into it.

Shared by the converters (pytorch -> onnx) and the validators (the eager PyTorch runner), which
may not import each other's internals. Weights come only through `torch.load(weights_only=True)`:
a state_dict of tensors; arbitrary pickles are refused, because unpickling runs code. A callable
reference is code the user names on purpose, so importing it is their decision, as with
`python file.py`.
"""

from __future__ import annotations

import os
import sys

from modelport.callables import call_seeded, import_callable, library_of
from modelport.errors import UsageError, first_line
from modelport.types import default_output_names


WEIGHTS_NOTE = "modelport_weights_note"  # the attribute load_weights leaves on the module: what it read
OUTPUT_FIELDS = "modelport_output_fields"  # what an eager run of a Hugging Face wrapper names its outputs


def output_names(model, count: int) -> list[str]:
    """The names of a module's `count` outputs: a Hugging Face folder's wrapper, once run eagerly,
    names them after its ModelOutput's fields (modelport/hf_models.py); any other module's are
    output_0, output_1, ... (or output alone)."""
    fields = getattr(model, OUTPUT_FIELDS, None)
    return list(fields) if fields and len(fields) == count else default_output_names(count)


def load_weights(model, weights: str) -> None:
    """Load `weights` (a state_dict, a training or Lightning checkpoint: modelport/checkpoints.py)
    into `model`, strictly, after dropping a wrapper's key prefix when that makes the keys fit. What
    was read is left on the module as WEIGHTS_NOTE, for the converter's notes."""
    from modelport.checkpoints import fit_keys, load_checkpoint

    state, kind = load_checkpoint(weights)
    state, prefix, left_out = fit_keys(state, set(model.state_dict()))
    note = f"--weights: {os.path.basename(weights)}, a {kind}"
    if prefix:
        note += f"; key prefix {prefix!r} dropped" + (f", {left_out} {'entry' if left_out == 1 else 'entries'} outside it left out" if left_out else "")
    try:
        result = model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        raise UsageError(f"--weights {weights}: does not fit the model: {' '.join(lines[1:3])[:300]}") from None
    del result  # strict=True already raised on missing or unexpected keys
    object.__setattr__(model, WEIGHTS_NOTE, note)  # a plain attribute, not a submodule or parameter


def build_module(ref: str, weights: str | None = None):
    """Import `ref`, call it seeded (unless it already is a module; modelport/callables.py says why),
    load `weights`: an nn.Module in eval mode."""
    import torch

    factory = import_callable(ref)
    model = factory if isinstance(factory, torch.nn.Module) else call_seeded(ref, factory)
    if not isinstance(model, torch.nn.Module):
        if library_of(model) == "keras":  # the import hint guessed PyTorch (modelport/callables.py)
            raise UsageError(f"{ref}: returned a Keras model ({type(model).__name__}), but its file's imports do not "
                             "say Keras alone, so it was read as PyTorch code: import keras, and not torch, in that file")
        raise UsageError(f"{ref}: returned {type(model).__name__}, not a torch.nn.Module or a Keras model")
    if weights:
        load_weights(model, weights)
    return model.eval()


def forward_input_names(model) -> list[str]:
    """The positional parameters of forward(): the names a module's inputs go by."""
    import inspect

    params = inspect.signature(model.forward).parameters.values()
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


PACKAGE_FILES = ("model.py", "weights.pt")


def is_package(folder: str) -> bool:
    """A PyTorch package as `convert --pytorch-format package` writes it: model.py + weights.pt."""
    return all(os.path.isfile(os.path.join(folder, f)) for f in PACKAGE_FILES)


def package_inputs(inputs: dict) -> list[tuple[str, list | None, str | None]]:
    """(name, shape with str dims dynamic or None, dtype or None) of a package's INPUTS."""
    return [(name, [d if isinstance(d, int) else str(d) for d in shape] or None, dtype or None)
            for name, (shape, dtype) in inputs.items()]


def load_package(folder: str, weights: str | None = None):
    """(module in eval mode, INPUTS, OUTPUTS) of a package folder: its model.py's load(), with
    weights.pt beside it unless `weights` names another state_dict."""
    model_py = os.path.join(folder, "model.py")
    try:
        loader = import_callable(f"{model_py}:load")
    except UsageError as e:
        raise UsageError(f"{folder}: not a loadable PyTorch package ({e})") from None
    module = sys.modules[loader.__module__]
    inputs, outputs = getattr(module, "INPUTS", None), getattr(module, "OUTPUTS", None)
    if not isinstance(inputs, dict) or not isinstance(outputs, (list, tuple)):
        raise UsageError(f"{model_py}: defines no INPUTS dict and OUTPUTS list (not a modelport package)")
    try:
        model = loader(weights) if weights else loader()
    except Exception as e:
        raise UsageError(f"{folder}: loading the package's weights failed: {first_line(e)}") from None
    return model, inputs, list(outputs)


def load_torchscript(path: str, device: str = "cpu"):
    """torch.jit.load, a damaged file (or a data.pkl naming a class torch will not build) as a
    one-line UsageError, and refused when it calls an operator on files (modelport/io_ops.py)."""
    import torch

    from modelport.io_ops import refuse, torchscript_io_ops

    try:
        model = torch.jit.load(path, map_location=device)
    except Exception as e:
        raise UsageError(f"{path}: not a loadable TorchScript file ({first_line(e)})") from None
    refuse(path, torchscript_io_ops(model))
    return model


def load_exported_program(path: str):
    """torch.export.load as load_torchscript does it (errors, the I/O-op scan), with every pickle
    inside the archive read by torch's weights-only unpickler. Why: torch.export.load (torch 2.14)
    unpickles a .pt2's sample inputs, and any weight or constant marked `use_pickle`, with
    `weights_only=False` when the restricted load fails
    (torch/_export/serde/serialize.py, deserialize_torch_artifact; export/pt2_archive/_package.py).
    Measured: a .pt2 whose data/sample_inputs/model.pt is a pickle calling `exec` ran it on
    `inspect`. torch.load is looked up on the module at each call, so it is replaced for the
    duration of the load; an archive that needs more than tensors and containers is refused."""
    import functools

    import torch

    refused: list[str] = []
    real_load = torch.load

    @functools.wraps(real_load)
    def weights_only_load(f, *args, **kwargs):
        kwargs["weights_only"] = True
        try:
            return real_load(f, *args, **kwargs)
        except Exception as e:
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            # torch's own reason ("Unsupported global: GLOBAL builtins.exec") is deep in its advice
            why = next((ln for ln in lines if "WeightsUnpickler error" in ln), lines[0] if lines else type(e).__name__)
            refused.append(why.removeprefix("WeightsUnpickler error: ")[:160])
            raise

    from modelport.io_ops import exported_program_io_ops, refuse

    torch.load = weights_only_load
    try:
        program = torch.export.load(path)
    except Exception as e:
        if refused:
            raise UsageError(f"{path}: holds a pickle that is not plain tensors (refused to unpickle, it could run "
                             f"code: {refused[0]})") from None
        raise UsageError(f"{path}: not a loadable ExportedProgram ({first_line(e)})") from None
    finally:
        torch.load = real_load
    refuse(path, exported_program_io_ops(program))
    return program
