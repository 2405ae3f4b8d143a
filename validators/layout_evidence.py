"""Settle a layout the shapes cannot tell by running the artifact (trap 12).

When a tensor's dims are equal (C = H = W), both "layout kept" and "channel-first -> channel-last"
fit its shape, and a converter's flag has been seen to be wrong (onnx2tf's report said "kept" for
an NHWC TFLite tensor). The I/O map then carries the other permutations as `alternatives`. When
the candidate fails with the map as written, `settle` runs it under every input layout the shapes
allow and compares each output under every output layout they allow; the first combination that
matches the source is kept, and its rule says it was settled by running. When none matches, each
combination's error is returned, so the failure shows that no layout would have passed.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Callable

from modelport.layout import perm_name
from modelport.types import IOMap, TensorMapping
from modelport.validators.results import OutputResult

MAX_INPUT_LAYOUTS = 16  # combinations of ambiguous inputs tried; 4 ambiguous inputs at most


@dataclass
class Settled:
    io_map: IOMap
    outputs: list[OutputResult]  # merged over samples, one per reference output
    notes: list[str]


def is_ambiguous(io_map: IOMap) -> bool:
    return any(m.alternatives for m in io_map.inputs + io_map.outputs)


def _input_layouts(io_map: IOMap) -> list[list[TensorMapping]]:
    options = [[m] + [dataclasses.replace(m, perm=p, alternatives=[]) for p in m.alternatives] for m in io_map.inputs]
    return [list(combo) for combo in itertools.islice(itertools.product(*options), MAX_INPUT_LAYOUTS)]


def settle(io_map: IOMap, ref_outs: list[dict], run_all: Callable[[IOMap], list[dict]],
           judge: Callable[[str, list, list[dict], TensorMapping], OutputResult]) -> tuple[Settled | None, list[str]]:
    """(the first map under which every output matches, or None; one line per combination tried).

    `run_all(map)` runs every sample under the map's input layouts; `judge(name, refs, gots, m)`
    compares one output over all samples under mapping `m`."""
    tried: list[str] = []
    names = list(ref_outs[0]) if ref_outs else []
    for inputs in _input_layouts(io_map):
        in_text = ", ".join(f"input {m.source} {perm_name(m.perm)}" for m, orig in zip(inputs, io_map.inputs)
                            if orig.alternatives) or "inputs as mapped"
        try:
            gots = run_all(IOMap(inputs, io_map.outputs))
        except Exception as e:  # a layout the runtime rejects is one more combination that does not match
            tried.append(f"{in_text}: does not run ({str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__})")
            continue
        chosen, results, ok = [], [], True
        by_source = {m.source: m for m in io_map.outputs}
        for name in names:
            m = by_source.get(name)
            if m is None:
                ok = False
                continue
            best = None
            for perm in [m.perm, *m.alternatives]:
                cand = dataclasses.replace(m, perm=perm, alternatives=[])
                res = judge(name, [r[name] for r in ref_outs], gots, cand)
                if res.passed:
                    best = (cand, res)
                    break
                tried.append(f"{in_text}; {name} {perm_name(perm)}: {res.reason}")
                if best is None or res.severity < best[1].severity:
                    best = (cand, res)
            chosen.append(best[0])
            results.append(best[1])
            ok = ok and best[1].passed
        if ok:
            notes = []
            settled_inputs = [_settled(m, orig) for m, orig in zip(inputs, io_map.inputs)]
            settled_outputs = [_settled(m, by_source[m.source]) for m in chosen]
            for m, orig in zip(settled_inputs + settled_outputs, io_map.inputs + [by_source[c.source] for c in chosen]):
                if orig.alternatives:
                    notes.append(f"{m.source}: {perm_name(m.perm)} (settled by running: it matches the source"
                                 + ("" if m.perm == orig.perm else f"; the map said {perm_name(orig.perm)}") + ")")
            results = [dataclasses.replace(r, mapping=m.rule) for r, m in zip(results, settled_outputs)]
            return Settled(IOMap(settled_inputs, settled_outputs), results, notes), tried
    return None, tried


def _settled(m: TensorMapping, orig: TensorMapping) -> TensorMapping:
    if not orig.alternatives:
        return dataclasses.replace(m, alternatives=[])
    return dataclasses.replace(m, alternatives=[], rule=f"{orig.rule.split('; layout by')[0]}; layout by running "
                                                        f"({perm_name(m.perm)} matched the source)")
