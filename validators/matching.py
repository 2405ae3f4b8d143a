"""Which candidate tensor corresponds to which reference tensor, and how its axes moved.

First choice is the candidate's provenance manifest (written by `modelport convert`): its I/O map
is exact. When the manifest's source is not the reference but both were converted from the same
source, the two maps are composed. Without a manifest, tensors are matched by name (ignoring the
`:0` and `serving_default_` decorations that TensorFlow adds), then by position with a shape that
fits unchanged or channel-first -> channel-last, and the rule used is reported per tensor.
"""

from __future__ import annotations

import re

from modelport.layout import alternatives_to, infer_perm, inverse_perm
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


def by_signature(ref: list[TensorSpec], cand: list[TensorSpec]) -> list[TensorMapping]:
    """Match without a manifest: name, then cleaned name, then position with a fitting shape."""
    out: list[TensorMapping] = []
    taken: set[str] = set()
    by_name = {c.name: c for c in cand}
    by_clean = {_clean(c.name): c for c in cand}
    for i, r in enumerate(ref):
        c, rule = by_name.get(r.name), "name"
        if c is None:
            c, rule = by_clean.get(_clean(r.name)), "name without TF decorations"
        if c is None and len(ref) == len(cand) and cand[i].name not in taken:
            c, rule = cand[i], "position"
        if c is None or c.name in taken:
            continue
        taken.add(c.name)
        perm, why = infer_perm(r.shape, c.shape)
        out.append(TensorMapping(r.name, c.name, perm, f"{rule}; layout by {why}", alternatives_to(perm, r.shape, c.shape)))
    return out


def resolve(ref_inputs, ref_outputs, cand_inputs, cand_outputs, manifest_map: IOMap | None) -> IOMap:
    """The map to use: the manifest's where it covers the tensors, the signature fallback otherwise."""
    if manifest_map is not None:
        ins = {m.source for m in manifest_map.inputs}
        if {t.name for t in ref_inputs} <= ins or not ref_inputs:
            return manifest_map
    return IOMap(by_signature(ref_inputs, cand_inputs), by_signature(ref_outputs, cand_outputs))


__all__ = ["resolve", "from_manifests", "by_signature", "invert", "compose_perms"]
