"""Build a Hugging Face model folder's model in a worker (transformers, offline), wrapped so that
every converter and runner sees a plain module: forward(input_ids, attention_mask[, token_type_ids])
(or pixel_values, or input_values) returning a tuple of tensors.

Why a wrapper: a transformers model returns a ModelOutput (a dict; with a key-value cache for a
decoder) and takes a dozen optional keyword arguments. The exporters and the validator name inputs
from forward's positional parameters (modelport/torch_modules.py) and flatten outputs in order, so
the wrapper states exactly the inputs modelport/hf_folders.py planned for, and returns the
ModelOutput's tensors in its own order (last_hidden_state, pooler_output; or logits), with the cache
turned off. The outputs are named after the ModelOutput's fields (last_hidden_state, logits, as
Optimum names them): an eager run leaves the names on the wrapper (OUTPUT_FIELDS), which the
exporters and the PyTorch runner read (they name other modules' outputs output_0, output_1, ...).

Safety: the folder is untrusted input. It is loaded with local_files_only (HF_HUB_OFFLINE is set in
every worker, modelport/workers/environment.py), trust_remote_code=False (a config naming custom
code is refused by transformers, never run), safetensors preferred, and a pytorch_model.bin read by
transformers with torch.load(weights_only=True).
"""

from __future__ import annotations

from modelport.callables import seed_everything
from modelport.errors import UsageError
from modelport.hf_folders import TASKS, describe
from modelport.torch_modules import OUTPUT_FIELDS, WEIGHTS_NOTE

# transformers' tables of the model types each task's Auto class builds (model_type -> class name),
# in transformers.models.auto.modeling_auto; read in the worker only (importing it imports torch).
_TASK_TABLES = {
    "feature-extraction": "MODEL_MAPPING_NAMES",
    "text-classification": "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
    "token-classification": "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES",
    "fill-mask": "MODEL_FOR_MASKED_LM_MAPPING_NAMES",
    "question-answering": "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES",
    "multiple-choice": "MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES",
    "text-generation": "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
    "image-classification": "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES",
    "audio-classification": "MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES",
}


def tasks_for(model_type: str) -> list[str]:
    """The tasks transformers has a class for, for this model type."""
    from transformers.models.auto import modeling_auto

    return [t for t, table in _TASK_TABLES.items() if model_type in getattr(modeling_auto, table, {})]


def load_hf_model(path: str, task: str | None = None):
    """(wrapped module in eval mode, the HFFolder) for a save_pretrained folder, built for `task`
    (--task; default: the config's). A head the folder holds no weights for (--task
    text-classification on a base model) is initialised seeded, the same in every worker, and
    the conversion's notes say so: such a model converts and validates, but is untrained."""
    import torch
    import transformers

    folder = describe(path, task)
    names = [i.name for i in folder.inputs]
    auto = getattr(transformers, TASKS[folder.task])
    cls = getattr(transformers, folder.architecture, None) if folder.architecture else None
    if cls is None and folder.task not in tasks_for(folder.model_type):
        raise UsageError(f"{path}: a {folder.model_type} model cannot do {folder.task} (transformers has no "
                         f"{auto.__name__} class for it); it can do {', '.join(tasks_for(folder.model_type)) or 'none of them'}")
    seed_everything()
    try:
        model, info = (cls or auto).from_pretrained(path, local_files_only=True, trust_remote_code=False,
                                                    output_loading_info=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise UsageError(f"{path}: transformers could not load this folder: {str(e).splitlines()[0][:300]}") from None
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
    missing = list((info or {}).get("missing_keys") or [])
    note = f"{type(model).__name__} for {folder.task}" + (f" (--task {task})" if task else "")
    if missing:
        note += (f": the folder holds no weights for {len(missing)} of its tensors ({', '.join(sorted(missing)[:3])}"
                 f"{', ...' if len(missing) > 3 else ''}), initialised seeded: the artifact is untrained there")
    object.__setattr__(wrapped, WEIGHTS_NOTE, note)  # the export step's notes (converters/edges)
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
            fields = [k for k, v in out.items() if isinstance(v, torch.Tensor)]
            if not (torch.compiler.is_compiling() or torch.compiler.is_exporting()):
                object.__setattr__(self, OUTPUT_FIELDS, fields)  # an eager run names the outputs
            return tuple(out[k] for k in fields)

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

