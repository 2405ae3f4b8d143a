"""Settle a layout the shapes cannot tell by running the artifact (trap 12).

When a tensor's dims are equal (C = H = W), both "layout kept" and "channel-first -> channel-last"
fit its shape, and a converter's flag has been seen to be wrong (onnx2tf's report said "kept" for
an NHWC TFLite tensor). The I/O map then carries the other permutations as `alternatives`. When
the candidate fails with the map as written, `settle` runs it under every input layout the shapes
allow and compares each output under every output layout they allow; the first combination that
matches the source is kept, and its rule says it was settled by running. When none matches, each
combination's error is returned, so the failure shows that no layout would have passed. The same
search settles which artifact tensor is which when no name matched and several have the shape
(`pairings`: a raw onnx2tf TFLite reorders its outputs).
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


def _open(m: TensorMapping) -> bool:
    """The shapes leave this mapping's layout or its artifact tensor undecided."""
    return bool(m.alternatives or m.pairings)


def is_ambiguous(io_map: IOMap) -> bool:
    return any(_open(m) for m in io_map.inputs + io_map.outputs)


def _choices(m: TensorMapping) -> list[TensorMapping]:
    """Every (artifact tensor, layout) the shapes allow for one source tensor, the map's own first."""
    plain = lambda x, perm: dataclasses.replace(x, perm=perm, alternatives=[], pairings=[])  # noqa: E731
    out = [plain(m, m.perm)] + [plain(m, p) for p in m.alternatives]
    for other in m.pairings:
        out += [plain(other, p) for p in [other.perm, *other.alternatives]]
    return out


def _describe(m: TensorMapping, orig: TensorMapping) -> str:
    return perm_name(m.perm) + (f" as {m.artifact}" if orig.pairings else "")


def _input_layouts(io_map: IOMap) -> list[list[TensorMapping]]:
    """Combinations of input choices in which no artifact input is fed twice."""
    combos = (list(c) for c in itertools.product(*(_choices(m) for m in io_map.inputs))
              if len({m.artifact for m in c}) == len(c))
    return list(itertools.islice(combos, MAX_INPUT_LAYOUTS))


def settle(io_map: IOMap, ref_outs: list[dict], run_all: Callable[[IOMap], list[dict]],
           judge: Callable[[str, list, list[dict], TensorMapping], OutputResult]
           ) -> tuple[Settled | None, list[str], list[OutputResult] | None]:
    """(the first map under which every output matches, or None; one line per choice tried; when
    none matches, the results of the combination that came closest).

    `run_all(map)` runs every sample under the map's input choices; `judge(name, refs, gots, m)`
    compares one output over all samples under mapping `m`. Outputs are paired greedily in the
    reference's order: each takes the first choice not already taken that matches."""
    tried: list[str] = []
    closest: list[OutputResult] | None = None
    names = list(ref_outs[0]) if ref_outs else []
    by_source = {m.source: m for m in io_map.outputs}
    for inputs in _input_layouts(io_map):
        in_text = ", ".join(f"input {m.source} {_describe(m, orig)}" for m, orig in zip(inputs, io_map.inputs)
                            if _open(orig)) or "inputs as mapped"
        try:
            gots = run_all(IOMap(inputs, io_map.outputs))
        except Exception as e:  # a layout the runtime rejects is one more combination that does not match
            tried.append(f"{in_text}: does not run ({str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__})")
            continue
        chosen, results, ok, taken = [], [], True, set()
        for name in names:
            m = by_source.get(name)
            if m is None:
                ok = False
                continue
            best = None
            for cand in (c for c in _choices(m) if c.artifact not in taken):
                res = judge(name, [r[name] for r in ref_outs], gots, cand)
                if res.passed:
                    best = (cand, res)
                    break
                tried.append(f"{in_text}; {name} {_describe(cand, m)}: {res.reason}")
                if best is None or res.severity < best[1].severity:
                    best = (cand, res)
            if best is None:
                ok = False
                continue
            taken.add(best[0].artifact)
            chosen.append(best[0])
            results.append(best[1])
            ok = ok and best[1].passed
        if ok:
            originals = io_map.inputs + [by_source[c.source] for c in chosen]
            settled_all = [_settled(m, orig) for m, orig in zip(inputs + chosen, originals)]
            notes = [f"{m.source}: {_describe(m, orig)} (settled by running: it matches the source"
                     + ("" if (m.perm, m.artifact) == (orig.perm, orig.artifact) else f"; the map said {_describe(orig, orig)}")
                     + ")" for m, orig in zip(settled_all, originals) if _open(orig)]
            settled_outputs = settled_all[len(inputs):]
            results = [dataclasses.replace(r, mapping=m.rule) for r, m in zip(results, settled_outputs)]
            return Settled(IOMap(settled_all[:len(inputs)], settled_outputs), results, notes), tried, None
        if len(results) == len(names):
            closest = _closer(closest, results)
    return None, tried, closest


def _closer(best: list[OutputResult] | None, results: list[OutputResult]) -> list[OutputResult]:
    """The combination that fails fewer outputs, then by less: what a failure report shows, so
    that it names the outputs that fail under every choice, not those a wrong pairing broke."""
    key = lambda rs: (sum(not r.passed for r in rs), sum(r.severity for r in rs if not r.passed))  # noqa: E731
    return results if best is None or key(results) < key(best) else best


def _settled(m: TensorMapping, orig: TensorMapping) -> TensorMapping:
    if not _open(orig):
        return dataclasses.replace(m, alternatives=[], pairings=[])
    what = f"{m.artifact}, {perm_name(m.perm)}" if orig.pairings else perm_name(m.perm)
    return dataclasses.replace(m, alternatives=[], pairings=[], rule=f"{orig.rule.split('; layout by')[0]}; layout by running "
                                                                    f"({what} matched the source)")
