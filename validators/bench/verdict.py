"""The exit code of a bench run, and the one-line error that carries it (`bench`, `convert --bench`)."""

from __future__ import annotations

from modelport.errors import ConversionError, RegressionError, UnavailableError, UsageError
from modelport.validators.bench.results import BenchReport


def exit_code(report: BenchReport) -> int:
    """0 all measured or skipped; the worst error's code (2 bad input, 3 failed to run, 4 unavailable);
    else 1 when a regression passed the limit."""
    codes = {"UsageError": UsageError.exit_code, "UnavailableError": UnavailableError.exit_code}
    errors = [codes.get(r.error_kind or "", ConversionError.exit_code) for r in report.errors]
    if errors:
        return max(errors)
    if report.regression is not None and report.regression.regressed:
        return 1
    return 0


def raise_for(report: BenchReport) -> None:
    """Raise the error that carries the exit code: the worst error's (2, 3, 4), else 1 for a
    regression past the limit; nothing when the run is clean."""
    code = exit_code(report)
    if code == 0:
        return
    if code == 1:
        worst = ", ".join(f"{c.label} batch {c.batch_size} (+{c.change * 100:.1f}%)" for c in report.regression.regressed)
        raise RegressionError(f"p50 regressed past {report.regression.max_regression * 100:g}% for: {worst}")
    failed = report.errors
    first = failed[0]
    cls = {2: UsageError, 4: UnavailableError}.get(code, ConversionError)
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    raise cls(f"{len(failed)} of {len(report.results)} benchmark(s) failed; {first.label} batch {first.batch_size}: "
              f"{first.reason}{more}")
