"""Which artifact tensor each source tensor is, step by step along the artifact's route.

Each step of the manifest's route maps tensor names:
- pytorch -> onnx, dynamo exporter: the identity, the exporter names ONNX values after the FX
  nodes of the program it exported (capture.TorchCapture runs that program);
- onnx -> onnx (quantization) keeps the float model's value names where it keeps the value;
- onnx -> tflite: onnx2tf's tensor correspondence report, which the conversion keeps in the
  step's details (`tensor_correspondence`: ONNX value, TFLite tensor, status, channel-last).
A route composes its steps' maps. An ONNX artifact without a manifest is matched by name.

A converter fuses ops: onnx2tf maps a Conv's output and the Relu after it to the one CONV_2D
tensor that holds the Relu's values. So when several source tensors claim one artifact tensor,
only the last of them (in the source's topological order) is its counterpart; the others are
reported as fused into it, not compared against values they never had. It also folds ops whose
outputs it then lists as missing: a BatchNormalization after a Conv disappears into the conv's
weights, and the report pairs the Conv's output with a CONV_2D tensor that holds the batch-norm's
values (light ResNet-50: cosine 0.95 between the Conv's output and that tensor, on a correct
conversion). So a paired source tensor is moved forward through its sole consumer while that
consumer is an op a producer can absorb (FOLDABLE), reads nothing else but constants, keeps the
shape, and writes a tensor with no counterpart of its own. Decided from the graphs, never from the
values, which would explain a real fault away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelport.errors import UsageError
from modelport.types import IOMap
from modelport.validators.locate.graphs import INPUT, TensorGraph

IDENTITY = None  # a step that keeps names

# edge -> why its names carry over (only the steps locate can follow; the others are refused)
KEEPS_NAMES = {"onnx->onnx": "value names kept by the quantizer"}

# Ops a converter folds into the op before them (weights, a fused activation). ONNX's and FX's names.
FOLDABLE = {"BatchNormalization", "SpatialBN", "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid",
            "Add", "Sub", "Mul", "Div", "Identity", "Dropout"}


@dataclass
class Pair:
    source: str
    candidate: str
    how: str  # where the correspondence comes from
    channel_last: bool | None = None  # what the converter says of the artifact tensor's layout
    perm: list[int] | None = None  # an input's permutation, from the I/O map (known, not guessed)
    known_layout: bool = False  # True for inputs: the perm is the I/O map's, not settled here


@dataclass
class Correspondence:
    pairs: list[Pair]
    fused: list[dict] = field(default_factory=list)  # {source, candidate, into}: merged by the converter
    unmatched: list[str] = field(default_factory=list)  # source tensors with no counterpart
    how: str = ""


StepMap = dict[str, tuple[str, str, bool | None]] | None  # name -> (name, status, channel-last); None: identity


def step_maps(record: dict | None, artifact_format: str, artifact: str) -> tuple[list[StepMap], str]:
    """The name map of each step of the artifact's route, and the route as text."""
    if record is None:
        if artifact_format == "onnx":
            return [IDENTITY], "no manifest: tensors matched by name"
        raise UsageError(f"{artifact} has no modelport manifest ({artifact}.modelport.json): locate follows a "
                         f"{artifact_format} artifact's tensors through the correspondence its conversion recorded; "
                         "convert it with modelport convert")
    maps: list[StepMap] = []
    for step in record.get("steps") or []:
        edge, details = step.get("edge", "?"), step.get("details") or {}
        if edge == "pytorch->onnx":
            if details.get("exporter") != "dynamo":
                raise UsageError(f"{artifact}: its pytorch->onnx step used the {details.get('exporter', '?')} exporter, "
                                 "whose ONNX names are not the FX node names locate follows; convert with "
                                 "--strategy pytorch-onnx=dynamo to locate in it")
            maps.append(IDENTITY)
        elif edge in KEEPS_NAMES:
            maps.append(IDENTITY)
        elif edge == "onnx->tflite":
            records = details.get("tensor_correspondence")
            if records is None:
                raise UsageError(f"{artifact}: its manifest records no tensor correspondence for the {edge} step "
                                 "(converted by an earlier modelport, or by onnx2tf's tf_converter backend, which "
                                 "writes none); convert it again to locate in it")
            maps.append({r[0]: (r[1], r[2], r[3]) for r in records})
        else:
            raise UsageError(f"{artifact}: locate cannot follow tensors through the {edge} step yet (it follows "
                             "pytorch->onnx with the dynamo exporter, onnx->onnx and onnx->tflite)")
    return maps, record.get("route", "")


SOURCE_FLAVORS = ("callable", "exported_program", "hf_folder")  # PyTorch sources torch.export can take


def followable(record: dict | None, artifact_format: str) -> bool:
    """Whether locate can pair an artifact's tensors with its source's (the route's steps and the
    source's kind), without running anything."""
    if artifact_format not in ("onnx", "tflite"):
        return False
    src = (record or {}).get("source") or {}
    if record is not None and src.get("format") not in ("onnx", "pytorch"):
        return False
    if src.get("format") == "pytorch" and src.get("flavor") not in SOURCE_FLAVORS:
        return False
    try:
        step_maps(record, artifact_format, "")
    except UsageError:
        return False
    return True


def match(source: TensorGraph, candidate: TensorGraph, maps: list[StepMap], io_map: IOMap, how: str,
          output_names: list[str]) -> Correspondence:
    """Pairs for every source tensor the route's maps carry to a tensor of the candidate's graph.
    Graph inputs and outputs pair through the I/O map, with its permutations; `output_names` are
    the source's outputs as its runner names them, in the order of `source.outputs` (an FX graph's
    last node is `linear` where the model's output is `output`). A route of steps that keep names
    keeps layouts too (no step transposes), so only those with a map may move axes."""
    by_input, by_output = {m.source: m for m in io_map.inputs}, {m.source: m for m in io_map.outputs}
    ends = {graph_out: by_output[name] for graph_out, name in zip(source.outputs, output_names) if name in by_output}
    permutes = any(step is not IDENTITY for step in maps)
    pairs, unmatched, lowered = [], [], []
    for t in source.tensors:
        m = by_input.get(t.name) if t.op == INPUT else ends.get(t.name)
        if m is not None and m.artifact in candidate:
            pairs.append(Pair(t.name, m.artifact, f"I/O map ({m.rule})", perm=m.perm, known_layout=True))
            continue
        if t.op == INPUT:
            continue
        name, status, channel_last = t.name, "name", None
        for step in maps:
            if step is IDENTITY:
                continue
            hit = step.get(name)
            if hit is None:
                name = None
                break
            name, status, channel_last = hit[0], hit[1], hit[2]
        if name is None or name not in candidate:
            unmatched.append(t.name)
            continue
        if status.startswith("fused into "):  # the converter made the tensor another op's step (the edge says which)
            lowered.append({"source": t.name, "candidate": name, "into": status.removeprefix("fused into ")})
            continue
        pairs.append(Pair(t.name, name, "name" if status == "name" else f"onnx2tf report ({status})", channel_last,
                          known_layout=not permutes))
    pairs, folded = _fold_forward(pairs, source, set(unmatched))
    pairs, fused = _unfuse(pairs, source)
    return Correspondence(pairs, lowered + folded + fused, [u for u in unmatched if u not in {p.source for p in pairs}], how)


def _fold_forward(pairs: list[Pair], source: TensorGraph, unmatched: set[str]) -> tuple[list[Pair], list[dict]]:
    """Move each pair's source tensor past the ops the converter folded into its producer (the
    module docstring says when)."""
    consumers: dict[str, list[str]] = {}
    for t in source.tensors:
        for i in t.inputs:
            consumers.setdefault(i, []).append(t.name)
    folded = []
    for p in pairs:
        if p.known_layout and p.how.startswith("I/O map"):
            continue
        name = p.source
        while len(consumers.get(name, [])) == 1:
            nxt = source.by_name[consumers[name][0]]
            shape, next_shape = source.by_name[name].shape, nxt.shape
            if nxt.op not in FOLDABLE or nxt.inputs != [name] or nxt.name not in unmatched or \
                    (shape is not None and next_shape is not None and shape != next_shape):
                break
            folded.append({"source": name, "candidate": p.candidate, "into": nxt.name})
            name = nxt.name
        p.source = name
    return pairs, folded


def _unfuse(pairs: list[Pair], source: TensorGraph) -> tuple[list[Pair], list[dict]]:
    """One source tensor per artifact tensor: the last in topological order; the others were fused."""
    last: dict[str, Pair] = {}
    for p in pairs:
        kept = last.get(p.candidate)
        if kept is None or source.position[p.source] > source.position[kept.source]:
            last[p.candidate] = p
    keep = {id(p) for p in last.values()}
    fused = [{"source": p.source, "candidate": p.candidate, "into": last[p.candidate].source}
             for p in pairs if id(p) not in keep]
    return [p for p in pairs if id(p) in keep], fused


def check_source(record: dict | None, source: str, artifact: str) -> None:
    """The artifact's manifest must name this source (same file content, same callable)."""
    import os

    from modelport import manifest

    if record is None:
        return
    src = record.get("source") or {}
    path, _, attr = source.rpartition(":")
    is_callable = bool(path) and path.endswith(".py") and not os.path.exists(source)
    given_sha = manifest.sha256_of(path if is_callable else source)
    recorded = src.get("sha256")
    recorded_attr = str(src.get("path", "")).rpartition(":")[2] if src.get("flavor") == "callable" else None
    if recorded and given_sha and recorded != given_sha or (is_callable and recorded_attr and recorded_attr != attr):
        raise UsageError(f"{artifact} was not converted from {source} (its manifest names {src.get('path')}, "
                         f"sha256 {str(recorded)[:12]}...): locate compares an artifact with its own source")
