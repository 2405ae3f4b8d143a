"""Compare one candidate output with the reference: metrics, verdict, and a one-line reason.

All arithmetic is in float64 so the comparison adds no rounding of its own. Rules (see
Tolerance): elementwise |got - ref| <= atol + rtol * |ref|, cosine >= min_cosine, and top-1
agreement >= min_top1 (classifier-like outputs only). Every rule that is set must hold; the
reason names the first one that does not, in that order, after shape and NaN/Inf checks.

Choices worth knowing:

* Relative error is |got - ref| / max(|ref|, eps) with eps = 1e-6 * max(1, max|ref|): an element
  whose reference is (near) zero is measured against a floor tied to the output's scale, so one
  reference value of 1e-12 cannot turn an absolute error of 1e-7 into a relative error of 1e5.
* NaN/Inf: positions where reference and candidate are both NaN, or the same infinity, agree;
  any other non-finite value fails. Metrics are computed over the elements finite in both.
* bool/integer outputs (by the reference's dtype) compare exactly (atol = rtol = 0) unless the
  user overrode a bound; cosine/top-1 rules do not apply to them. A dtype difference alone is
  recorded but is not a failure.
* Classifier-like: a floating output of shape (N, C), (N, C, 1, 1) or (N, 1, 1, C) with C >= 2,
  read as N rows of C scores. top1 is the share of rows whose argmax agrees, top5 the share
  whose reference argmax is among the candidate's top min(5, C).
* severity = max over the active rules of observed / allowed (1.0 is on the edge, > 1 fails);
  inf for a shape mismatch or unmatched NaN/Inf. It orders reports worst first.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from modelport.validators.results import OutputResult, Tolerance
from modelport.validators.tolerances import fmt_num, overridden

TOP1_REASON = "top-1 agreement"  # merge_samples recognises top-1-only failures by this prefix


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _exact_tolerance(tol: Tolerance) -> Tolerance:
    """bool/int outputs: 0 for every bound the user did not set, no cosine/top-1 rules."""
    hand = overridden(tol)
    return Tolerance(
        preset=tol.preset if hand else "exact",
        atol=(tol.atol or 0.0) if "atol" in hand else 0.0,
        rtol=(tol.rtol or 0.0) if "rtol" in hand else 0.0,
    )


def _cosine(r: np.ndarray, g: np.ndarray) -> float:
    """Cosine of the flattened arrays; both all-zero -> 1.0, one all-zero -> 0.0."""
    sr = float(np.max(np.abs(r))) if r.size else 0.0
    sg = float(np.max(np.abs(g))) if g.size else 0.0
    if sr == 0.0 and sg == 0.0:
        return 1.0
    if sr == 0.0 or sg == 0.0:
        return 0.0
    rn, gn = r / sr, g / sg  # scaled first, so squares of huge values cannot overflow
    value = float(np.dot(rn, gn) / (np.linalg.norm(rn) * np.linalg.norm(gn)))
    return min(1.0, max(-1.0, value))


def _as_rows(a: np.ndarray) -> np.ndarray | None:
    """(N, C) view of a classifier-like output, else None."""
    if a.dtype.kind != "f":
        return None
    if a.ndim == 2 and a.shape[1] >= 2 and a.shape[0] >= 1:
        return a
    if a.ndim == 4 and a.shape[0] >= 1:
        if a.shape[2:] == (1, 1) and a.shape[1] >= 2:
            return a.reshape(a.shape[0], a.shape[1])
        if a.shape[1:3] == (1, 1) and a.shape[3] >= 2:
            return a.reshape(a.shape[0], a.shape[3])
    return None


def _topk(ref_rows: np.ndarray, got_rows: np.ndarray) -> tuple[float, float]:
    ref_arg = np.argmax(ref_rows, axis=1)
    top1 = float(np.mean(np.argmax(got_rows, axis=1) == ref_arg))
    k = min(5, got_rows.shape[1])
    top = np.argpartition(-got_rows, k - 1, axis=1)[:, :k]
    top5 = float(np.mean(np.any(top == ref_arg[:, None], axis=1)))
    return top1, top5


def _ratio(observed: float, allowed_miss: float) -> float:
    """observed / allowed, where both are 'misses' (1 - cosine, 1 - top1)."""
    if allowed_miss <= 0:
        return math.inf if observed > 0 else 0.0
    return max(0.0, observed) / allowed_miss


def cosine_severity(cosine: float, min_cosine: float) -> float:
    return _ratio(1.0 - cosine, 1.0 - min_cosine)


def top1_severity(top1: float, min_top1: float) -> float:
    return _ratio(1.0 - top1, 1.0 - min_top1)


def top1_reason(top1: float, min_top1: float) -> str:
    return f"{TOP1_REASON} {top1:.1%} < {min_top1:.0%}"


def _nonfinite_reason(r: np.ndarray, g: np.ndarray, bad: np.ndarray) -> str:
    nan_bad = int(np.count_nonzero(bad & np.isnan(g)))
    if nan_bad:
        return f"NaN in candidate ({nan_bad} elements)"
    inf_bad = int(np.count_nonzero(bad & np.isinf(g)))
    if inf_bad:
        return f"Inf in candidate ({inf_bad} elements)"
    return f"NaN/Inf in reference not matched by candidate ({int(np.count_nonzero(bad))} elements)"


def compare_output(ref: np.ndarray, got: np.ndarray, tol: Tolerance, *, output: str, candidate_output: str,
                   mapping: str = "") -> OutputResult:
    """Judge one output of one sample. Never raises for numeric content; reads only."""
    ref, got = np.asarray(ref), np.asarray(got)
    res = OutputResult(output=output, candidate_output=candidate_output, passed=False, reason="", tolerance=tol,
                       mapping=mapping, shape_ref=list(ref.shape), shape_got=list(got.shape),
                       dtype_ref=str(ref.dtype), dtype_got=str(got.dtype))
    if ref.shape != got.shape:
        res.reason = f"shape {_shape_text(got.shape)} != reference {_shape_text(ref.shape)}"
        res.severity = math.inf
        return res
    numeric = "biuf"
    if ref.dtype.kind not in numeric or got.dtype.kind not in numeric:  # strings, objects: equal or not
        res.tolerance = Tolerance(preset="exact", atol=0.0, rtol=0.0)
        res.passed = bool(np.array_equal(ref, got))
        res.reason = "ok" if res.passed else "values differ (non-numeric output)"
        res.severity = 0.0 if res.passed else math.inf
        return res
    if ref.dtype.kind in "biu":
        tol = res.tolerance = _exact_tolerance(tol)

    r, g = ref.astype(np.float64), got.astype(np.float64)
    res.nan_count = int(np.count_nonzero(np.isnan(g)))
    res.inf_count = int(np.count_nonzero(np.isinf(g)))
    fin_r, fin_g = np.isfinite(r), np.isfinite(g)
    both = fin_r & fin_g
    same_nonfinite = ~fin_r & ~fin_g & ((np.isnan(r) & np.isnan(g)) | (r == g))
    bad = ~(both | same_nonfinite)

    rf, gf = r[both], g[both]
    d = np.abs(gf - rf)
    aref = np.abs(rf)
    if d.size:
        eps = 1e-6 * max(1.0, float(aref.max()))
        res.max_abs, res.mean_abs = float(d.max()), float(d.mean())
        res.max_rel = float(np.max(d / np.maximum(aref, eps)))
    else:
        res.max_abs = res.mean_abs = res.max_rel = 0.0
    res.cosine = _cosine(rf, gf)
    if not bad.any():
        rows_ref, rows_got = _as_rows(ref), _as_rows(got)
        if rows_ref is not None and rows_got is not None:
            res.top1, res.top5 = _topk(rows_ref.astype(np.float64), rows_got.astype(np.float64))

    failures: list[str] = []
    severities: list[float] = []
    if bad.any():
        failures.append(_nonfinite_reason(r, g, bad))
        severities.append(math.inf)
    if tol.atol is not None or tol.rtol is not None:
        a, rt = tol.atol or 0.0, tol.rtol or 0.0
        scale = max(1.0, float(aref.max())) if tol.atol_scaled and aref.size else 1.0
        a *= scale
        allowed = a + rt * aref
        violated = d > allowed
        res.out_of_tolerance = float(violated.mean()) if d.size else 0.0
        res.min_passing_atol = _min_passing_atol(d, rt * aref)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(allowed > 0, d / np.where(allowed > 0, allowed, 1.0), np.where(d > 0, np.inf, 0.0))
        severities.append(float(ratios.max()) if d.size else 0.0)
        if violated.any():
            pct = f"{res.out_of_tolerance * 100:.3g}%"
            scaled = f" (atol {fmt_num(tol.atol)} x max |ref| {fmt_num(scale)})" if scale != 1.0 else ""
            rule = "exact match" if a == 0 and rt == 0 else f"atol {fmt_num(a)}{scaled} + rtol {fmt_num(rt)}*|ref|"
            failures.append(f"max abs {fmt_num(res.max_abs)} > {rule} ({pct} of elements out of tolerance)")
    if tol.min_cosine is not None:
        severities.append(cosine_severity(res.cosine, tol.min_cosine))
        if res.cosine < tol.min_cosine:
            failures.append(f"cosine {res.cosine:.6g} < {tol.min_cosine:g}")
    if tol.min_top1 is not None and res.top1 is not None:
        severities.append(top1_severity(res.top1, tol.min_top1))
        if res.top1 < tol.min_top1:
            failures.append(top1_reason(res.top1, tol.min_top1))

    res.passed = not failures
    res.reason = failures[0] if failures else "ok"
    res.severity = max(severities, default=0.0)
    return res


def _min_passing_atol(d: np.ndarray, rel_allowance: np.ndarray) -> float:
    """max(0, max(d - rtol*|ref|)), nudged up by ulps so that using it as atol really passes."""
    if not d.size:
        return 0.0
    atol = max(0.0, float(np.max(d - rel_allowance)))
    for _ in range(8):
        if bool(np.all(d <= atol + rel_allowance)):
            break
        atol = float(np.nextafter(atol, math.inf))
    return atol


def merge_samples(results: list[OutputResult]) -> OutputResult:
    """Combine one output's per-sample results into one verdict.

    Worst case for max_abs, max_rel, out_of_tolerance, min_passing_atol, severity; minimum
    cosine; mean of mean_abs; summed NaN/Inf counts. top1/top5 are the row-weighted mean over
    all samples and the top-1 rule is judged on that: a batch-of-1 sample can only agree 0% or
    100%, so judging each sample alone would demand 100% agreement. Any other failure in any
    sample fails the output; the reason is the worst sample's.
    """
    if not results:
        raise ValueError("merge_samples needs at least one result")
    if len(results) == 1:
        return replace(results[0])
    n = len(results)
    tol = results[0].tolerance

    def values(attr: str) -> list:
        return [getattr(r, attr) for r in results if getattr(r, attr) is not None]

    def weighted(attr: str) -> float | None:
        pairs = [(getattr(r, attr), max(1, r.shape_ref[0]) if r.shape_ref else 1)
                 for r in results if getattr(r, attr) is not None]
        total = sum(w for _, w in pairs)
        return sum(v * w for v, w in pairs) / total if pairs else None

    top1_only = [r for r in results if not r.passed and r.reason.startswith(TOP1_REASON)]
    other_failed = [r for r in results if not r.passed and not r.reason.startswith(TOP1_REASON)]
    top1 = weighted("top1")
    top1_ok = tol.min_top1 is None or top1 is None or top1 >= tol.min_top1

    severities = [r.severity for r in results if r.passed or r in other_failed]
    for r in top1_only:  # its other rules held; keep what can be recomputed of them
        if tol.min_cosine is not None and r.cosine is not None:
            severities.append(cosine_severity(r.cosine, tol.min_cosine))
    if tol.min_top1 is not None and top1 is not None:
        severities.append(top1_severity(top1, tol.min_top1))

    worst = max(other_failed, key=lambda r: r.severity) if other_failed else results[0]
    merged = replace(worst)
    merged.passed = not other_failed and top1_ok
    if other_failed:
        merged.reason = f"{worst.reason} ({len(other_failed)} of {n} samples failed)"
    elif not top1_ok:
        merged.reason = top1_reason(top1, tol.min_top1) + f" over {n} samples"
    else:
        merged.reason = "ok"
    merged.max_abs = max(values("max_abs"), default=None)
    merged.max_rel = max(values("max_rel"), default=None)
    mean_abs = values("mean_abs")
    merged.mean_abs = sum(mean_abs) / len(mean_abs) if mean_abs else None
    merged.cosine = min(values("cosine"), default=None)
    merged.out_of_tolerance = max(values("out_of_tolerance"), default=None)
    merged.min_passing_atol = max(values("min_passing_atol"), default=None)
    merged.nan_count = sum(r.nan_count for r in results)
    merged.inf_count = sum(r.inf_count for r in results)
    merged.top1, merged.top5 = top1, weighted("top5")
    merged.severity = max(severities, default=0.0)
    return merged
