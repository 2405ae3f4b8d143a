"""One source tensor against its artifact counterpart, judged as `validate` judges an output.

The rule is validate's (validators/metrics.py: elementwise atol + rtol*|ref| for fp32/fp16, cosine
for int8), with one change for tensors inside the graph: the absolute bound scales with the
tensor's magnitude (atol * max(1, max|ref|)). A model's outputs are mostly of order 1; its
activations are not (pre-normalisation sums reach hundreds), and a correct conversion's rounding
grows with them, about 1e-7 of the magnitude, far below 1e-4 of it. Bugs (a nudged weight, a
wrong transpose, a broken scale) move a tensor by percents of its magnitude.

Layout: only the identity and channel-first -> channel-last are candidates (modelport/layout.py),
never "any permutation whose shape fits", which would pass wrong layouts when dims are equal. Where
both fit (C = H = W), the converter's claim is tried first and running settles it (trap 12). A
tensor the converter reshaped without moving elements ([1, 16] for [1, 16, 1, 1]) is compared as
it is; any other shape is "not comparable".
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from modelport.layout import channel_last_perm, fitting_perms, inverse_perm, perm_name
from modelport.validators.metrics import compare_output
from modelport.validators.results import OutputResult
from modelport.validators.tolerances import tolerance_for


def scaled_tolerance(name: str, ref: np.ndarray, precision: str, overrides):
    tol = tolerance_for(name, precision, overrides)
    if tol.atol and ref.dtype.kind == "f" and ref.size:
        finite = np.abs(ref[np.isfinite(ref)])
        scale = float(finite.max()) if finite.size else 1.0
        tol = replace(tol, atol=tol.atol * max(1.0, scale))
    return tol


def judge(name: str, ref: np.ndarray, got: np.ndarray, *, precision: str, overrides, candidate_name: str,
          perm: list[int] | None = None, known_layout: bool = False,
          channel_last: bool | None = None) -> tuple[OutputResult | None, list[int] | None, str]:
    """(result or None when not comparable, the permutation used, how the layout was decided)."""
    ref, got = np.asarray(ref), np.asarray(got)
    tol = scaled_tolerance(name, ref, precision, overrides)

    def run(p):
        g = got.transpose(inverse_perm(p)) if p is not None and got.ndim == len(p) else got
        return compare_output(ref, g, tol, output=name, candidate_output=candidate_name)

    if known_layout:
        return run(perm), perm, perm_name(perm)
    perms = fitting_perms(list(ref.shape), list(got.shape))
    if not perms:
        if ref.size == got.size and [d for d in ref.shape if d != 1] == [d for d in got.shape if d != 1]:
            return compare_output(ref, got.reshape(ref.shape), tol, output=name, candidate_output=candidate_name), \
                None, "reshaped by the converter (same elements)"
        return None, None, f"shapes differ ({list(ref.shape)} vs {list(got.shape)})"
    if len(perms) == 1:
        return run(perms[0]), perms[0], perm_name(perms[0])
    claimed = channel_last_perm(ref.ndim) if channel_last else None
    order = sorted(perms, key=lambda p: p != claimed)
    tried = [(p, run(p)) for p in order]
    if tried[0][1].passed:
        return tried[0][1], tried[0][0], perm_name(tried[0][0])
    passing = [(p, r) for p, r in tried if r.passed]
    if passing:
        return passing[0][1], passing[0][0], f"{perm_name(passing[0][0])} (the shapes allow two layouts: settled by running)"
    best_perm, best = min(tried, key=lambda pr: pr[1].severity)
    return best, best_perm, f"{perm_name(best_perm)} (the shapes allow two layouts, neither matches: the closer shown)"


def divergences(order: list[str], failed: set[str], upstream) -> list[str]:
    """The failing tensors no earlier failure explains, in topological order: `upstream(failed)`
    is the set of tensors downstream of a failure (graphs.TensorGraph.failing_upstream)."""
    tainted = upstream(failed)
    return [n for n in order if n in failed and n not in tainted]
