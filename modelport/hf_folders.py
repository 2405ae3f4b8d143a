"""Hugging Face model folders (`save_pretrained` output: config.json, model.safetensors, tokenizer
files) as a PyTorch source: what the folder is, which class builds it, and the inputs it expects.

Everything here reads config.json only, never imports transformers or torch: the parent plans the
route and fills in the input shapes and value ranges before any worker runs (`modelport --help` and
the planner stay fast). modelport/hf_models.py builds the model in the worker.

Why build the inputs from the config, not from optimum-onnx's exporter configs: optimum-onnx 0.1.0
caps transformers below 4.58 and the stack pins transformers 5.24 (a layer of its own would hold a
second transformers, whose model would not be the one users load). What the exporters need is
small and in every config: the input names (input_ids, attention_mask, token_type_ids where the
config has token types; pixel_values; input_values), the vocabulary and type-vocabulary sizes
(ids are drawn within them) and the image size. The dims stay dynamic: batch and sequence (or
samples) are named, so the ONNX artifact takes any batch and length.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from modelport.errors import UsageError

CONFIG = "config.json"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")

# Example sizes: the export traces with them and the validation runs with them (a size traced at 1
# would be specialised by the exporters; 16 tokens leave room for padding in the attention mask).
BATCH, SEQUENCE, SAMPLES = 2, 16, 16000

# Tasks modelport can build, the Auto class of each, and the suffixes of the `architectures` names
# in config.json that say the task (BertForSequenceClassification -> text-classification).
TASKS = {
    "feature-extraction": "AutoModel",
    "text-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "fill-mask": "AutoModelForMaskedLM",
    "question-answering": "AutoModelForQuestionAnswering",
    "multiple-choice": "AutoModelForMultipleChoice",
    "text-generation": "AutoModelForCausalLM",
    "image-classification": "AutoModelForImageClassification",
    "audio-classification": "AutoModelForAudioClassification",
}
_SUFFIXES = (("ForSequenceClassification", "text-classification"), ("ForTokenClassification", "token-classification"),
             ("ForMaskedLM", "fill-mask"), ("ForQuestionAnswering", "question-answering"),
             ("ForMultipleChoice", "multiple-choice"), ("ForCausalLM", "text-generation"),
             ("LMHeadModel", "text-generation"), ("ForImageClassification", "image-classification"),
             ("ForAudioClassification", "audio-classification"), ("ForSequenceClassification", "audio-classification"),
             ("Model", "feature-extraction"))
# Model types whose input is a waveform (input_values), not token ids.
_AUDIO = {"wav2vec2", "wav2vec2-bert", "hubert", "wavlm", "data2vec-audio", "sew", "sew-d", "unispeech", "unispeech-sat"}
# Configs that describe two models (encoder-decoder, text+vision): not a single-input-kind source yet.
_COMPOSITE_KEYS = ("decoder", "text_config", "vision_config", "encoder")


@dataclass(frozen=True)
class HFInput:
    name: str
    shape: tuple[str | int, ...]  # named dims are dynamic
    example: tuple[int, ...]  # the sizes the export traces and the validation runs with
    dtype: str
    value_range: tuple[int, int] | None = None  # ids: [lo, hi)

    def shape_text(self, sizes: dict[str, int] | None = None) -> str:
        """The `--input-shape` form, NAME:batch=2,sequence=16, a named dim at its size in `sizes` if given."""
        sizes = sizes or {}
        return f"{self.name}:" + ",".join(f"{d}={sizes.get(d, e)}" if isinstance(d, str) else str(d)
                                          for d, e in zip(self.shape, self.example))


@dataclass(frozen=True)
class HFFolder:
    path: str
    model_type: str
    architecture: str | None  # config.json's architectures[0], when it names one
    task: str
    inputs: tuple[HFInput, ...]


def is_hf_folder(path: str) -> bool:
    """A folder with a config.json that names a model_type (what every save_pretrained writes)."""
    try:
        with open(os.path.join(path, CONFIG)) as f:
            return isinstance(json.load(f).get("model_type"), str)
    except (OSError, ValueError, AttributeError):
        return False


def read_config(path: str) -> dict:
    try:
        with open(os.path.join(path, CONFIG)) as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a Hugging Face model folder ({CONFIG}: {e})") from None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise UsageError(f"{path}: not a Hugging Face model folder ({CONFIG} names no model_type)")
    return config


def task_of(config: dict) -> tuple[str, str | None]:
    """(task, architecture) from config.json's `architectures`; a config without one is
    feature-extraction (the base model, as AutoModel loads it)."""
    arch = _architecture(config)
    if arch is None:
        return "feature-extraction", None
    audio = config.get("model_type") in _AUDIO
    for suffix, task in _SUFFIXES:
        if arch.endswith(suffix) and (task != "text-classification" or not audio):
            return task, arch
    raise UsageError(f"config.json's architecture {arch} is not one modelport can build: it builds "
                     f"{', '.join(TASKS)} models")


def check_task(task: str) -> str:
    """`--task`: one of TASKS (UsageError listing them otherwise). Whether the model can do it is
    transformers' to say, in the worker that builds it (its Auto classes' tables import torch)."""
    if task not in TASKS:
        raise UsageError(f"--task {task!r}: not a task modelport builds; choose one of {', '.join(TASKS)}")
    return task


def describe(path: str, task: str | None = None) -> HFFolder:
    """What the folder holds and the inputs its model takes (UsageError, exit 2, when modelport
    cannot build it: no weights, an encoder-decoder or multi-modal config, an unknown architecture).
    `task` (--task) overrides the config's: the model is then built by that task's Auto class, not
    by the architecture config.json names (unless that architecture does the task)."""
    config = read_config(path)
    model_type = config["model_type"]
    if not any(os.path.isfile(os.path.join(path, f)) for f in WEIGHT_FILES):
        raise UsageError(f"{path}: a Hugging Face config without weights (none of {', '.join(WEIGHT_FILES)})")
    if config.get("is_encoder_decoder") or any(isinstance(config.get(k), dict) for k in _COMPOSITE_KEYS):
        raise UsageError(f"{path}: {model_type} is an encoder-decoder or multi-modal model; modelport converts "
                         "single-encoder and decoder-only Hugging Face models (export the part you need as "
                         "file.py:callable)")
    if task is None:
        task, arch = task_of(config)
    else:
        check_task(task)
        arch = _architecture(config)
        if arch is not None and _task_or_none(config) != task:
            arch = None
    return HFFolder(path, model_type, arch, task, tuple(_inputs(config, task)))


def _architecture(config: dict) -> str | None:
    archs = config.get("architectures") or []
    return archs[0] if archs and isinstance(archs[0], str) else None


def _task_or_none(config: dict) -> str | None:
    try:
        return task_of(config)[0]
    except UsageError:
        return None


def _inputs(config: dict, task: str) -> list[HFInput]:
    batch = ("batch", "choices") if task == "multiple-choice" else ("batch",)
    batch_ex = (1, BATCH) if task == "multiple-choice" else (BATCH,)
    if config["model_type"] in _AUDIO:
        return [HFInput("input_values", ("batch", "samples"), (BATCH, SAMPLES), "float32")]
    if "image_size" in config or "num_channels" in config and "vocab_size" not in config:
        size = config.get("image_size", 224)
        h, w = (size, size) if isinstance(size, int) else tuple(size)[:2]
        return [HFInput("pixel_values", ("batch", int(config.get("num_channels", 3)), int(h), int(w)),
                        (BATCH, int(config.get("num_channels", 3)), int(h), int(w)), "float32")]
    vocab = config.get("vocab_size")
    if not isinstance(vocab, int) or vocab < 1:
        raise UsageError(f"config.json of {config['model_type']} names no vocab_size, image_size or audio model type: "
                         "modelport cannot tell which inputs it takes")
    dims, ex = batch + ("sequence",), batch_ex + (SEQUENCE,)
    out = [HFInput("input_ids", dims, ex, "int64", (0, vocab)), HFInput("attention_mask", dims, ex, "int64")]
    types = config.get("type_vocab_size")
    if isinstance(types, int) and types > 0:
        out.append(HFInput("token_type_ids", dims, ex, "int64", (0, types)))
    return out


def folder_of(path: str, task: str | None = None) -> HFFolder | None:
    """describe(path, task) for a Hugging Face folder, None for any other source."""
    return describe(path, task) if os.path.isdir(path) and is_hf_folder(path) else None


def default_input_shapes(folder: HFFolder, given: tuple[str, ...]) -> tuple[str, ...]:
    """`given` (--input-shape) plus the folder's own shape for every input it does not name, its
    named dims at the sizes `given` sets for them (input_ids:batch=1,sequence=128 sets the attention
    mask's too)."""
    from modelport.input_overrides import parse_input_shape

    overrides = [parse_input_shape(text) for text in given]
    sizes = {d: e for o in overrides for d, e in zip(o.shape or [], o.example or []) if isinstance(d, str) and e}
    named = {o.name for o in overrides}
    return tuple(given) + tuple(i.shape_text(sizes) for i in folder.inputs if i.name not in named)


def default_value_ranges(folder: HFFolder, given: tuple[str, ...]) -> tuple[str, ...]:
    """`given` (--value-range) plus [0, vocab) for ids and [0, types) for token types where not given."""
    named = {text.partition(":")[0].strip() for text in given}
    return tuple(given) + tuple(f"{i.name}:{i.value_range[0]},{i.value_range[1]}" for i in folder.inputs
                                if i.value_range and i.name not in named)
