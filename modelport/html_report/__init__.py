"""`--html FILE`: one self-contained page per command (convert, validate, bench; batch's is
modelport/batch/html_page.py, built from these sections) that a
reviewer opens from a CI artifact or a phone: the verdict on top, then the route with each step
and strategy, the parity tables (worst output first), the bench plot, notes, versions and the
provenance manifest. See page.py for what "self-contained" guarantees.

The builders take what the commands already hold (result dicts, report objects), never rerun
anything, and the page is written atomically, so a failed run still leaves a whole report.
"""

from __future__ import annotations

import os
from typing import Any

from modelport.html_report import sections
from modelport.html_report.page import Page, bullet_list, esc, write
from modelport.manifest import human_size, load as load_manifest, size_on_disk

__all__ = ["bench_page", "check_path", "convert_page", "validate_page", "write"]


def check_path(path: str | None, option: str = "--html") -> None:
    """Refuse a report path before minutes of work: it must name an .html (or .htm) file."""
    from modelport.errors import UsageError

    if path and not path.lower().endswith((".html", ".htm")):
        raise UsageError(f"{option} {path}: expected an .html file")
    if path and os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a folder, expected an .html file")


def _validation(d: dict[str, Any] | None):
    from modelport.validators.results import ValidationReport

    return None if d is None else ValidationReport.from_dict(d)


def _artifact(result: dict[str, Any]) -> str:
    """One written artifact: where, how big, how long, its route and I/O map, its manifest."""
    output = result.get("output") or "?"
    size = human_size(size_on_disk(output)) if os.path.exists(output) else "missing"
    kept = bullet_list(f"kept intermediate <code>{esc(p)}</code>" for p in result.get("intermediates", []))
    return (f"<p><code>{esc(output)}</code> ({esc(size)}, {float(result.get('seconds') or 0):.1f} s)</p>"
            + sections.route(result) + "<h3>I/O map (source → artifact)</h3>" + sections.io_map(result.get("io_map", {}))
            + kept + sections.manifest(load_manifest(output), result.get("manifest")))


def convert_page(source: str, results: list[dict[str, Any]], *, validation: dict[str, Any] | None = None,
                 errors: dict[str, str] | None = None, error: str | None = None,
                 attempts: list[dict[str, Any]] | None = None, bench=None) -> Page:
    """A `convert` run: every artifact written (ConvertResult dicts), the targets not written (and
    why), the strategies tried when none converted, one parity table, the bench if it ran."""
    errors = dict(errors or {})
    report = _validation(validation)
    failed = bool(errors or error) or (report is not None and not report.passed)
    from modelport.validators import reports as parity_text

    if error:
        text = f"conversion failed: {error}"
    else:
        text = (parity_text.summary(report) if report is not None else
                f"converted {len(results)} artifact(s), not validated (--no-validate)")
        if errors:
            text += f"; {len(errors)} target(s) failed: {', '.join(errors)}"
    page = Page(f"modelport convert {source}", verdict=(not failed) if (report is not None or failed) else None,
                verdict_text=text, subtitle=f"{len(results)} artifact(s) written")
    if error:
        page.add("error", "error", f'<p class="fail">{esc(error)}</p>')
    for i, result in enumerate(results, 1):
        page.add(f"artifact-{i}", f"artifact: {os.path.basename(str(result.get('output', '')).rstrip('/'))}",
                 _artifact(result))
    if errors:
        page.add("not-written", "targets that failed", bullet_list(
            f"<b>{esc(t)}</b>: {esc(why)}" for t, why in errors.items()))
    if attempts:
        page.add("attempts", "strategies tried", sections.attempts(attempts))
    if report is not None:
        page.add("parity", "parity", sections.parity(report))
    if bench is not None:
        page.add("bench", "bench", sections.bench(bench))
    if report is not None:
        page.add("versions", "versions", sections.versions(report.versions))
    return page


def validate_page(report) -> Page:
    """A `validate` run: the parity tables, evidence and notes, the versions it ran with."""
    from modelport.validators import reports as parity_text

    page = Page(f"modelport validate {report.reference}", verdict=report.passed, verdict_text=parity_text.summary(report),
                subtitle="pass rule: " + "; ".join(sections.tolerance_rules(report)) if report.candidates else "")
    page.add("parity", "parity", sections.parity(report))
    for c in report.candidates:  # a candidate that modelport converted carries its provenance
        record = load_manifest(c.path) if os.path.exists(c.path) else None
        if record:
            page.add(f"route-{len(page.sections)}", f"route of {os.path.basename(c.path.rstrip('/'))}",
                     sections.route(record) + sections.manifest(record, c.path.rstrip("/") + ".modelport.json"))
    page.add("versions", "versions", sections.versions(report.versions))
    return page


def bench_page(report) -> Page:
    """A `bench` run: method, machine, the table, the plot, the regression verdict."""
    from modelport.validators.bench import reports as bench_text

    verdict = None if report.regression is None and not bench_text.failed(report) else not bench_text.failed(report)
    page = Page("modelport bench", verdict=verdict, verdict_text=bench_text.summary(report))
    page.add("bench", "bench", sections.bench(report))
    page.add("machine", "machine", sections.versions(report.machine, ("", "")))
    return page
