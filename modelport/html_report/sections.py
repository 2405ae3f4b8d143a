"""The parts of a report, as HTML fragments: a conversion's route and steps, a parity table,
a benchmark with its plot, versions and the provenance manifest.

Each takes what the commands already produce (a ConvertResult's or a manifest's dict, a
ValidationReport, a BenchReport), so `convert`, `validate`, `bench` and `batch` show the same
thing the same way. Numbers are formatted by the terminal and Markdown views' own helpers: a
figure reads alike in every report.
"""

from __future__ import annotations

import json
from typing import Any

from modelport.html_report.page import bullet_list, esc, image, mark, table
from modelport.layout import perm_name
from modelport.manifest import human_size
from modelport.validators import reports as parity_text
from modelport.validators.bench import reports as bench_text
from modelport.validators.bench.results import OK, SKIPPED, BenchReport
from modelport.validators.results import ValidationReport
from modelport.validators.dynamic_sizes import describe as describe_sizes
from modelport.validators.tolerances import describe

_REASON = 400  # an attempt's reason beyond this many characters is cut (the whole text is in the JSON)


def _cut(text: Any, limit: int = _REASON) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _smoke_text(smoke: dict[str, Any] | None) -> str:
    smoke = smoke or {}
    if smoke.get("inconclusive"):
        return "smoke run inconclusive"
    outs = ", ".join(f"{k} {v}" for k, v in smoke.get("outputs", {}).items())
    return f"ran in {smoke.get('runtime', '?')}: {outs}" if smoke else "-"


def route(record: dict[str, Any]) -> str:
    """Route, steps (each with the strategy kept and those tried before it), notes, other routes tried.
    `record` is a ConvertResult's dict or a provenance manifest: both hold route and steps alike."""
    out = [f"<p><b>route</b> <code>{esc(record.get('route', '?'))}</code></p>"]
    tried = [r for r in record.get("routes_tried", []) if r.get("route") != record.get("route")]
    if tried:
        out.append("<p>routes tried first:</p>" + bullet_list(
            f"<code>{esc(r['route'])}</code>: {esc(r.get('outcome', ''))}: {esc(_cut(r.get('reason')))}" for r in tried))
    rows = []
    for i, s in enumerate(record.get("steps", []), 1):
        rows.append(([str(i), f"<code>{esc(s.get('edge'))}</code>", esc(s.get("strategy")),
                      f"{float(s.get('seconds') or 0):.1f} s", esc(s.get("converter")), esc(_smoke_text(s.get("smoke")))],
                     False))
    # the strategy before the converter's version: on a phone the first columns are the ones in view
    out.append(table(["step", "edge", "strategy", "time", "converter", "smoke run"], rows, numeric=["time"],
                     wrap=["smoke run"]))
    for i, s in enumerate(record.get("steps", []), 1):
        items = [esc(n) for n in s.get("notes", [])]
        attempts = s.get("attempts", [])
        if len(attempts) > 1:  # the kept strategy is the step's last attempt
            items += [f"tried before <b>{esc(s.get('strategy'))}</b>: <b>{esc(a['strategy'])}</b> "
                      f"{esc(a.get('outcome', ''))}: {esc(_cut(a.get('reason')))}" for a in attempts[:-1]]
        if items:
            out.append(f"<h3>step {i}: {esc(s.get('edge'))}</h3>" + bullet_list(items))
    return "".join(out)


def attempts(tried: list[dict[str, Any]]) -> str:
    """Every strategy tried when none gave an artifact: what a failed conversion leaves to read."""
    rows = []
    for a in tried:
        after = f" (after {', '.join(a['after'])})" if a.get("after") else ""
        rows.append(([f"<code>{esc(a.get('edge'))}</code>", esc(a.get("strategy")), esc(a.get("outcome")),
                      f"{float(a.get('seconds') or 0):.1f} s", esc(_cut(a.get("reason")) + after)],
                     a.get("outcome") != "converted"))
    return table(["edge", "strategy", "outcome", "time", "reason"], rows, numeric=["time"], wrap=["reason"])


def io_map(mapping: dict[str, Any]) -> str:
    """Source tensor -> artifact tensor, with the layout change and how it was found."""
    rows = []
    for kind in ("inputs", "outputs"):
        for m in mapping.get(kind, []):
            rows.append(([kind[:-1], f"<code>{esc(m.get('source'))}</code>", f"<code>{esc(m.get('artifact'))}</code>",
                          esc(perm_name(m.get("perm"))), esc(m.get("rule", ""))], False))
    return table(["", "source", "artifact", "layout", "found by"], rows) if rows else ""


def parity(report: ValidationReport) -> str:
    """One table per candidate (a phone shows a narrow table better than one wide one), its outputs
    worst first, then what could not run or failed, the layout and float64 evidence, and the notes."""
    out = [f"<p>reference <code>{esc(report.reference)}</code> ({esc(report.reference_format)}), seed "
           f"{report.seed}, {report.samples} sample(s), device {esc(report.device)}</p>"]
    columns = ["output", "verdict", *parity_text.COLUMNS[3:]]
    numeric = ["max abs", "max rel", "cosine", "out-of-tol", "top-1", "min atol to pass"]
    for c in sorted(report.candidates, key=lambda c: c.passed):  # failing candidates first
        out.append(f"<h3>{mark(c.passed)} <code>{esc(c.path)}</code> "
                   f'<span class="muted">({esc(c.runtime)}, {esc(c.device)}, {esc(c.precision)})</span></h3>')
        if c.error:
            out.append(f'<p class="fail">could not run: {esc(c.error)}</p>')
            continue
        rows = [([f"<code>{esc(o.output)}</code>", mark(o.passed), *[esc(x) for x in parity_text.metric_cells(o)]],
                 not o.passed) for o in parity_text.sorted_outputs(c)]
        out.append(table(columns, rows, numeric=numeric) if rows else
                   f"<p>{mark(c.passed)} no outputs compared</p>")
    failures = [f"<code>{esc(where)}</code>: {esc(why)}" for where, why in parity_text.failure_lines(report)]
    if failures:
        out.append("<h3>failures</h3>" + bullet_list(failures, "fail"))
    evidence = [f"layout: <code>{esc(c.path)}</code>: {esc(line)}" for c in report.candidates for line in c.layout_evidence]
    evidence += [f"float64: <code>{esc(c.path)}</code>: {esc(line)}" for c in report.candidates
                 for line in c.reference_evidence]
    evidence += [f"sizes: <code>{esc(c.path)}</code>: {esc(line)}" for c in report.candidates
                 for line in describe_sizes(c.sizes)]
    evidence += [f"backends: <code>{esc(c.path)}</code>: {esc(parity_text.describe_backends(c))}"
                 for c in report.candidates if c.backends]
    if evidence:
        out.append("<h3>evidence</h3>" + bullet_list(evidence))
    if report.notes:
        out.append("<h3>notes</h3>" + bullet_list(esc(n) for n in report.notes))
    out.append(f'<p class="{"pass" if report.passed else "fail"}"><b>{esc(parity_text.summary(report))}</b></p>')
    return "".join(out)


def tolerance_rules(report: ValidationReport) -> list[str]:
    """The distinct pass rules used, for the page's subtitle."""
    return list(dict.fromkeys(describe(o.tolerance) for c in report.candidates for o in c.outputs))


def bench(report: BenchReport) -> str:
    """Method and machine (a latency means nothing without them), the table, the plot, the notes."""
    out = [f"<p>{esc(bench_text.method_line(report.method))}</p>", f"<p>{esc(bench_text.machine_line(report))}</p>"]
    columns = ["artifact", "runtime", "device", "batch", "size", "p50 ms", "p90 ms", "p99 ms", "mean ± std ms",
               "samples/s", "peak RSS", "load"]
    rows, reasons = [], []
    for r in report.results:
        head = [f"<code>{esc(r.label)}</code>", esc(bench_text.runtime_text(r)), esc(r.device or "-"), str(r.batch_size),
                esc(human_size(r.size_bytes) if r.size_bytes is not None else "-")]
        if r.status == OK:
            lat = r.latency_ms
            cells = [*[bench_text.fmt_ms(getattr(lat, k, None)) for k in ("p50", "p90", "p99")], bench_text.mean_std(r),
                     bench_text.fmt_rate(r.samples_per_second), bench_text.memory_text(r, ", "),
                     bench_text.fmt_seconds(r.load_seconds)]
            rows.append((head + [esc(c) for c in cells], False))
        else:
            why = (f"skipped: {r.reason or 'no reason given'}" if r.status == SKIPPED else
                   f"error: {(r.error_kind + ': ') if r.error_kind else ''}{r.reason or ''}")
            rows.append((head + [esc(r.status)] + [""] * 6, r.status != SKIPPED))  # the reason goes below the table
            reasons.append(f"<code>{esc(r.label)}</code> batch {r.batch_size}: {esc(why)}")
    out.append(table(columns, rows, numeric=["batch", "size", "p50 ms", "p90 ms", "p99 ms", "samples/s"]))
    out.append(bullet_list(reasons))
    out.append(bench_plot(report))
    reg = report.regression
    if reg is not None:
        out.append(f"<h3>against baseline <code>{esc(reg.baseline)}</code> "
                   f"(limit {esc(bench_text.fmt_limit(reg.max_regression))} on p50)</h3>")
        out.append(table(bench_text.REGRESSION_COLUMNS, [
            ([f"<code>{esc(c.label)}</code>", str(c.batch_size), esc(c.device or "-"), bench_text.fmt_ms(c.baseline_p50_ms),
              bench_text.fmt_ms(c.current_p50_ms), esc(bench_text.fmt_change(c.change)), esc(c.status)],
             c.status == "regressed") for c in reg.comparisons], numeric=["batch", "baseline p50 ms", "current p50 ms"]))
    notes = [f"{r.label}: {r.device_note}" for r in report.results if r.device_note]
    notes = list(dict.fromkeys(notes + (reg.notes if reg is not None else []) + report.notes))
    if notes:
        out.append("<h3>notes</h3>" + bullet_list(esc(n) for n in notes))
    out.append(f"<p><b>{esc(bench_text.summary(report))}</b></p>")
    return "".join(out)


def bench_plot(report: BenchReport) -> str:
    """The --plot figure, carried in the page as SVG; a line saying why when it cannot be drawn."""
    if not any(r.status == OK and r.latencies_ms for r in report.results):
        return ""
    from modelport.errors import ModelportError
    from modelport.validators.bench.plots import plot_bytes

    try:
        return image(plot_bytes(report, "png"), "image/png", "latency distribution per artifact")
    except ModelportError as e:  # matplotlib missing (the bench extra): the table still stands
        return f'<p class="warn">plot not drawn: {esc(e)}</p>'


def png_file(path: str | None, alt: str) -> str:
    """A PNG written by an earlier step (a batch job's bench plot), carried in the page."""
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            return image(f.read(), "image/png", alt)
    except OSError as e:
        return f'<p class="warn">plot {esc(path)} not readable: {esc(e.strerror or e)}</p>'


def versions(found: dict[str, Any], columns: tuple[str, str] = ("library", "version")) -> str:
    """Names and values (library versions, the machine), one row each, sorted by name; a nested
    dict (the machine's runtime versions) gives one row per entry, "versions.onnxruntime"."""
    flat: dict[str, Any] = {}
    for k, v in (found or {}).items():
        if isinstance(v, dict):
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        elif v is not None:
            flat[k] = v
    if not flat:
        return ""
    return table(list(columns), [([esc(k), f"<code>{esc(v)}</code>"], False) for k, v in sorted(flat.items())],
                 wrap=[columns[1]])


def manifest(record: dict[str, Any] | None, path: str | None) -> str:
    """The provenance manifest: where the artifact came from, folded (it is long), whole."""
    if not record:
        return ""
    source = record.get("source") or {}
    head = (f"<p>source <code>{esc(source.get('path'))}</code> ({esc(source.get('format'))}), sha256 "
            f"<code>{esc((source.get('sha256') or '?')[:16])}…</code></p>" if isinstance(source, dict) else "")
    text = json.dumps(record, indent=2, default=str)
    return (head + f"<details><summary>manifest <code>{esc(path or '')}</code></summary><pre>{esc(text)}</pre>"
            "</details>")
