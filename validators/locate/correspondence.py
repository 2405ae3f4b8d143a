"""Which artifact tensor each source tensor is, step by step along the artifact's route.

Each step of the manifest's route maps tensor names:
- pytorch -> onnx, dynamo exporter: the identity, the exporter names ONNX values after the FX
  nodes of the program it exported (capture.TorchCapture runs that program);
- onnx -> onnx (quantization) keeps the float model's value names where it keeps the value;
- onnx -> tflite: onnx2tf's tensor correspondence report, which the conversion keeps in the
  step's details (`tensor_correspondence`: ONNX value, TFLite tensor, status, channel-last);
- onnx -> pytorch (modelport's converter): exact, from the builder, which the conversion keeps in
  the step's details (`tensor_names`: ONNX value, .pt2 node or package variable), each settled by
  running (converters/onnx_torch/provenance.py).
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
from modelport.validators.locate.graphs import FINISHES_PREVIOUS, INPUT, TensorGraph, TensorInfo

IDENTITY = None  # a step that keeps names
SAME_NAMES_NEW_LAYOUT = "names"  # a step that keeps names but may move axes (tf2onnx: NHWC tensors, NCHW convs)
STRUCTURE = "structure"  # a step that loses them: the route is aligned by structure (align)
BUILDER = "builder"  # a pair recorded by modelport's ONNX -> PyTorch builder and settled by running: exact

# edge -> why its names carry over (only the steps locate can follow; the others are refused)
KEEPS_NAMES = {"onnx->onnx": "value names kept by the quantizer"}
# tf2onnx names ONNX values after the TensorFlow / TFLite tensors they hold (".../convolution:0"),
# but computes convolutions channel-first between Transposes: the layout of a pair is settled by shapes.
KEEPS_NAMES_MOVES_AXES = ("savedmodel->onnx", "tflite->onnx")

# Ops a converter folds into the weights of the op before them, and ops that change nothing. ONNX's
# and FX's names (an FX batch norm is a tuple-valued node read through getitem).
FOLDED_INTO_WEIGHTS = ("BatchNormalization", "SpatialBN", "Add", "Sub", "Mul", "Div", "Identity", "Dropout",
                       "aten.add", "aten.sub", "aten.mul", "aten.div", "aten.dropout", "aten.clone",
                       "BiasAdd", "AddV2", "FusedBatchNormV3")  # TensorFlow's, for a SavedModel source
# What a TFLite op's fused activation stands for, as source op kinds (graphs.KINDS)
FUSED_KINDS = {"RELU": "relu", "RELU6": "relu6", "TANH": "tanh"}
# Ops that begin with an affine step (hardsigmoid: clip(alpha * x + beta, 0, 1)) a converter can fold
# into the weights of the layer before them: that layer's output in the artifact is then
# alpha * x + beta, not x (MobileNet-v3 to SavedModel through decompose: its squeeze-excite conv).
# Ops that read their input twice (hardswish, gelu) leave nothing to fold.
AFFINE_PREFIX_OPS = ("HardSigmoid", "aten.hardsigmoid")


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
        if edge == "pytorch->onnx" and details.get("exporter") == "dynamo":
            maps.append(IDENTITY)
        elif edge in KEEPS_NAMES:
            maps.append(IDENTITY)
        elif edge in KEEPS_NAMES_MOVES_AXES:
            maps.append(SAME_NAMES_NEW_LAYOUT)
        elif edge == "onnx->tflite" and details.get("tensor_correspondence") is not None:
            records = details["tensor_correspondence"]
            maps.append({r[0]: (r[1], r[2], r[3]) for r in records})
        elif edge == "onnx->pytorch" and details.get("tensor_names"):
            maps.append({value: (name, BUILDER, None) for value, name in details["tensor_names"]})
        else:  # names are lost here (TFLiteConverter, tf2onnx, litert-torch, onnx2tf's tf_converter)
            return [STRUCTURE], record.get("route", "")
    return maps, record.get("route", "")


SOURCE_FLAVORS = ("callable", "exported_program", "hf_folder")  # PyTorch sources torch.export can take


def followable(record: dict | None, artifact_format: str) -> bool:
    """Whether locate can pair an artifact's tensors with its source's (the route's steps and the
    source's kind), without running anything."""
    if artifact_format not in ("onnx", "tflite", "savedmodel", "pytorch"):
        return False
    if artifact_format == "pytorch" and not any((s.get("details") or {}).get("tensor_names")
                                                for s in (record or {}).get("steps") or []):
        return False  # TorchScript, or no manifest: nothing names its tensors
    src = (record or {}).get("source") or {}
    if record is not None and src.get("format") not in ("onnx", "pytorch", "savedmodel", "tflite", "keras"):
        return False
    if src.get("format") == "pytorch" and src.get("flavor") not in SOURCE_FLAVORS:
        return False
    try:
        step_maps(record, artifact_format, "")
    except UsageError:  # a TFLite artifact without its manifest
        return False
    return True


def bisectable(record: dict | None, source_format: str) -> bool:
    """Whether a conversion can be re-run in pieces: its manifest records the route, and the source
    is ONNX or the route's first step writes ONNX and more steps follow (that step is re-run, then
    its ONNX bisected: modelport/pipeline/locate_bisect.py; validators/locate/bisect.py)."""
    steps = (record or {}).get("steps") or []
    if not record or not record.get("route") or not steps:
        return False
    return source_format == "onnx" or (str(steps[0].get("edge", "")).endswith("->onnx") and len(steps) > 1)


def match(source: TensorGraph, candidate: TensorGraph, maps: list[StepMap], io_map: IOMap, how: str,
          output_names: list[str]) -> Correspondence:
    """Pairs for every source tensor the route's maps carry to a tensor of the candidate's graph.
    Graph inputs and outputs pair through the I/O map, with its permutations; `output_names` are
    the source's outputs as its runner names them, in the order of `source.outputs` (an FX graph's
    last node is `linear` where the model's output is `output`). A route of steps that keep names
    keeps layouts too (no step transposes), so only those with a map may move axes."""
    ends_pairs = _io_pairs(source, candidate, io_map, output_names)
    if STRUCTURE in maps:
        return align(source, candidate, ends_pairs, how)
    permutes = any(step is not IDENTITY for step in maps)
    pairs, unmatched, lowered = [], [], []
    ends = {p.source: p for p in ends_pairs}
    for t in source.tensors:
        if t.name in ends:
            pairs.append(ends[t.name])
            continue
        if t.op == INPUT:
            continue
        name, status, channel_last = t.name, "name", None
        for step in maps:
            if step is IDENTITY or step == SAME_NAMES_NEW_LAYOUT:
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
        pairs.append(Pair(t.name, name, _how(status), channel_last, known_layout=not permutes))
    pairs, folded = _fold_forward(pairs, source, candidate, set(unmatched))
    pairs, fused = _unfuse(pairs, source)
    pairs, renamed = _kinds_agree(pairs, source, candidate)
    return Correspondence(pairs, lowered + folded + fused + renamed,
                          [u for u in unmatched if u not in {p.source for p in pairs}], how)


def _how(status: str) -> str:
    if status == "name":
        return "name"
    return "the ONNX -> PyTorch builder's record" if status == BUILDER else f"onnx2tf report ({status})"


def _kinds_agree(pairs: list[Pair], source: TensorGraph, candidate: TensorGraph) -> tuple[list[Pair], list[dict]]:
    """Pairs whose producing ops are of the same kind (graphs.KINDS; a TFLite op's fused activation
    is its kind), where both kinds are known. A name can outlive what it held: ONNX Runtime's
    quantizer removes a Relu before a QuantizeLinear (the quantization clamps at zero) and keeps
    the Relu's output name on the Conv's output, which then holds the values before the Relu
    (measured on the light ResNet-50 through --quantize int8: 42% RMS off its namesake, while the
    MaxPool after it matched); tf2onnx does the mirror image, a TFLite CONV_2D with RELU fused
    becoming a Conv that keeps the name and a Relu after it. Such a pair is not compared: it is
    listed as fused."""
    kept, dropped = [], []
    for p in pairs:
        s, c = source.by_name[p.source], candidate.by_name[p.candidate]
        s_kind = FUSED_KINDS.get(s.activation or "") or s.kind  # a TFLite source's fused activation too: tf2onnx
        c_kind = FUSED_KINDS.get(c.activation or "") or c.kind  # unfuses it and names the Conv before the Relu
        if p.how.startswith(("I/O map", _how(BUILDER))) or s_kind is None or c_kind is None or s_kind == c_kind:
            kept.append(p)
        else:
            dropped.append({"source": p.source, "candidate": p.candidate, "into": f"the artifact's {c.op} ({c.producer})"})
    return kept, dropped


def _absorbed(op: str, kind: str | None, activation: str | None) -> bool:
    """Whether a converter folds this source op into the artifact op before it: into its weights
    (batch norm, constant arithmetic), or as the activation that artifact op has fused."""
    base = ".".join(op.split(".")[:2]) if op.startswith("aten.") else op  # aten.add.Tensor -> aten.add
    if base in FOLDED_INTO_WEIGHTS or "batch_norm" in op:
        return True
    return kind is not None and FUSED_KINDS.get(activation or "") == kind


def _fold_forward(pairs: list[Pair], source: TensorGraph, candidate: TensorGraph,
                  unmatched: set[str]) -> tuple[list[Pair], list[dict]]:
    """Move each pair's source tensor past the ops the converter folded into its producer (the
    module docstring says when): through a sole consumer that reads nothing else but constants,
    keeps the shape, has no counterpart of its own, and is absorbed (_absorbed)."""
    folded = []
    for p in pairs:
        if p.known_layout and p.how.startswith("I/O map"):
            continue
        name, activation = p.source, candidate.by_name[p.candidate].activation
        while len(source.consumers(name)) == 1:
            nxt = source.consumers(name)[0]
            shape, next_shape = source.by_name[name].shape, nxt.shape
            if not _absorbed(nxt.op, nxt.kind, activation) or nxt.inputs != [name] or nxt.name not in unmatched or \
                    (shape is not None and next_shape is not None and shape != next_shape):
                break
            folded.append({"source": name, "candidate": p.candidate, "into": nxt.name})
            name = nxt.name
        p.source = name
    return pairs, folded


def _io_pairs(source: TensorGraph, candidate: TensorGraph, io_map: IOMap, output_names: list[str]) -> list[Pair]:
    """The graph inputs and outputs, paired through the I/O map with its permutations."""
    by_input, by_output = {m.source: m for m in io_map.inputs}, {m.source: m for m in io_map.outputs}
    ends = {graph_out: by_output[name] for graph_out, name in zip(source.outputs, output_names) if name in by_output}
    pairs = []
    for t in source.tensors:
        m = by_input.get(t.name) if t.op == INPUT else ends.get(t.name)
        if m is not None and m.artifact in candidate:
            pairs.append(Pair(t.name, m.artifact, f"I/O map ({m.rule})", perm=m.perm, known_layout=True))
    return pairs


def align(source: TensorGraph, candidate: TensorGraph, ends: list[Pair], how: str) -> Correspondence:
    """Pairs for a route that loses tensor names, from the two graphs' structure alone.

    Converters keep a model's weighted layers (Conv, Gemm, MatMul) and their order: those are
    aligned first, by the sorted dims of their weights (OIHW in ONNX, OHWI in TFLite: the same
    multiset) as a longest common subsequence of the two op orders. An aligned pair is kept only
    where the nearest aligned layers above it pair up too (parallel branches with equal weights,
    stored in another order, would otherwise cross). Between consecutive aligned layers, the other
    ops pair up by kind (graphs.KINDS) in order, where both graphs hold as many of that kind and
    their shapes fit. Then a layer's output moves past what the artifact folded into it, as for
    named routes (_fold_forward): a batch norm always, an activation only where the artifact op
    has it fused."""
    import difflib

    s_w = [t for t in source.tensors if t.weight and t.kind in ("conv", "dense")]
    c_w = [t for t in candidate.tensors if t.weight and t.kind in ("conv", "dense")]
    sig = lambda t: (t.kind, tuple(sorted(t.weight)))  # noqa: E731
    blocks = difflib.SequenceMatcher(None, [sig(t) for t in s_w], [sig(t) for t in c_w], autojunk=False)
    anchors = _consistent([(s_w[a + k], c_w[b + k]) for a, b, n in blocks.get_matching_blocks() for k in range(n)],
                          source, candidate)
    anchors = [(s, _finished(c, candidate)) for s, c in anchors]
    pairs = [Pair(s.name, c.name, f"structure ({s.kind} weight {c.weight}, op order)") for s, c in anchors]
    bounds = [(-1, -1)] + [(source.position[s.name], candidate.position[c.name]) for s, c in anchors] + \
        [(len(source.tensors), len(candidate.tensors))]
    taken = {p.source for p in ends} | {p.candidate for p in ends}
    for (s0, c0), (s1, c1) in zip(bounds, bounds[1:]):
        s_seg = [t for t in source.tensors[s0 + 1:s1] if t.kind and t.kind not in ("conv", "dense") and t.name not in taken]
        c_seg = [t for t in candidate.tensors[c0 + 1:c1] if t.kind and t.kind not in ("conv", "dense") and t.name not in taken]
        for kind in {t.kind for t in s_seg}:
            s_k, c_k = [t for t in s_seg if t.kind == kind], [t for t in c_seg if t.kind == kind]
            if len(s_k) == len(c_k) and all(_shapes_fit(a.shape, b.shape) for a, b in zip(s_k, c_k)):
                pairs += [Pair(a.name, b.name, f"structure ({kind}, op order between aligned layers)") for a, b in zip(s_k, c_k)]
    paired = {p.source for p in pairs} | {p.source for p in ends}
    unmatched = {t.name for t in source.tensors if t.name not in paired and t.op != INPUT}
    pairs, folded = _fold_forward(pairs, source, candidate, unmatched)
    pairs, prefixed = _affine_prefixed(pairs, source, candidate)
    pairs, fused = _unfuse(pairs + ends, source)
    names = {p.source for p in pairs}
    lost = f"{how}: the route keeps no tensor names, so they are paired by structure (weights' shapes, op order)"
    return Correspondence(sorted(pairs, key=lambda p: source.position[p.source]), folded + prefixed + fused,
                          [t.name for t in source.tensors if t.name not in names and t.op != INPUT], lost)


def _affine_prefixed(pairs: list[Pair], source: TensorGraph, candidate: TensorGraph) -> tuple[list[Pair], list[dict]]:
    """Weighted layers whose sole consumer starts with an affine step (AFFINE_PREFIX_OPS): not
    compared, since the artifact may hold that step's output, not theirs (structure alone cannot
    tell; onnx2tf's names can, converters/edges/onnx_to_tf.py)."""
    kept, dropped = [], []
    for p in pairs:
        after = source.consumers(p.source)
        c = candidate.by_name[p.candidate]
        weighted = c.kind in ("conv", "dense") or c.op in FINISHES_PREVIOUS
        if weighted and len(after) == 1 and after[0].op.split(".default")[0] in AFFINE_PREFIX_OPS:
            dropped.append({"source": p.source, "candidate": p.candidate, "into": after[0].name})
        else:
            kept.append(p)
    return kept, dropped


def _finished(c: TensorInfo, candidate: TensorGraph) -> TensorInfo:
    """The artifact tensor that holds what the aligned source layer computes: past a BiasAdd that
    adds the layer's bias (graphs.FINISHES_PREVIOUS), which TensorFlow writes as an op of its own."""
    consumers = candidate.consumers(c.name)
    if len(consumers) == 1 and consumers[0].op in FINISHES_PREVIOUS and consumers[0].inputs == [c.name]:
        return consumers[0]
    return c


def _shapes_fit(a, b) -> bool:
    from modelport.layout import fitting_perms

    if not a or not b:
        return True
    import math

    return bool(fitting_perms(list(a), list(b))) or math.prod(a) == math.prod(b)


def _consistent(anchors: list, source: TensorGraph, candidate: TensorGraph) -> list:
    """Aligned layers whose nearest aligned layers above them are paired with each other, less
    those structure cannot tell apart: layers alike (same weight shape) with the same aligned
    layers above them, as two parallel branches' convs, which a converter may store in the other
    order. Those are left unpaired rather than guessed."""
    while True:
        s_of = {s.name: c.name for s, c in anchors}
        c_set = set(s_of.values())
        s_up, c_up = _nearest_above(source, set(s_of)), _nearest_above(candidate, c_set)
        kept = [(s, c) for s, c in anchors if {s_of[a] for a in s_up[s.name]} == c_up[c.name]]
        alike: dict[tuple, int] = {}
        for s, _ in kept:
            key = (tuple(sorted(s.weight)), frozenset(s_up[s.name]))
            alike[key] = alike.get(key, 0) + 1
        kept = [(s, c) for s, c in kept if alike[(tuple(sorted(s.weight)), frozenset(s_up[s.name]))] == 1]
        if len(kept) == len(anchors):
            return kept
        anchors = kept


def _nearest_above(graph: TensorGraph, marked: set[str]) -> dict[str, set[str]]:
    """For every tensor, the marked tensors nearest above it (not through another marked one)."""
    above: dict[str, set[str]] = {}
    for t in graph.tensors:
        found: set[str] = set()
        for i in t.inputs:
            found |= {i} if i in marked else above.get(i, set())
        above[t.name] = found
    return above


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
