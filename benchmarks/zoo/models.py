"""The corpus: real architectures from torchvision, timm and transformers (Keras: keras_models.py).

Why: modelport's fixtures are small hand-made networks; the operators, layouts and shape
arithmetic of real architectures (grouped and depthwise convs, squeeze-excite, channel shuffle,
window attention, relative position biases, rotary embeddings, weight-normed positional convs,
FPN heads ...) are where converters break. Each entry of `CASES` is one architecture, and each
has a zero-argument builder at module level with the case's name, so the modelport CLI loads it
exactly as a user's model:

    modelport convert benchmarks/zoo/models.py:resnet18 --to onnx --input-shape image:1,3,64,64

Every builder returns an `nn.Module` in eval mode whose forward takes named tensors (image,
input_ids, attention_mask, pixel_values, input_features, input_values: modelport names the inputs
from the forward signature) and returns plain tensors. Nothing is downloaded: `weights=None`,
`pretrained=False`, transformers models from small `XxxConfig(...)`. The weights are seeded,
normalisation layers randomised and the outputs checked non-degenerate (weights.py). Sizes are
kept small (64–96 px, 2-layer transformers with hidden 64) so one conversion takes seconds to
tens of seconds on 2 cores.

Keras cases are listed here too (library "keras") so the registry is one list, but they are built
by keras_models.py, which writes `.keras` and SavedModel files for the runner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
from torch import nn

try:  # imported as a package (tests, run.py)
    from benchmarks.zoo import weights as W
except ImportError:  # loaded as a file by modelport (`models.py:NAME`), its folder on sys.path
    import weights as W  # type: ignore[no-redef]

LIBRARIES = ("torchvision", "timm", "transformers", "keras")


@dataclass(frozen=True)
class Case:
    """One architecture: how to name it, build it, and feed it through the CLI."""

    name: str
    family: str
    library: str
    input_shapes: tuple[str, ...]  # `--input-shape` values, e.g. "image:1,3,64,64"
    input_dtypes: tuple[str, ...] = ()  # `--input-dtype` values, e.g. "input_ids:int64"
    note: str = ""
    tags: tuple[str, ...] = field(default=())  # e.g. "dense", "detection", "classifier"

    @property
    def source(self) -> str:
        """The modelport source reference (torch cases), relative to the repository root."""
        return f"benchmarks/zoo/models.py:{self.name}"

    def shapes(self) -> dict[str, list[int]]:
        return _parse_shapes(self.input_shapes)

    def dtypes(self) -> dict[str, str]:
        return dict(s.split(":", 1) for s in self.input_dtypes)

    def cli_args(self) -> list[str]:
        """--input-shape / --input-dtype arguments for `modelport convert` and `validate`."""
        args: list[str] = []
        for s in self.input_shapes:
            args += ["--input-shape", s]
        for d in self.input_dtypes:
            args += ["--input-dtype", d]
        return args


def _parse_shapes(specs) -> dict[str, list[int]]:
    out = {}
    for spec in specs:
        name, dims = spec.split(":", 1)
        out[name] = [int(re.sub(r"^[A-Za-z_]+=?", "", d) or 1) for d in dims.split(",")]
    return out


CASES: list[Case] = []


def _register(family: str, library: str, shapes, dtypes=(), note: str = "", tags=()):
    """Decorator: the builder's name is the case's name."""

    def deco(fn):
        CASES.append(Case(fn.__name__, family, library, tuple(shapes), tuple(dtypes), note, tuple(tags)))
        return fn

    return deco


# Batch-norm gamma range per case where the default (0.5, 1.5) leaves the model ill-conditioned
# (its float32 rounding using > 0.25 of the fp32 parity tolerance): found once with
# `python benchmarks/zoo/models.py --search`, pinned so that every process builds the same weights
# (weights.prepare says why no search happens at build time).
GAMMA_PINS = {
    "resnext50_32x4d": (0.1, 0.4), "wide_resnet50_2": (0.2, 0.7), "mobilenet_v3_large": (0.2, 0.7),
    "inception_v3": (0.2, 0.7), "fcn_resnet50": (0.1, 0.4), "deeplabv3_mobilenet_v3_large": (0.3, 1.0),
    "lraspp_mobilenet_v3_large": (0.1, 0.4), "fasterrcnn_mobilenet_fpn_features": (0.1, 0.4),
    "ssdlite_mobilenet_v3_head": (0.2, 0.7), "mobileone_s0": (0.1, 0.4), "selecsls42b": (0.2, 0.7),
    "levit_128s": (0.2, 0.7),  # heavy-tailed across inputs: 0.05 on three, 789 on a fourth with (0.5, 1.5)
}


def _finish(model: nn.Module, name: str, seed: int = 0, search: bool = False) -> nn.Module:
    """Randomise norms, check (and if needed rescale) the outputs: the last step of every builder.
    `search`: try every gamma recipe and measure the conditioning (what --search runs)."""
    case = next(c for c in CASES if c.name == name)
    shapes, dtypes = case.shapes(), case.dtypes()
    feeds = lambda s: W.random_inputs(shapes, dtypes, seed=1000 + s)  # noqa: E731
    if search or _SEARCH:
        extra = [W.numpy_inputs(shapes, dtypes, s) for s in range(3)] + [feeds(2000 + s) for s in range(3)]
        return W.prepare(model, feeds, seed=seed, condition_feeds=extra)
    return W.prepare(model, feeds, seed=seed, recipes=(GAMMA_PINS.get(name, W.GAMMA_RECIPES[0]),), measure=False)


_SEARCH = False  # set by `models.py --search`


def _tensors(out):
    """A library's output (tensor, dict, ModelOutput, list) as a tensor or a tuple of tensors."""
    flat = W.flatten_outputs(out)
    return flat[0] if len(flat) == 1 else tuple(flat)


class Image(nn.Module):
    """forward(image) -> tensor(s): names the input `image` and flattens dict/list outputs."""

    def __init__(self, net: nn.Module, key: str | None = None):
        super().__init__()
        self.net = net
        self.key = key

    def forward(self, image: torch.Tensor):
        out = self.net(image)
        if self.key is not None:
            out = out[self.key]
        return _tensors(out)


def _seed():
    W.seed_everything(0)


def _img(size: int, channels: int = 3) -> tuple[str, ...]:
    return (f"image:1,{channels},{size},{size}",)


# ------------------------------------------------------------------------------- torchvision

def _tv(builder_name: str, **kwargs) -> nn.Module:
    import torchvision.models.detection
    import torchvision.models.segmentation

    for namespace in (torchvision.models, torchvision.models.segmentation, torchvision.models.detection):
        if hasattr(namespace, builder_name):
            return getattr(namespace, builder_name)(weights=None, **kwargs)
    raise AttributeError(f"torchvision has no model builder {builder_name!r}")


@_register("resnet", "torchvision", _img(64), tags=("classifier",))
def resnet18():
    _seed()
    return _finish(Image(_tv("resnet18", num_classes=100)), "resnet18")


@_register("resnext", "torchvision", _img(64), tags=("classifier",))
def resnext50_32x4d():
    _seed()
    return _finish(Image(_tv("resnext50_32x4d", num_classes=100)), "resnext50_32x4d")


@_register("wide_resnet", "torchvision", _img(64), note="wide_resnet50_2: 67M parameters, the largest CNN here",
           tags=("classifier",))
def wide_resnet50_2():
    _seed()
    return _finish(Image(_tv("wide_resnet50_2", num_classes=100)), "wide_resnet50_2")


@_register("mobilenet", "torchvision", _img(64), note="torchvision's own init gives ~1e-6 logits", tags=("classifier",))
def mobilenet_v2():
    _seed()
    return _finish(Image(_tv("mobilenet_v2", num_classes=100)), "mobilenet_v2")


@_register("mobilenet", "torchvision", _img(64), note="hard-swish, squeeze-excite", tags=("classifier",))
def mobilenet_v3_small():
    _seed()
    return _finish(Image(_tv("mobilenet_v3_small", num_classes=100)), "mobilenet_v3_small")


@_register("mobilenet", "torchvision", _img(64), tags=("classifier",))
def mobilenet_v3_large():
    _seed()
    return _finish(Image(_tv("mobilenet_v3_large", num_classes=100)), "mobilenet_v3_large")


@_register("efficientnet", "torchvision", _img(64), note="SiLU, squeeze-excite, stochastic depth (eval)", tags=("classifier",))
def efficientnet_b0():
    _seed()
    return _finish(Image(_tv("efficientnet_b0", num_classes=100)), "efficientnet_b0")


@_register("regnet", "torchvision", _img(64), note="grouped convs", tags=("classifier",))
def regnet_y_400mf():
    _seed()
    return _finish(Image(_tv("regnet_y_400mf", num_classes=100)), "regnet_y_400mf")


@_register("regnet", "torchvision", _img(64), tags=("classifier",))
def regnet_x_400mf():
    _seed()
    return _finish(Image(_tv("regnet_x_400mf", num_classes=100)), "regnet_x_400mf")


@_register("convnext", "torchvision", _img(64), note="LayerNorm over channels (permutes), 7x7 depthwise, layer scale",
           tags=("classifier",))
def convnext_tiny():
    _seed()
    return _finish(Image(_tv("convnext_tiny", num_classes=100)), "convnext_tiny")


@_register("vit", "torchvision", _img(64), note="VisionTransformer(image_size=64, patch 16, 2 layers, hidden 64)",
           tags=("classifier", "transformer"))
def vit_b_16():
    import torchvision

    _seed()
    net = torchvision.models.VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=2,
                                               hidden_dim=64, mlp_dim=128, num_classes=100)
    return _finish(Image(net), "vit_b_16")


@_register("swin", "torchvision", _img(64), note="swin_t at 64 px: shifted windows, padded", tags=("classifier", "transformer"))
def swin_t():
    _seed()
    return _finish(Image(_tv("swin_t", num_classes=100)), "swin_t")


@_register("shufflenet", "torchvision", _img(64), note="channel shuffle (rank-5 reshape + transpose)", tags=("classifier",))
def shufflenet_v2_x0_5():
    _seed()
    return _finish(Image(_tv("shufflenet_v2_x0_5", num_classes=100)), "shufflenet_v2_x0_5")


@_register("mnasnet", "torchvision", _img(64), tags=("classifier",))
def mnasnet0_5():
    _seed()
    return _finish(Image(_tv("mnasnet0_5", num_classes=100)), "mnasnet0_5")


@_register("inception", "torchvision", _img(64), note="googlenet(aux_logits=False, init_weights=True); ceil-mode pools",
           tags=("classifier",))
def googlenet():
    _seed()
    return _finish(Image(_tv("googlenet", num_classes=100, aux_logits=False, init_weights=True)), "googlenet")


@_register("inception", "torchvision", _img(96), note="inception_v3 needs >= 75 px", tags=("classifier",))
def inception_v3():
    _seed()
    return _finish(Image(_tv("inception_v3", num_classes=100, aux_logits=False, init_weights=True)), "inception_v3")


@_register("densenet", "torchvision", _img(64), note="dense concatenations", tags=("classifier",))
def densenet121():
    _seed()
    return _finish(Image(_tv("densenet121", num_classes=100)), "densenet121")


@_register("squeezenet", "torchvision", _img(64), note="ceil-mode max pools, conv classifier", tags=("classifier",))
def squeezenet1_1():
    _seed()
    return _finish(Image(_tv("squeezenet1_1", num_classes=100)), "squeezenet1_1")


@_register("alexnet", "torchvision", _img(64), note="at 64 px the 1x1 feature map is upsampled to 6x6 by the adaptive pool",
           tags=("classifier",))
def alexnet():
    _seed()
    return _finish(Image(_tv("alexnet", num_classes=100)), "alexnet")


@_register("segmentation", "torchvision", _img(64), note="fcn_resnet50, weights_backbone=None; output 'out'", tags=("dense",))
def fcn_resnet50():
    _seed()
    net = _tv("fcn_resnet50", weights_backbone=None, num_classes=21, aux_loss=False)
    return _finish(Image(net, key="out"), "fcn_resnet50")


@_register("segmentation", "torchvision", _img(64), note="ASPP with a global-pool branch, bilinear upsampling",
           tags=("dense",))
def deeplabv3_mobilenet_v3_large():
    _seed()
    net = _tv("deeplabv3_mobilenet_v3_large", weights_backbone=None, num_classes=21, aux_loss=False)
    return _finish(Image(net, key="out"), "deeplabv3_mobilenet_v3_large")


@_register("segmentation", "torchvision", _img(64), tags=("dense",))
def lraspp_mobilenet_v3_large():
    _seed()
    net = _tv("lraspp_mobilenet_v3_large", weights_backbone=None, num_classes=21)
    return _finish(Image(net, key="out"), "lraspp_mobilenet_v3_large")


class _BackboneAndHead(nn.Module):
    """A detector without its post-processing (anchors, NMS): backbone features -> head tensors.

    The post-processing is data-dependent Python (boxes per image, NMS); what converts, and what
    users export, is the network up to the head's raw outputs."""

    def __init__(self, backbone: nn.Module, head: nn.Module, rpn: bool = False):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.rpn = rpn

    def forward(self, image: torch.Tensor):
        features = list(self.backbone(image).values())
        out = self.head(features)
        if self.rpn:  # RPNHead: (objectness per level, box deltas per level)
            objectness, deltas = out
            return tuple(features) + tuple(objectness) + tuple(deltas)
        return _tensors(out)


@_register("detection", "torchvision", _img(64), note="fasterrcnn_mobilenet_v3_large_fpn: FPN backbone + RPN head, no NMS",
           tags=("detection",))
def fasterrcnn_mobilenet_fpn_features():
    _seed()
    det = _tv("fasterrcnn_mobilenet_v3_large_fpn", weights_backbone=None, num_classes=11)
    return _finish(_BackboneAndHead(det.backbone, det.rpn.head, rpn=True), "fasterrcnn_mobilenet_fpn_features")


@_register("detection", "torchvision", _img(64), note="retinanet_resnet50_fpn: backbone + classification/regression heads",
           tags=("detection",))
def retinanet_resnet50_fpn_head():
    _seed()
    det = _tv("retinanet_resnet50_fpn", weights_backbone=None, num_classes=11)
    return _finish(_BackboneAndHead(det.backbone, det.head), "retinanet_resnet50_fpn_head")


@_register("detection", "torchvision", ("image:1,3,96,96",), note="ssdlite320_mobilenet_v3_large: backbone + SSDLite head",
           tags=("detection",))
def ssdlite_mobilenet_v3_head():
    _seed()
    det = _tv("ssdlite320_mobilenet_v3_large", weights_backbone=None, num_classes=11)
    return _finish(_BackboneAndHead(det.backbone, det.head), "ssdlite_mobilenet_v3_head")


# -------------------------------------------------------------------------------------- timm

def _timm(name: str, **kwargs) -> nn.Module:
    import timm

    return timm.create_model(name, pretrained=False, num_classes=100, **kwargs)


def _timm_case(name: str, family: str, size: int = 64, note: str = "", model: str | None = None, **kwargs):
    """Register a timm classifier: a module-level builder called `name`."""

    def builder():
        _seed()
        return _finish(Image(_timm(model or name, **kwargs)), name)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = f"timm.create_model({(model or name)!r}, pretrained=False, {kwargs}) at {size} px"
    _register(family, "timm", _img(size), note=note, tags=("classifier",))(builder)
    globals()[name] = builder


_timm_case("efficientformer_l1", "efficientformer", 224, note="attention biases sized for 224 px (7x7 last stage)")
_timm_case("mobilevit_xxs", "mobilevit", 64, note="unfold/fold into patches around a transformer")
_timm_case("repvgg_a0", "repvgg", 64, note="multi-branch blocks (not reparameterised)")
_timm_case("cspdarknet53", "cspnet", 64, note="cross-stage partial, Mish")
_timm_case("deit_tiny_patch16_224", "deit", 64, note="img_size=64", img_size=64)
_timm_case("levit_128s", "levit", 224, note="attention biases sized by the resolution; hard-swish")
_timm_case("ghostnet_050", "ghostnet", 64, note="ghost modules: cheap ops + concat + slice")
_timm_case("mixer_s16_224", "mlp-mixer", 64, note="token-mixing MLP on transposed patches; img_size=64", img_size=64)
_timm_case("resmlp_12_224", "resmlp", 64, note="affine (no-norm) layers; img_size=64", img_size=64)
_timm_case("poolformer_s12", "metaformer", 64, note="pooling token mixer, GroupNorm(1)")
_timm_case("edgenext_xx_small", "edgenext", 64, note="split depthwise transposed attention (XCA)")
_timm_case("pvt_v2_b0", "pvt", 64, note="spatial-reduction attention, overlapping patch embeds")
_timm_case("hrnet_w18_small", "hrnet", 64, note="parallel multi-resolution branches, nearest upsampling")
_timm_case("dla34", "dla", 64, note="deep layer aggregation trees")
_timm_case("rexnet_100", "rexnet", 64)
_timm_case("mobileone_s0", "mobileone", 64, note="multi-branch (train-time) blocks")
_timm_case("xcit_nano_12_p16_224", "xcit", 64, note="cross-covariance attention, class-attention layers; img_size=64",
           img_size=64)
_timm_case("sequencer2d_s", "sequencer", 64, note="bidirectional LSTMs over rows and columns")
_timm_case("coat_lite_tiny", "coat", 64, note="conv-attentional: depthwise conv relative position encoding; img_size=64",
           img_size=64)


@_register("convmixer", "timm", _img(64), note="timm ConvMixer narrowed to dim 128, depth 4, kernel 5, patch 4 "
           "(the registered variants are 768-1536 wide)", tags=("classifier",))
def convmixer_small():
    from timm.models.convmixer import ConvMixer

    _seed()
    return _finish(Image(ConvMixer(dim=128, depth=4, kernel_size=5, patch_size=4, num_classes=100)), "convmixer_small")
_timm_case("selecsls42b", "selecsls", 64)
_timm_case("skresnet18", "sknet", 64, note="selective kernel: split-attention across kernel sizes")


# ------------------------------------------------------------------------------ transformers

def _hf_config(cls_name: str, **kwargs):
    import transformers

    config = getattr(transformers, cls_name)(**kwargs)
    config._attn_implementation = "eager"  # plain matmul/softmax attention: exports everywhere
    return config


def _hf(model_cls: str, config):
    import transformers

    return getattr(transformers, model_cls)(config)


def _binary(mask: torch.Tensor) -> torch.Tensor:
    """modelport's generated integer inputs span [0, 10) (convert has no --value-range): a mask is
    read as attend-where-nonzero, so about one token in ten is masked."""
    return (mask > 0).to(torch.int64)


def _outputs(out, names: tuple[str, ...]):
    tensors = tuple(getattr(out, n) for n in names)
    return tensors[0] if len(tensors) == 1 else tensors


class TextModel(nn.Module):
    """forward(input_ids, attention_mask) -> the model's named outputs as tensors."""

    def __init__(self, net: nn.Module, outputs: tuple[str, ...] = ("last_hidden_state",)):
        super().__init__()
        self.net = net
        self.outputs = outputs

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        return _outputs(self.net(input_ids=input_ids, attention_mask=_binary(attention_mask)), self.outputs)


class TokenModel(nn.Module):
    """forward(input_ids) -> outputs: models used without a mask (causal LMs at full length)."""

    def __init__(self, net: nn.Module, outputs: tuple[str, ...] = ("last_hidden_state",)):
        super().__init__()
        self.net = net
        self.outputs = outputs

    def forward(self, input_ids: torch.Tensor):
        return _outputs(self.net(input_ids=input_ids), self.outputs)


class Seq2SeqModel(nn.Module):
    """forward(input_ids, attention_mask, decoder_input_ids) -> decoder and encoder hidden states."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, decoder_input_ids: torch.Tensor):
        out = self.net(input_ids=input_ids, attention_mask=_binary(attention_mask), decoder_input_ids=decoder_input_ids)
        return out.last_hidden_state, out.encoder_last_hidden_state


class PixelModel(nn.Module):
    """forward(pixel_values) -> outputs."""

    def __init__(self, net: nn.Module, outputs: tuple[str, ...]):
        super().__init__()
        self.net = net
        self.outputs = outputs

    def forward(self, pixel_values: torch.Tensor):
        return _outputs(self.net(pixel_values=pixel_values), self.outputs)


class AudioFeatures(nn.Module):
    """forward(input_features) -> last_hidden_state (Whisper's encoder on log-mel features)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, input_features: torch.Tensor):
        return self.net(input_features=input_features).last_hidden_state


class AudioValues(nn.Module):
    """forward(input_values) -> last_hidden_state, extract_features (wav2vec2 on raw audio)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, input_values: torch.Tensor):
        out = self.net(input_values=input_values)
        return out.last_hidden_state, out.extract_features


SEQ = 16
VOCAB = 1000
_TEXT = (f"input_ids:1,{SEQ}", f"attention_mask:1,{SEQ}")
_TEXT_DT = ("input_ids:int64", "attention_mask:int64")
_SMALL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)


@_register("bert", "transformers", _TEXT, _TEXT_DT, note="BertModel, 2 layers, hidden 64; + pooler", tags=("text",))
def bert():
    _seed()
    config = _hf_config("BertConfig", vocab_size=VOCAB, max_position_embeddings=64, **_SMALL)
    return _finish(TextModel(_hf("BertModel", config), ("last_hidden_state", "pooler_output")), "bert")


@_register("distilbert", "transformers", _TEXT, _TEXT_DT, tags=("text",))
def distilbert():
    _seed()
    config = _hf_config("DistilBertConfig", vocab_size=VOCAB, max_position_embeddings=64, dim=64, n_layers=2, n_heads=2,
                        hidden_dim=128)
    return _finish(TextModel(_hf("DistilBertModel", config)), "distilbert")


@_register("roberta", "transformers", _TEXT, _TEXT_DT, note="position ids from input_ids != padding_idx (cumsum)",
           tags=("text",))
def roberta():
    _seed()
    config = _hf_config("RobertaConfig", vocab_size=VOCAB, max_position_embeddings=66, **_SMALL)
    return _finish(TextModel(_hf("RobertaModel", config), ("last_hidden_state", "pooler_output")), "roberta")


@_register("albert", "transformers", _TEXT, _TEXT_DT, note="factorised embeddings, shared layers", tags=("text",))
def albert():
    _seed()
    config = _hf_config("AlbertConfig", vocab_size=VOCAB, max_position_embeddings=64, embedding_size=32, **_SMALL)
    return _finish(TextModel(_hf("AlbertModel", config), ("last_hidden_state", "pooler_output")), "albert")


@_register("electra", "transformers", _TEXT, _TEXT_DT, tags=("text",))
def electra():
    _seed()
    config = _hf_config("ElectraConfig", vocab_size=VOCAB, max_position_embeddings=64, embedding_size=32, **_SMALL)
    return _finish(TextModel(_hf("ElectraModel", config)), "electra")


@_register("deberta", "transformers", _TEXT, _TEXT_DT, note="DeBERTa-v2: disentangled relative-position attention",
           tags=("text",))
def deberta_v2():
    _seed()
    config = _hf_config("DebertaV2Config", vocab_size=VOCAB, max_position_embeddings=64, relative_attention=True,
                        position_buckets=32, pos_att_type=["p2c", "c2p"], **_SMALL)
    return _finish(TextModel(_hf("DebertaV2Model", config)), "deberta_v2")


@_register("gpt2", "transformers", (f"input_ids:1,{SEQ}",), ("input_ids:int64",), note="causal mask; Conv1D layers",
           tags=("text", "decoder"))
def gpt2():
    _seed()
    config = _hf_config("GPT2Config", vocab_size=VOCAB, bos_token_id=0, eos_token_id=0, n_positions=64, n_embd=64, n_layer=2, n_head=2)
    return _finish(TokenModel(_hf("GPT2Model", config)), "gpt2")


@_register("llama", "transformers", (f"input_ids:1,{SEQ}",), ("input_ids:int64",),
           note="rotary embeddings, RMSNorm, SwiGLU, grouped-query attention", tags=("text", "decoder"))
def llama():
    _seed()
    config = _hf_config("LlamaConfig", vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, use_cache=False)
    return _finish(TokenModel(_hf("LlamaModel", config)), "llama")


@_register("t5", "transformers", _TEXT, _TEXT_DT, note="T5EncoderModel: relative position buckets, RMS layer norm",
           tags=("text",))
def t5_encoder():
    _seed()
    config = _hf_config("T5Config", vocab_size=VOCAB, d_model=64, d_kv=32, d_ff=128, num_layers=2, num_heads=2)
    return _finish(TextModel(_hf("T5EncoderModel", config)), "t5_encoder")


@_register("bart", "transformers", _TEXT + (f"decoder_input_ids:1,{SEQ}",), _TEXT_DT + ("decoder_input_ids:int64",),
           note="encoder-decoder, 3 int inputs", tags=("text", "seq2seq"))
def bart():
    _seed()
    config = _hf_config("BartConfig", vocab_size=VOCAB, d_model=64, encoder_layers=2, decoder_layers=2,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128,
                        max_position_embeddings=64, use_cache=False)
    return _finish(Seq2SeqModel(_hf("BartModel", config)), "bart")


@_register("clip", "transformers", (f"input_ids:1,{SEQ}", f"attention_mask:1,{SEQ}"), _TEXT_DT,
           note="CLIPTextModel: causal mask + padding mask, pooled at argmax(input_ids)", tags=("text",))
def clip_text():
    _seed()
    config = _hf_config("CLIPTextConfig", vocab_size=VOCAB, pad_token_id=1, bos_token_id=0, eos_token_id=2, max_position_embeddings=32, **_SMALL)
    return _finish(TextModel(_hf("CLIPTextModel", config), ("last_hidden_state", "pooler_output")), "clip_text")


_PIXELS = ("pixel_values:1,3,64,64",)
_VIT = dict(image_size=64, patch_size=16, **_SMALL)


@_register("clip", "transformers", _PIXELS, note="CLIPVisionModel at 64 px, patch 16", tags=("vision", "transformer"))
def clip_vision():
    _seed()
    config = _hf_config("CLIPVisionConfig", **_VIT)
    return _finish(PixelModel(_hf("CLIPVisionModel", config), ("last_hidden_state", "pooler_output")), "clip_vision")


@_register("vit", "transformers", _PIXELS, note="ViTModel at 64 px, patch 16; + pooler", tags=("vision", "transformer"))
def hf_vit():
    _seed()
    config = _hf_config("ViTConfig", **_VIT)
    return _finish(PixelModel(_hf("ViTModel", config), ("last_hidden_state", "pooler_output")), "hf_vit")


@_register("whisper", "transformers", ("input_features:1,16,128",),
           note="WhisperEncoder: 16 mel bins, 128 frames (max_source_positions 64), conv stem + sinusoidal positions",
           tags=("audio",))
def whisper_encoder():
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    _seed()
    config = _hf_config("WhisperConfig", vocab_size=VOCAB, d_model=64, encoder_layers=2, encoder_attention_heads=2,
                        encoder_ffn_dim=128, decoder_layers=2, decoder_attention_heads=2, decoder_ffn_dim=128,
                        num_mel_bins=16, max_source_positions=64, max_target_positions=64,
                        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=3)
    return _finish(AudioFeatures(WhisperEncoder(config)), "whisper_encoder")


@_register("wav2vec2", "transformers", ("input_values:1,1600",),
           note="conv feature extractor with GroupNorm, weight-normed positional conv", tags=("audio",))
def wav2vec2():
    _seed()
    config = _hf_config("Wav2Vec2Config", vocab_size=32, conv_dim=(32, 32, 32), conv_stride=(5, 2, 2),
                        conv_kernel=(10, 3, 3), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                        **_SMALL)
    return _finish(AudioValues(_hf("Wav2Vec2Model", config)), "wav2vec2")


# ------------------------------------------------------------------------------------- keras
# Built by keras_models.py (keras is imported only there); listed here so the registry is one list.
# The input shape is the source's (NHWC): what `modelport validate` needs for the .keras reference.

for _name, _family, _size, _note in [
    ("keras_mobilenet_v2", "mobilenet", 96, "keras.applications.MobileNetV2 at 96 px"),
    ("keras_resnet50", "resnet", 64, "keras.applications.ResNet50 at 64 px"),
    ("keras_efficientnet_b0", "efficientnet", 64, "keras.applications.EfficientNetB0 at 64 px (Rescaling/Normalization in-model)"),
    ("keras_densenet121", "densenet", 64, "keras.applications.DenseNet121 at 64 px"),
    ("keras_mobilenet_v3_small", "mobilenet", 96, "keras.applications.MobileNetV3Small at 96 px (hard-swish, in-model rescaling)"),
    ("keras_nasnet_mobile", "nasnet", 96, "keras.applications.NASNetMobile at 96 px (separable convs, cell concats)"),
]:
    CASES.append(Case(_name, _family, "keras", (f"image:1,{_size},{_size},3",), (), _note, ("classifier",)))


def cases(patterns=None, libraries=None) -> list[Case]:
    """The cases whose name, family or library matches one of the glob `patterns` (all if none)."""
    import fnmatch

    selected = []
    for c in CASES:
        if libraries and c.library not in libraries:
            continue
        if patterns and not any(fnmatch.fnmatch(c.name, p) or fnmatch.fnmatch(c.family, p) or c.library == p
                                for p in patterns):
            continue
        selected.append(c)
    return selected


def get(name: str) -> Case:
    for c in CASES:
        if c.name == name:
            return c
    raise KeyError(name)


def _main(argv=None) -> int:
    """`python benchmarks/zoo/models.py --search [PATTERN...]`: build each case trying every gamma
    recipe, print the recipe and conditioning reached (the source of GAMMA_PINS);
    `--conditioning [PATTERN...]`: build as the CLI does and print the conditioning."""
    import argparse
    import sys

    global _SEARCH
    parser = argparse.ArgumentParser(description=_main.__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--search", action="store_true")
    mode.add_argument("--conditioning", action="store_true")
    parser.add_argument("patterns", nargs="*")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    _SEARCH = args.search
    for c in cases(args.patterns or None):
        if c.library == "keras":
            continue
        model = globals()[c.name]()
        if not _SEARCH:
            feeds = [W.random_inputs(c.shapes(), c.dtypes(), seed=1000 + s) for s in range(2)]
            feeds += [W.numpy_inputs(c.shapes(), c.dtypes(), s) for s in range(3)]
            model.zoo_conditioning = max(W.conditioning(model, f) or 0.0 for f in feeds)
        pinned = GAMMA_PINS.get(c.name, W.GAMMA_RECIPES[0])
        print(f"{c.name:36s} gamma {model.zoo_gamma}  conditioning {model.zoo_conditioning:.3f}"
              + ("" if tuple(model.zoo_gamma) == tuple(pinned) else f"  (pinned: {pinned})"), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
