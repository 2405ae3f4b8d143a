"""Load a PyTorch source (TorchScript, ExportedProgram, or a `file.py:callable` reference) safely.

Weights come only through `torch.load(..., weights_only=True)`: a state_dict of tensors. Arbitrary
pickles are refused, because unpickling runs code. A callable reference is code the user names on
purpose, so importing it is their decision, as with `python file.py`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from typing import Any

from modelport.errors import UsageError
from modelport.types import IOSpec, TensorSpec, default_output_names
from modelport.converters.signatures import require


def _import_callable(ref: str):
    target, attr = ref.split(":", 1)
    if target.endswith(".py"):
        path = os.path.abspath(target)
        mod_name = "_modelport_src_" + os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"{ref}: cannot import {target}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        sys.path.insert(0, os.path.dirname(path))  # let the file import its siblings
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise UsageError(f"{ref}: importing {target} failed: {type(e).__name__}: {e}") from None
        finally:
            sys.path.remove(os.path.dirname(path))
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise UsageError(f"{ref}: cannot import module {target!r} ({e})") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{ref}: {target} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


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
    else:
        factory = _import_callable(src)
        try:
            model = factory() if not isinstance(factory, torch.nn.Module) else factory
        except Exception as e:
            raise UsageError(f"{src}: calling it failed: {type(e).__name__}: {e}") from None
        if not isinstance(model, torch.nn.Module):
            raise UsageError(f"{src}: returned {type(model).__name__}, not a torch.nn.Module")
    if weights:
        _load_weights(model, weights, torch)
    return model.eval()


def _load_weights(model, weights: str, torch) -> None:
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise UsageError(f"--weights {weights}: not a plain state_dict of tensors (refused to unpickle: {first})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]  # common checkpoint layout
    if not isinstance(state, dict):
        raise UsageError(f"--weights {weights}: expected a state_dict (a dict of tensors), got {type(state).__name__}")
    try:
        result = model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        raise UsageError(f"--weights {weights}: does not fit the model: {' '.join(lines[1:3])[:300]}") from None
    del result


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
    if flavor == "torchscript":
        names = [i.debugName().split(".")[0] for i in list(model.graph.inputs())[1:]]
        return IOSpec([TensorSpec(n, None) for n in names], [])
    params = list(inspect.signature(model.forward).parameters.values())
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return IOSpec([TensorSpec(n, None) for n in names], [])
