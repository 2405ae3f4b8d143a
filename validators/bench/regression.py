"""Compare a `modelport bench` run with a baseline (a previous run's --json) and flag regressions.

The comparison is on p50 latency: the median is what a typical call costs and, unlike the mean or
the tail, it barely moves with a few preempted runs, so a CI gate on it does not flap. Results are
matched on (label, batch size, device) because that is what makes two numbers the same
measurement; a model measured only now is "new", one measured only in the baseline "missing",
and neither fails the gate. Timings from another CPU or thread count are still compared (the user
asked for it), but the report says so, since the limit then means little.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from modelport.errors import UsageError
from modelport.validators.bench.results import OK, BenchReport, BenchResult, Comparison, Regression

_EXPECTED = "expected a percentage like 10% or a fraction like 0.1"


def parse_max_regression(text: str) -> float:
    """--max-regression as a fraction: "10%" -> 0.10, "2.5%" -> 0.025, "0.1" -> 0.1.

    A bare number above 1 is refused rather than guessed: "5" could mean 5% or 500%, and a gate
    that silently allows 5x slowdowns is worse than an error.
    """
    raw = str(text).strip()
    percent = raw.endswith("%")
    number = raw[:-1].strip() if percent else raw
    try:
        value = float(number)
    except ValueError:
        raise UsageError(f"--max-regression {text!r}: {_EXPECTED}") from None
    if not math.isfinite(value):
        raise UsageError(f"--max-regression {text!r}: {_EXPECTED}")
    if value < 0:
        raise UsageError(f"--max-regression {text!r}: must not be negative; {_EXPECTED}")
    if percent:
        return value / 100
    if value > 1:
        raise UsageError(f"--max-regression {text!r}: ambiguous without '%' (write {number}% or a fraction "
                         f"like 0.1); {_EXPECTED}")
    return value


def load_baseline(path: str) -> BenchReport:
    """Read a report written by a previous `modelport bench --json`; any problem is one UsageError line."""
    where = f"--baseline {str(path)!r}"
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{where}: is a folder, expected a JSON file from `modelport bench --json`") from None
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not a JSON file (not UTF-8 text)") from None
    except OSError as e:
        raise UsageError(f"{where}: cannot read: {e.strerror or e}") from None
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{where}: not valid JSON ({e.msg} at line {e.lineno})") from None
    not_bench = f"{where}: not a `modelport bench --json` report"
    if not isinstance(data, dict) or not isinstance(data.get("results"), list) \
            or not isinstance(data.get("method"), dict):
        raise UsageError(f"{not_bench} (no 'results' list and 'method')")
    if not all(isinstance(r, dict) for r in data["results"]):
        raise UsageError(f"{not_bench} (a result is not an object)")
    try:
        return BenchReport.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UsageError(f"{not_bench} (malformed entry: {type(e).__name__}: {e})") from None


def _measured(result: BenchResult) -> bool:
    return result.status == OK and result.latency_ms is not None


_ABSENT = object()


def _differs(base: dict[str, Any], cur: dict[str, Any], key: str) -> bool:
    """Only when both runs recorded the key: an old baseline without it says nothing."""
    b, c = base.get(key, _ABSENT), cur.get(key, _ABSENT)
    return b is not _ABSENT and c is not _ABSENT and b != c


def _threads_text(value: Any) -> str:
    return "the runtime's default" if value is None else str(value)


def _machine_notes(current: BenchReport, baseline: BenchReport) -> list[str]:
    notes = []
    if _differs(baseline.machine, current.machine, "cpu"):
        notes.append(f"the baseline ran on another CPU ({baseline.machine['cpu']}; this run: "
                     f"{current.machine['cpu']}); p50s may not be comparable")
    if _differs(baseline.machine, current.machine, "threads"):
        notes.append(f"the baseline machine had {baseline.machine['threads']} threads, this one "
                     f"{current.machine['threads']}; p50s may not be comparable")
    if _differs(baseline.method, current.method, "threads"):
        notes.append(f"the baseline ran with {_threads_text(baseline.method['threads'])} threads, this run with "
                     f"{_threads_text(current.method['threads'])}; p50s may not be comparable")
    return notes


def compare(current: BenchReport, baseline: BenchReport, baseline_path: str, max_regression: float) -> Regression:
    """p50 of every measured result against the baseline's, in current.results order, then missing ones.

    change = (current p50 - baseline p50) / baseline p50; "regressed" when change > max_regression.
    Skipped and failed results on either side are not compared: a result measured in the baseline
    but skipped or failed now is "missing" (the error itself is reported, and fails, elsewhere).
    """
    base_by_key: dict[tuple, BenchResult] = {}
    for r in baseline.results:
        if _measured(r):
            base_by_key.setdefault(r.key, r)
    comparisons: list[Comparison] = []
    seen: set[tuple] = set()
    for r in current.results:
        if not _measured(r) or r.key in seen:
            continue
        seen.add(r.key)
        cur_p50 = r.latency_ms.p50
        base = base_by_key.get(r.key)
        if base is None:
            comparisons.append(Comparison(r.label, r.batch_size, r.device, "new", current_p50_ms=cur_p50))
            continue
        base_p50 = base.latency_ms.p50
        change = (cur_p50 - base_p50) / base_p50 if base_p50 and base_p50 > 0 else None
        status = "regressed" if change is not None and change > max_regression else "ok"
        comparisons.append(Comparison(r.label, r.batch_size, r.device, status, baseline_p50_ms=base_p50,
                                      current_p50_ms=cur_p50, change=change))
    for key, base in base_by_key.items():
        if key not in seen:
            comparisons.append(Comparison(base.label, base.batch_size, base.device, "missing",
                                          baseline_p50_ms=base.latency_ms.p50))
    notes = _machine_notes(current, baseline)
    if seen and base_by_key and not any(c.status in ("ok", "regressed") for c in comparisons):
        notes.append("no result matched the baseline on (artifact label, batch size, device); "
                     "nothing was compared")
    return Regression(baseline=str(baseline_path), max_regression=max_regression, comparisons=comparisons,
                      notes=notes)
