"""Default pass rules per precision, and the user's --atol/--rtol overrides on top of them.

Why these presets:

* fp32 (atol 1e-4, rtol 1e-3). A correct fp32 conversion only reorders float operations
  (fused kernels, another summation order, NHWC instead of NCHW), which moves results by about
  1e-6 relative. 1e-4 absolute still covers the rounding accumulated over dot products of
  thousands of terms, while real bugs (a weight perturbed by 1e-2, a wrong layout, a swapped
  output) give errors orders of magnitude above it.
* fp16 (atol 1e-2 x max(1, max |ref|), rtol 1e-2, cosine >= 0.999). Half precision keeps about
  3 significant digits of what it computes, so elementwise bounds must be around 1e-2, and the
  absolute one of the output's magnitude: a logit near 0 that is a sum of terms near 14 carries
  their rounding. Measured: a trained CNN's fp16 ONNX (top-1 100%, cosine 1.00000) had 7 of 320
  logits 0.016-0.021 off where |ref| was 0.09-0.8 and the largest logit 14.3; against a fixed
  atol 1e-2 it failed. The cosine rule catches a systematic drift that stays inside those loose
  bounds element by element. An --atol given by hand is absolute.
* int8 (cosine >= 0.98, top-1 >= 0.9, no elementwise bound). Quantization error is large and
  uneven per element, so int8 cannot be judged elementwise: it is judged by direction (cosine
  similarity of the whole output) and by decisions (top-1 agreement for classifier outputs).

Overrides: `--atol`/`--rtol` take `FLOAT` (every output) or `NAME:FLOAT` (one output; the name
may itself contain ':', so the split is on the last colon). A per-output value beats the global
one. The preset name then gains "+atol" and/or "+rtol" (e.g. "fp32+atol", "int8+atol+rtol"),
so a report shows the rule was set by hand; the effective numbers are in atol/rtol. Setting
either bound on int8 turns on the elementwise rule too, with the unset bound at 0.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import NamedTuple

from modelport.errors import UsageError
from modelport.validators.results import Tolerance

PRESETS: dict[str, Tolerance] = {
    "fp32": Tolerance(preset="fp32", atol=1e-4, rtol=1e-3),
    "fp16": Tolerance(preset="fp16", atol=1e-2, rtol=1e-2, min_cosine=0.999, atol_scaled=True),
    "int8": Tolerance(preset="int8", atol=None, rtol=None, min_cosine=0.98, min_top1=0.9),
}


class ToleranceOverrides(NamedTuple):
    """What parse_tolerance_overrides returns: a plain 4-tuple, with names."""

    global_atol: float | None = None
    global_rtol: float | None = None
    per_output_atol: dict[str, float] = {}
    per_output_rtol: dict[str, float] = {}


def _parse_value(option: str, entry: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{option} {entry!r}: expected a number or OUTPUT:NUMBER (e.g. 1e-3 or logits:1e-3)") from None
    if not math.isfinite(value):
        raise UsageError(f"{option} {entry!r}: the tolerance must be a finite number")
    if value < 0:
        raise UsageError(f"{option} {entry!r}: the tolerance must not be negative")
    return value


def _parse_one(option: str, entries: tuple[str, ...]) -> tuple[float | None, dict[str, float]]:
    global_value: float | None = None
    per_output: dict[str, float] = {}
    for entry in entries:
        entry = entry.strip()
        if ":" in entry:
            name, text = entry.rsplit(":", 1)
            if not name:
                raise UsageError(f"{option} {entry!r}: the output name before ':' is empty")
            if name in per_output:
                raise UsageError(f"{option} given twice for output {name!r}")
            per_output[name] = _parse_value(option, entry, text)
        else:
            if global_value is not None:
                raise UsageError(f"{option} given twice without an output name (use OUTPUT:NUMBER for one output)")
            global_value = _parse_value(option, entry, entry)
    return global_value, per_output


def parse_tolerance_overrides(atol: tuple[str, ...], rtol: tuple[str, ...]) -> ToleranceOverrides:
    """Parse repeated --atol/--rtol values; any malformed one is a UsageError (exit 2)."""
    global_atol, per_atol = _parse_one("--atol", tuple(atol or ()))
    global_rtol, per_rtol = _parse_one("--rtol", tuple(rtol or ()))
    return ToleranceOverrides(global_atol, global_rtol, per_atol, per_rtol)


def tolerance_for(output: str, precision: str, overrides: ToleranceOverrides | tuple | None = None) -> Tolerance:
    """The rule for one output: the precision's preset (unknown precision -> fp32), then overrides."""
    base = PRESETS.get((precision or "").lower(), PRESETS["fp32"])
    tol = replace(base)
    if overrides is None:
        return tol
    ov = ToleranceOverrides(*overrides)
    atol = ov.per_output_atol.get(output, ov.global_atol)
    rtol = ov.per_output_rtol.get(output, ov.global_rtol)
    changed = []
    if atol is not None:
        tol.atol, tol.atol_scaled = atol, False  # the user's bound is absolute
        changed.append("atol")
    if rtol is not None:
        tol.rtol = rtol
        changed.append("rtol")
    if changed:
        tol.atol = 0.0 if tol.atol is None else tol.atol
        tol.rtol = 0.0 if tol.rtol is None else tol.rtol
        tol.preset = "+".join([base.preset, *changed])
    return tol


def overridden(tol: Tolerance) -> set[str]:
    """Which bounds ("atol", "rtol") were set by hand, read back from the preset name."""
    return set(tol.preset.split("+")[1:]) & {"atol", "rtol"}


def fmt_num(x: float | None) -> str:
    """Compact number for reasons and reports: 3 significant digits, scientific below 1e-2."""
    if x is None:
        return "-"
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if abs(float(f"{x:.3g}")) < 1e-2 or abs(x) >= 1e5:  # decided on the rounded value: 0.00999 -> "0.01"
        mantissa, exponent = f"{x:.2e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    return f"{x:.3g}"


def describe(tol: Tolerance) -> str:
    """The rule in a few words: "atol 1e-4 rtol 1e-3", "cos>=0.98 top1>=0.9", "exact"."""
    parts = []
    if tol.atol is not None or tol.rtol is not None:
        if not tol.atol and not tol.rtol:
            parts.append("exact")
        else:
            parts.append(f"atol {fmt_num(tol.atol or 0.0)}{'*max|ref|' if tol.atol_scaled else ''} "
                         f"rtol {fmt_num(tol.rtol or 0.0)}")
    if tol.min_cosine is not None:
        parts.append(f"cos>={tol.min_cosine:g}")
    if tol.min_top1 is not None:
        parts.append(f"top1>={tol.min_top1:g}")
    return " ".join(parts) or "none"
