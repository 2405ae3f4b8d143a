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


# int8 inside the graph: cosine cannot see a wrong scale (a tensor times 2 has cosine 1), and the
# elementwise error grows over the layers. The relative RMS error does both: a correct int8 model
# of the fixture CNN stays near 0.01 (0.4 of a quantization scale RMS), a scale broken by 2 gives 1.
INT8_MAX_REL_RMS = 0.2


def judge(name: str, ref: np.ndarray, got: np.ndarray, *, precision: str, overrides, candidate_name: str,
          perm: list[int] | None = None, known_layout: bool = False, channel_last: bool | None = None,
          scale: float | None = None, source_channel_last: bool = False) -> tuple[OutputResult | None, list[int] | None, str]:
    """(result or None when not comparable, the permutation used, how the layout was decided);
    `scale`: the artifact tensor's quantization scale, where it holds int8 values;
    `source_channel_last`: a TensorFlow source, whose tensors an ONNX artifact may hold channel-first."""
    ref, got = np.asarray(ref), np.asarray(got)
    tol = scaled_tolerance(name, ref, precision, overrides)
    int8 = (precision or "").startswith("int8") and tol.atol is None and ref.dtype.kind == "f"

    def run(p):
        g = got.transpose(inverse_perm(p)) if p is not None and got.ndim == len(p) else got
        out = compare_output(ref, g, tol, output=name, candidate_output=candidate_name)
        return _int8_rule(out, ref, g, scale) if int8 and g.shape == ref.shape else out

    if known_layout:
        return run(perm), perm, perm_name(perm)
    perms = fitting_perms(list(ref.shape), list(got.shape))
    if source_channel_last and ref.ndim >= 3:  # channel-last -> channel-first, the one other candidate
        back = inverse_perm(channel_last_perm(ref.ndim))
        if [ref.shape[p] for p in back] == list(got.shape) and back not in perms:
            perms.append(back)
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


def _int8_rule(out: OutputResult, ref: np.ndarray, got: np.ndarray, scale: float | None) -> OutputResult:
    """An int8 tensor judged by its relative RMS error, the error also told in quantization scales."""
    r, g = ref.astype(np.float64), got.astype(np.float64)
    norm = float(np.linalg.norm(r))
    rel = float(np.linalg.norm(g - r) / norm) if norm else (0.0 if not np.any(g) else float("inf"))
    in_scales = f", {float(np.sqrt(np.mean((g - r) ** 2))) / scale:.2g} quantization scales RMS" if scale else ""
    passed = rel <= INT8_MAX_REL_RMS and out.reason != "shape"
    reason = "ok" if passed else f"relative RMS error {rel:.3g} > {INT8_MAX_REL_RMS}{in_scales}"
    return replace(out, passed=passed, reason=reason if not passed else f"ok (relative RMS error {rel:.2g}{in_scales})",
                   severity=rel / INT8_MAX_REL_RMS)


def divergences(order: list[str], failed: set[str], upstream) -> list[str]:
    """The failing tensors no earlier failure explains, in topological order: `upstream(failed)`
    is the set of tensors downstream of a failure (graphs.TensorGraph.failing_upstream)."""
    tainted = upstream(failed)
    return [n for n in order if n in failed and n not in tainted]
