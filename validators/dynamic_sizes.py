"""Proof at several sizes: every dim a candidate claims is dynamic is run at another size too (issue 16).

Why: an artifact that says a dim is dynamic (ONNX `dim_param`, `None` in a SavedModel signature,
-1 in a TFLite `shape_signature`) can still fail or give wrong numbers at any size but the one it
was converted at. Measured: onnx2tf's tf_converter backend writes the fixture CNN's SavedModel
with batch `None`, and it fails at every batch ("Input to reshape is a tensor with 16 values, but
the requested shape has 16384"). So a claimed dim is a promise to test, not a fact to report.

What is varied, and how:
- A candidate's claimed dims are its inputs' symbolic dims, mapped back through its I/O map's
  permutation to the reference input and axis they come from.
- Dims are grouped the way they must change together. Dims that share the reference's symbolic
  name ("batch", "sequence") form one group. Without a name, dims at the same axis with the same
  size form one group: the batch dim of several inputs, or input_ids' and attention_mask's
  sequence.
- Each group is tried alone at each extra size, the others staying at their base size. That
  needs one run per extra size. It also means a candidate that keeps only some of the reference's
  dims dynamic can be tested with the same data, and a later step can replay the first step's
  golden samples by their shapes.
- The default extra size is `other_size(base)`: batch 1 → 3, sequence 16 → 37. These are odd and
  not multiples of the base, so a size baked into a reshape shows. `--shapes NAME:SIZE,SIZE...`
  gives the sizes.

A reference that cannot run at a size (its own dims fixed, a position table too short) proves
nothing there. The dim is reported as not proven at that size, and the candidate is not failed
for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from modelport.errors import UsageError
from modelport.types import IOMap, TensorSpec

GENERIC_NAME = re.compile(r"d\d+$")  # how the TF/TFLite/Keras readers name an unnamed dynamic dim (modelport/specs.py)


@dataclass
class DimGroup:
    """Dims that change together: (reference input, axis) pairs, their base size, a label for reports."""

    key: str
    label: str
    base: int
    members: list[tuple[str, int]] = field(default_factory=list)


def other_size(base: int) -> int:
    """The default second size of a dynamic dim: 1 → 3, 2 → 4, 16 → 37, 128 → 161."""
    if base <= 2:
        return base + 2
    return 2 * base + 5 if base <= 32 else base + base // 4 + 1


def parse_shapes(texts) -> dict[str, list[int]]:
    """`--shapes NAME:SIZE,SIZE...` (repeatable) → {NAME: [sizes]}."""
    out: dict[str, list[int]] = {}
    for text in texts:
        m = re.fullmatch(r"\s*([^:\s]+)\s*:\s*([0-9]+(?:\s*,\s*[0-9]+)*)\s*", text)
        if not m:
            raise UsageError(f"--shapes {text!r}: expected NAME:SIZE,SIZE... (e.g. batch:1,4 or sequence:16,37)")
        sizes = [int(s) for s in m.group(2).split(",")]
        if any(s < 1 for s in sizes):
            raise UsageError(f"--shapes {text!r}: sizes must be at least 1")
        if m.group(1) in out:
            raise UsageError(f"--shapes given twice for {m.group(1)!r}")
        out[m.group(1)] = sizes
    return out


def claimed_groups(ref_raw: list[TensorSpec] | None, ref_concrete: list[TensorSpec], cand_specs: list[TensorSpec],
                   io_map: IOMap) -> list[DimGroup]:
    """The dims `cand_specs` claim dynamic, as groups of reference (input, axis) pairs.

    `ref_raw` is what the reference itself declares (symbolic names where it has them; None for
    golden data), `ref_concrete` the shapes the base samples were made at."""
    raw = {s.name: s for s in ref_raw or []}
    concrete = {s.name: s for s in ref_concrete}
    cands = {s.name: s for s in cand_specs}
    groups: dict[str, DimGroup] = {}
    for m in io_map.inputs:
        c, r = cands.get(m.artifact), concrete.get(m.source)
        if c is None or r is None or not c.shape or not r.shape:
            continue
        for j, d in enumerate(c.shape):
            if not isinstance(d, str):
                continue
            axis = m.perm[j] if m.perm is not None and j < len(m.perm) else j
            if axis >= len(r.shape) or not isinstance(r.shape[axis], int):
                continue
            base = r.shape[axis]
            rd = raw[m.source].shape[axis] if m.source in raw and raw[m.source].shape and axis < len(raw[m.source].shape) else None
            if isinstance(rd, str) and not GENERIC_NAME.match(rd):
                key = label = rd
            elif not GENERIC_NAME.match(d):
                key = label = d
            else:
                key, label = f"#{axis}={base}", f"{m.source}[{axis}]"
            g = groups.setdefault(key, DimGroup(key, label, base))
            if (m.source, axis) not in g.members:
                g.members.append((m.source, axis))
    return list(groups.values())


def size_sets(groups: list[DimGroup], wanted: dict[str, list[int]]) -> list[tuple[DimGroup, int]]:
    """(group, size) for each run beyond the base samples: each group alone at each of its other sizes."""
    runs = []
    for g in groups:
        sizes = wanted.get(g.label) or wanted.get(g.key) or [g.base, other_size(g.base)]
        runs.extend((g, s) for s in dict.fromkeys(sizes) if s != g.base)
    return runs


def names_by_axis(specs: list[TensorSpec], groups: list[DimGroup]) -> dict[str, list[str]]:
    """{input: the group label of each axis, "" where none} for the named groups (golden data keeps it)."""
    out = {s.name: [""] * len(s.shape or []) for s in specs}
    for g in groups:
        if g.key == g.label:  # a real name, not "input[axis]"
            for name, axis in g.members:
                if name in out and axis < len(out[name]):
                    out[name][axis] = g.label
    return {k: v for k, v in out.items() if any(v)}


def unknown_names(wanted: dict[str, list[int]], groups: list[DimGroup]) -> list[str]:
    known = {g.label for g in groups} | {g.key for g in groups}
    return [n for n in wanted if n not in known]


def resized(specs: list[TensorSpec], group: DimGroup, size: int) -> list[TensorSpec]:
    """The reference's concrete input specs with `group`'s dims at `size`."""
    out = []
    for s in specs:
        shape = list(s.shape or [])
        for name, axis in group.members:
            if name == s.name and axis < len(shape):
                shape[axis] = size
        out.append(TensorSpec(s.name, shape, s.dtype, s.layout))
    return out


def shapes_key(shapes: dict) -> tuple:
    """What identifies a sample's sizes, from {input: shape} (golden data is matched to a run by it)."""
    return tuple(sorted((k, tuple(int(d) for d in v)) for k, v in shapes.items()))


def describe(entries: list[dict]) -> list[str]:
    """One line per claimed dim: the sizes it was proven at, or where it failed."""
    by_dim: dict[str, list[dict]] = {}
    for e in entries:
        by_dim.setdefault(e["dim"], []).append(e)
    lines = []
    for dim, es in by_dim.items():
        proven = [es[0]["base"]] + [e["size"] for e in es if e["passed"]]
        failed = [f"{dim}={e['size']}: {e['detail']}" for e in es if e["passed"] is False]
        unproven = [f"{dim}={e['size']}: {e['detail']}" for e in es if e["passed"] is None]
        if failed:
            lines.append(f"dynamic dim {dim} claimed, but it fails at another size ({'; '.join(failed)})")
        else:
            # a size whose sample the outputs fail at any size (validation._same_as_pieces) says so
            beside = [f"{dim}={e['size']}: {e['detail']}" for e in es if e["passed"] and e.get("sample_fails")]
            lines.append(f"dynamic dim {dim} proven at sizes {', '.join(map(str, proven))}" +
                         (f"; not proven at {'; '.join(unproven)}" if unproven else "") +
                         (f" ({'; '.join(beside)})" if beside else ""))
    return lines
