"""Which candidate tensor corresponds to which reference tensor, and how its axes moved.

First choice is the candidate's provenance manifest (written by `modelport convert`): its I/O map
is exact. When the manifest's source is not the reference but both were converted from the same
source, the two maps are composed. Without a manifest, tensors are matched by name (ignoring the
`:0` and `serving_default_` decorations that TensorFlow adds), then to a candidate whose shape fits
unchanged or channel-first -> channel-last (position breaks ties; several that fit are settled by
running), and the rule used is reported per tensor.
"""

from __future__ import annotations

import re

from modelport.layout import alternatives_to, fitting_perms, infer_perm, inverse_perm
from modelport.types import IOMap, TensorMapping, TensorSpec, compose_perms


def _clean(name: str) -> str:
    return re.sub(r"^serving_default_", "", re.sub(r":\d+$", "", name))


def invert(m: IOMap) -> IOMap:
    flip = lambda ms: [TensorMapping(x.artifact, x.source, inverse_perm(x.perm), x.rule,  # noqa: E731
                                     [inverse_perm(a) for a in x.alternatives]) for x in ms]
    return IOMap(flip(m.inputs), flip(m.outputs))


def from_manifests(ref_path_sha: tuple[str, str | None], ref_manifest: dict | None, cand_manifest: dict | None) -> IOMap | None:
    """The reference -> candidate map from manifests, or None when they do not connect."""
    if not cand_manifest:
        return None
    cand_map = IOMap.from_dict(cand_manifest["io_map"])
    src = cand_manifest.get("source", {})
    ref_path, ref_sha = ref_path_sha
    if (ref_sha and src.get("sha256") == ref_sha) or src.get("path") == ref_path:
        return _tag(cand_map, "manifest")
    if ref_manifest and ref_manifest.get("source", {}).get("sha256") and \
            ref_manifest["source"]["sha256"] == src.get("sha256"):
        return _tag(invert(IOMap.from_dict(ref_manifest["io_map"])).then(cand_map), "manifests (shared source)")
    return None


def _tag(m: IOMap, rule: str) -> IOMap:
    retag = lambda ms: [TensorMapping(x.source, x.artifact, x.perm, f"{rule}: {x.rule}", x.alternatives)  # noqa: E731
                        for x in ms]
    return IOMap(retag(m.inputs), retag(m.outputs))


def _kind(dtype: str | None) -> str | None:
    """float, int or bool: TFLite narrows int64 to int32, so only the kind must agree."""
    if not dtype:
        return None
    for kind, prefixes in (("bool", ("bool",)), ("float", ("float", "bfloat", "half", "double")),
                           ("int", ("int", "uint"))):
        if dtype.startswith(prefixes):
            return kind
    return None


def _perms_if_fits(r: TensorSpec, c: TensorSpec) -> list[list[int] | None] | None:
    """The layouts under which candidate `c` can be reference `r`, or None when it cannot be."""
    kr, kc = _kind(r.dtype), _kind(c.dtype)
    if kr and kc and kr != kc:
        return None
    if r.shape is None or c.shape is None:
        return [None]
    return fitting_perms(r.shape, c.shape) or None


def _mapping(r: TensorSpec, c: TensorSpec, rule: str) -> TensorMapping:
    perm, why = infer_perm(r.shape, c.shape)
    return TensorMapping(r.name, c.name, perm, f"{rule}; layout by {why}", alternatives_to(perm, r.shape, c.shape))


def by_signature(ref: list[TensorSpec], cand: list[TensorSpec]) -> list[TensorMapping]:
    """Match without a manifest: name, then cleaned name, then a candidate whose shape fits.

    Position is only a tie-break among tensors whose shapes fit: a raw onnx2tf TFLite lists its
    outputs in another order than the ONNX (fasterrcnn's 9 FPN outputs: pairing by position
    compared 6 of 9 with a tensor of another shape, and swapped a same-shaped pair). When several
    unmatched candidates fit, the others travel as `pairings` and running settles which one it is
    (layout_evidence.settle), as for an ambiguous layout."""
    by_name = {c.name: c for c in cand}
    by_clean = {_clean(c.name): c for c in cand}
    named: dict[int, tuple[TensorSpec, str]] = {}
    taken: set[str] = set()
    for i, r in enumerate(ref):
        c, rule = by_name.get(r.name), "name"
        if c is None:
            c, rule = by_clean.get(_clean(r.name)), "name without TF decorations"
        if c is not None and c.name not in taken:
            named[i] = (c, rule)
            taken.add(c.name)
    free = [c for c in cand if c.name not in taken]
    fitting = {i: [c for c in free if _perms_if_fits(r, c) is not None] for i, r in enumerate(ref) if i not in named}
    chosen: dict[int, TensorMapping] = {i: _mapping(ref[i], c, rule) for i, (c, rule) in named.items()}
    for i in sorted(fitting, key=lambda i: (len(fitting[i]), i)):  # the most constrained first
        left = [c for c in fitting[i] if c.name not in taken]
        if not left:
            continue
        at_position = cand[i] if len(ref) == len(cand) and cand[i] in left else None
        c = at_position or left[0]
        rule = "position" if at_position is not None else "first unmatched tensor of a fitting shape"
        if len(fitting[i]) > 1:
            rule += f" (one of {len(fitting[i])} that fit: settled by running if it fails)"
        chosen[i] = _mapping(ref[i], c, rule)
        chosen[i].pairings = [_mapping(ref[i], o, "the shape fits") for o in fitting[i] if o is not c]
        taken.add(c.name)
    for i, r in enumerate(ref):  # nothing fits: pair by position so that the report names the shape that differs
        if i not in chosen and len(ref) == len(cand) and cand[i].name not in taken:
            chosen[i] = _mapping(r, cand[i], "position (no candidate's shape fits)")
            taken.add(cand[i].name)
    out = [chosen[i] for i in sorted(chosen)]
    return out


def resolve(ref_inputs, ref_outputs, cand_inputs, cand_outputs, manifest_map: IOMap | None) -> IOMap:
    """The map to use: the manifest's where it covers the tensors, the signature fallback otherwise."""
    if manifest_map is not None:
        ins = {m.source for m in manifest_map.inputs}
        if {t.name for t in ref_inputs} <= ins or not ref_inputs:
            return manifest_map
    return IOMap(by_signature(ref_inputs, cand_inputs), by_signature(ref_outputs, cand_outputs))


__all__ = ["resolve", "from_manifests", "by_signature", "invert", "compose_perms"]
