"""Show a BenchReport: a terminal table, JSON (also the --baseline of a later run), Markdown for PRs.

Rows keep the order the results were run in (artifact by artifact, batch sizes ascending), so a
table reads like the command line that produced it. The method and the machine are printed
before the numbers, because a latency means nothing without the warmup, thread count and CPU it
was measured with. Files are written atomically with the validate command's helpers (see
reports.py); rich is imported only when used.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from modelport.manifest import human_size
from modelport.validators.bench.results import ERROR, OK, SKIPPED, BenchReport, BenchResult, Regression
from modelport.report_text import clean, finite_or_none, md_cell, write_report
from modelport.validators.reports import append_step_summary

COLUMNS = ["artifact", "runtime", "batch", "size", "load", "first run", "mean ± std ms", "p50 ms", "p90 ms", "p99 ms",
           "max ms", "inf/s", "samples/s", "peak RSS"]
# Bare numbers never fold mid-digit; columns whose cells have spaces (and "load", where a skip or
# error reason goes) wrap instead, each kept at least this wide so that wrapping stays readable.
_WRAPPING = {"artifact": 10, "runtime": 7, "size": 6, "load": 12, "first run": 7, "mean ± std ms": 8, "peak RSS": 8}
# On a narrow terminal these go first, least telling first (all of them stay in --json and Markdown).
_DROPPABLE = ["first run", "max ms", "inf/s", "size", "p90 ms", "mean ± std ms"]
MD_COLUMNS = ["artifact", "runtime", "device", "batch", "size", "p50 ms", "p90 ms", "p99 ms", "mean ± std ms",
              "inferences/s", "samples/s", "peak RSS", "load"]
REGRESSION_COLUMNS = ["artifact", "batch", "device", "baseline p50 ms", "current p50 ms", "change", "status"]

_REASON_IN_TABLE = 40  # longer skip reasons are cut in the table and printed whole below it


def _sig3(x: float) -> str:
    """3 significant figures without scientific notation: 0.0412, 1.23, 12.3, 123, 1234."""
    if not math.isfinite(x):
        return "∞" if x > 0 else str(x)
    if x == 0:
        return "0"
    r = float(f"{x:.3g}")  # decide the decimals on the rounded value: 9.996 -> 10.0, not 10.00
    if abs(r) >= 100:
        return f"{x:.0f}"
    decimals = 2 - math.floor(math.log10(abs(r)))
    return f"{x:.{decimals}f}"


def fmt_ms(ms: float | None) -> str:
    """A latency in milliseconds, 3 significant figures: 0.0412, 1.23, 123 (the unit is in the header)."""
    return "-" if ms is None else _sig3(float(ms))


def fmt_seconds(s: float | None) -> str:
    """A duration with its unit: ms below a second (loads are often tens of ms), else seconds."""
    if s is None:
        return "-"
    return f"{_sig3(s * 1000)} ms" if s < 1 else f"{s:.2f} s"


def fmt_rate(per_s: float | None) -> str:
    return "-" if per_s is None else _sig3(float(per_s))


def fmt_change(change: float | None) -> str:
    return "-" if change is None else f"{change * 100:+.1f}%"


def fmt_limit(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def mean_std(r: BenchResult) -> str:
    lat = r.latency_ms
    return "-" if lat is None else f"{fmt_ms(lat.mean)} ± {fmt_ms(lat.std)}"


def memory_text(r: BenchResult, sep: str) -> str:
    text = human_size(r.peak_rss_bytes) if r.peak_rss_bytes is not None else "-"
    if r.gpu_peak_bytes is not None:
        text += f"{sep}GPU {human_size(r.gpu_peak_bytes)}"
    return text


def runtime_text(r: BenchResult) -> str:
    return " ".join(x for x in (r.runtime, r.runtime_version) if x) or "-"


def _number(x: Any) -> bool:
    """A positive number (not a bool): a duration worth printing."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0


def method_line(method: dict[str, Any]) -> str:
    """warmup, measured runs/duration, threads, order, device, seed: whichever the report has."""
    parts = []
    warm = [f"{method['warmup']} run(s)" if method.get("warmup") is not None else None,
            f"{method['min_warmup_seconds']:g} s" if _number(method.get("min_warmup_seconds")) else None]
    if any(warm):
        parts.append("warmup " + " and at least ".join(w for w in warm if w))
    measure = [f"{method['runs']} run(s)" if method.get("runs") is not None else None,
               f"{method['duration']:g} s" if _number(method.get("duration")) else None]
    if any(measure):
        parts.append("measured " + " and at least ".join(m for m in measure if m))
    if "threads" in method:
        t = method["threads"]
        parts.append("runtime's default threads" if t is None else f"{t} thread(s)")
    for key in ("order", "device", "seed"):
        if method.get(key) is not None:
            parts.append(f"{key} {method[key]}")
    return "method: " + (", ".join(parts) if parts else "not recorded")


def machine_line(report: BenchReport) -> str:
    m = report.machine
    parts = [str(m["cpu"])] if m.get("cpu") else []
    if m.get("logical_cores") is not None:
        parts.append(f"{m['logical_cores']} logical cores")
    if m.get("os"):
        parts.append(str(m["os"]))
    if m.get("python"):
        parts.append(f"Python {m['python']}")
    if report.modelport_version:
        parts.append(f"modelport {report.modelport_version}")
    if report.created:
        parts.append(report.created)
    return "machine: " + (", ".join(parts) if parts else "not recorded")


def _counts(report: BenchReport) -> tuple[int, int, int]:
    status = [r.status for r in report.results]
    return status.count(OK), status.count(SKIPPED), status.count(ERROR)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(report: BenchReport) -> str:
    """'3 measured, 1 skipped, 0 errors' (+ ', 1 regression past 10%' when compared to a baseline)."""
    ok, skipped, errors = _counts(report)
    text = f"{ok} measured, {skipped} skipped, {_plural(errors, 'error')}"
    if report.regression is not None:
        n = len(report.regression.regressed)
        limit = fmt_limit(report.regression.max_regression)
        text += f", {_plural(n, 'regression')} past {limit}" if n else f", no regression past {limit}"
    return text


def failed(report: BenchReport) -> bool:
    """Errors or a regression past the limit: what the heading's ❌ (and a CI gate) go by."""
    return bool(report.errors) or bool(report.regression and report.regression.regressed)


def _short(reason: str | None) -> tuple[str, bool]:
    text = " ".join(clean(reason or "no reason given").split())
    if len(text) <= _REASON_IN_TABLE:
        return text, False
    return text[:_REASON_IN_TABLE - 1] + "…", True


def _terminal_cells(r: BenchResult, escape: Any, Text: Any) -> tuple[list[Any], str | None]:
    """The row's cells (rich markup or Text), and the full reason to print below the table, if any."""
    runtime = escape((r.runtime or "-") + (f" ({r.device})" if r.device else ""))
    head = [escape(r.label), runtime, str(r.batch_size), human_size(r.size_bytes) if r.size_bytes is not None else "-"]
    if r.status == OK:
        lat = r.latency_ms
        return [*head, fmt_seconds(r.load_seconds), fmt_seconds(r.first_inference_seconds), mean_std(r),
                *[fmt_ms(getattr(lat, k, None)) for k in ("p50", "p90", "p99", "max")],
                fmt_rate(r.inferences_per_second), fmt_rate(r.samples_per_second), escape(memory_text(r, "\n"))], None
    reason, cut = _short(r.reason)
    below = None
    if r.status == SKIPPED:
        cell = Text(f"skipped: {reason}", style="yellow", justify="left")
        if cut:
            below = f"[yellow]skipped[/] {escape(r.label)} (batch {r.batch_size}): {escape(clean(r.reason))}"
    else:
        cell = Text(f"ERROR: {reason}", style="bold red", justify="left")
        kind = f"{r.error_kind}: " if r.error_kind else ""
        below = f"[red]x[/] {escape(r.label)} (batch {r.batch_size}): {escape(kind + clean(r.reason))}"
    return [*head, cell, *[""] * (len(COLUMNS) - len(head) - 1)], below


def _natural_width(table: Any) -> int:
    """How wide the table draws with nothing wrapped: rendered on a very wide scratch console (on
    the real one rich would squeeze it to fit by folding every cell)."""
    import io

    from rich.console import Console
    from rich.segment import Segment

    wide = Console(file=io.StringIO(), width=1000)
    lines = Segment.split_lines(wide.render(table, wide.options))
    return max((Segment.get_line_length(line) for line in lines), default=0)


def _fitting_table(rows: list[list[Any]], console: Any) -> tuple[Any, list[str]]:
    """The widest table that fits the console unwrapped: columns in _DROPPABLE go, in that order, until
    it does (or none is left to drop; then rich wraps the cells)."""
    from rich.table import Table

    for n in range(len(_DROPPABLE) + 1):
        dropped = _DROPPABLE[:n]
        keep = [i for i, col in enumerate(COLUMNS) if col not in dropped]
        table = Table(show_lines=False)
        for i in keep:
            col = COLUMNS[i]
            wraps = col in _WRAPPING
            table.add_column(col, overflow="fold" if wraps else "ellipsis", no_wrap=not wraps,
                             min_width=_WRAPPING.get(col), justify="left" if col in ("artifact", "runtime") else "right")
        for row in rows:
            table.add_row(*[row[i] for i in keep])
        if _natural_width(table) <= console.width:
            break
    return table, dropped


def render_terminal(report: BenchReport, console: Any = None) -> None:
    """Method and machine lines, one table row per result, the baseline comparison, notes, a summary."""
    from rich.console import Console
    from rich.markup import escape
    from rich.text import Text

    console = console or Console(highlight=False)
    console.print(escape(method_line(report.method)))
    console.print(escape(machine_line(report)))
    versions = dict.fromkeys(f"{r.runtime} {r.runtime_version}" for r in report.results if r.runtime and r.runtime_version)
    if versions:
        console.print(escape("runtimes: " + ", ".join(versions)))
    rows, below = [], []
    for r in report.results:
        cells, line = _terminal_cells(r, escape, Text)
        rows.append(cells)
        if line:
            below.append(line)
    table, dropped = _fitting_table(rows, console)
    console.print(table)
    for line in below:
        console.print(line)
    notes = [f"{r.label}: {r.device_note}" for r in report.results if r.device_note]
    if report.regression is not None:
        _render_regression(report.regression, console)
        notes += report.regression.notes
    if dropped:
        notes.append(f"left out to fit {console.width} columns: {', '.join(dropped)} (a wider terminal or --json "
                     "shows them)")
    for note in dict.fromkeys(notes + report.notes):  # in order, once each
        console.print(f"note: {escape(clean(note))}")
    style = "bold red" if failed(report) else "green"
    console.print(f"[{style}]{escape(summary(report))}[/]")


_STATUS_STYLE = {"regressed": "bold red", "ok": "green", "new": "cyan", "missing": "yellow"}


def _render_regression(reg: Regression, console: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"against baseline {reg.baseline} (limit {fmt_limit(reg.max_regression)} on p50)"),
                  title_justify="left")
    for col in REGRESSION_COLUMNS:
        table.add_column(col, overflow="fold", justify="left" if col in ("artifact", "device", "status") else "right")
    for c in reg.comparisons:
        style = _STATUS_STYLE.get(c.status, "")
        table.add_row(escape(c.label), str(c.batch_size), escape(c.device or "-"), fmt_ms(c.baseline_p50_ms),
                      fmt_ms(c.current_p50_ms), fmt_change(c.change), f"[{style}]{escape(c.status)}[/]" if style else
                      escape(c.status))
    console.print(table)


def write_json(report: BenchReport, path: str | os.PathLike) -> None:
    """report.to_dict() as strict JSON (an infinite throughput becomes null); a later --baseline."""
    write_report(path, json.dumps(finite_or_none(report.to_dict()), indent=2, allow_nan=False) + "\n")


_MD_STATUS = {"regressed": "❌ regressed", "ok": "✅ ok", "new": "🆕 new", "missing": "⚠️ missing"}


def markdown(report: BenchReport) -> str:
    """A PR-comment section: heading (✅/❌ when there is a verdict), method, machine, table, notes."""
    mark = "❌" if failed(report) else ("✅" if report.regression is not None else "")
    out = ["### modelport bench" + (f" {mark}" if mark else ""), "",
           md_cell(method_line(report.method)) + "  ", md_cell(machine_line(report)), "",
           "| " + " | ".join(MD_COLUMNS) + " |", "|" + "".join("---|" if i < 3 else "--:|"
                                                              for i in range(len(MD_COLUMNS)))]
    for r in report.results:
        head = [md_cell(r.label), md_cell(runtime_text(r)), md_cell(r.device or "-"), str(r.batch_size),
                human_size(r.size_bytes) if r.size_bytes is not None else "-"]
        if r.status == OK:
            lat = r.latency_ms
            cells = [*[fmt_ms(getattr(lat, k, None)) for k in ("p50", "p90", "p99")], mean_std(r),
                     fmt_rate(r.inferences_per_second), fmt_rate(r.samples_per_second), md_cell(memory_text(r, ", ")),
                     fmt_seconds(r.load_seconds)]
        else:
            text = (f"⏭️ skipped: {md_cell(r.reason or 'no reason given')}" if r.status == SKIPPED else
                    f"❌ error: {md_cell((r.error_kind + ': ') if r.error_kind else '')}{md_cell(r.reason or '')}")
            cells = [text] + [""] * (len(MD_COLUMNS) - len(head) - 1)
        out.append("| " + " | ".join(head + cells) + " |")
    notes = [f"{r.label}: {r.device_note}" for r in report.results if r.device_note]
    reg = report.regression
    if reg is not None:
        out += ["", f"**Against baseline** `{md_cell(reg.baseline)}` (limit {fmt_limit(reg.max_regression)} on p50)", "",
                "| " + " | ".join(REGRESSION_COLUMNS) + " |",
                "|---|--:|---|--:|--:|--:|---|"]
        for c in reg.comparisons:
            out.append(f"| {md_cell(c.label)} | {c.batch_size} | {md_cell(c.device or '-')} | {fmt_ms(c.baseline_p50_ms)} | "
                       f"{fmt_ms(c.current_p50_ms)} | {fmt_change(c.change)} | {_MD_STATUS.get(c.status, md_cell(c.status))} |")
        notes += reg.notes
    notes = list(dict.fromkeys(notes + report.notes))
    if notes:
        out += ["", "**Notes**", ""] + [f"- {md_cell(n)}" for n in notes]
    out += ["", (f"{mark} " if mark else "") + summary(report), ""]
    return "\n".join(out)


def write_markdown(report: BenchReport, path: str | os.PathLike, step_summary: bool = True) -> None:
    """Write the Markdown to path (atomically), and also append it to $GITHUB_STEP_SUMMARY if set
    (unless step_summary is False: `modelport batch` summarises its jobs' benches itself)."""
    text = markdown(report)
    write_report(path, text)
    if step_summary:
        append_step_summary(report, text)  # given the text, it only appends (never renders a validate report)


def write_files(report: BenchReport, *, json_path: str | None = None, markdown_path: str | None = None,
                plot_path: str | None = None, step_summary: bool = True) -> dict[str, str]:
    """Write the requested report files (the plot only when something was measured); return the
    files written, by kind ("json", "markdown", "plot")."""
    written = {}
    if json_path:
        write_json(report, json_path)
        written["json"] = json_path
    if markdown_path:
        write_markdown(report, markdown_path, step_summary=step_summary)
        written["markdown"] = markdown_path
    if plot_path and any(r.status == OK for r in report.results):
        from modelport.validators.bench.plots import write_plot

        write_plot(report, plot_path)
        written["plot"] = plot_path
    return written
