"""Build a Hugging Face model folder's model in a worker (transformers, offline), wrapped so that
every converter and runner sees a plain module: forward(input_ids, attention_mask[, token_type_ids])
(or pixel_values, or input_values) returning a tuple of tensors.

Why a wrapper: a transformers model returns a ModelOutput (a dict; with a key-value cache for a
decoder) and takes a dozen optional keyword arguments. The exporters and the validator name inputs
from forward's positional parameters (modelport/torch_modules.py) and flatten outputs in order, so
the wrapper states exactly the inputs modelport/hf_folders.py planned for, and returns the
ModelOutput's tensors in its own order (last_hidden_state, pooler_output; or logits), with the cache
turned off. The output names stay output_0, output_1, ... as for every PyTorch source; the
conversion's notes say which field each one is.

Safety: the folder is untrusted input. It is loaded with local_files_only (HF_HUB_OFFLINE is set in
every worker, modelport/workers/environment.py), trust_remote_code=False (a config naming custom
code is refused by transformers, never run), safetensors preferred, and a pytorch_model.bin read by
transformers with torch.load(weights_only=True).
"""

from __future__ import annotations

from modelport.errors import UsageError
from modelport.hf_folders import TASKS, describe


def load_hf_model(path: str):
    """(wrapped module in eval mode, the HFFolder) for a save_pretrained folder."""
    import torch
    import transformers

    folder = describe(path)
    names = [i.name for i in folder.inputs]
    auto = getattr(transformers, TASKS[folder.task])
    cls = getattr(transformers, folder.architecture, None) if folder.architecture else None
    try:
        model = (cls or auto).from_pretrained(path, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise UsageError(f"{path}: transformers could not load this folder: {str(e).splitlines()[0]}") from None
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"{path}: {type(model).__name__} is not a PyTorch model")
    if hasattr(model.config, "use_cache"):
        model.config.use_cache = False  # no key-value cache among the outputs
    takes = _forward_parameters(model)
    missing = [n for n in names if n not in takes]
    if missing:
        raise UsageError(f"{path}: {type(model).__name__}.forward takes no {', '.join(missing)} "
                         f"(it takes {', '.join(takes[:6])}, ...)")
    wrapped = _wrapper(names)(model).eval()
    wrapped.hf_folder = folder  # what converters/pytorch_sources.py's module_io reports
    return wrapped, folder


def _forward_parameters(model) -> list[str]:
    import inspect

    return list(inspect.signature(model.forward).parameters)


def _wrapper(names: list[str]):
    """The wrapper class whose forward takes exactly `names` (its signature is what names the inputs)."""
    import torch

    class HFModule(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def run(self, **feed):
            out = self.net(**feed, return_dict=True)
            return tuple(v for v in out.values() if isinstance(v, torch.Tensor))

    kinds = {("input_ids", "attention_mask"): _Text, ("input_ids", "attention_mask", "token_type_ids"): _TypedText,
             ("pixel_values",): _Pixels, ("input_values",): _Waveform}
    mixin = kinds.get(tuple(names))
    if mixin is None:
        raise UsageError(f"no wrapper for the inputs {', '.join(names)}")
    return type(f"HF{mixin.__name__.strip('_')}", (mixin, HFModule), {})


class _Text:
    def forward(self, input_ids, attention_mask):
        return self.run(input_ids=input_ids, attention_mask=attention_mask)


class _TypedText:
    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.run(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)


class _Pixels:
    def forward(self, pixel_values):
        return self.run(pixel_values=pixel_values)


class _Waveform:
    def forward(self, input_values):
        return self.run(input_values=input_values)

