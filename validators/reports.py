"""Show a ValidationReport: a terminal table, JSON, JUnit XML for CI, Markdown for PR summaries.

Every view lists, per candidate, its outputs worst first (by severity), so the output to look at
is on top. Files are written atomically (a temp file in the same folder, then os.replace), so a
CI step never reads half a report. rich and xml.etree are imported only when used.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from modelport.errors import UsageError
from modelport.report_text import clean, finite_or_none, md_cell, write_report, xml_text
from modelport.validators.dynamic_sizes import describe as describe_sizes
from modelport.validators.results import CandidateResult, OutputResult, ValidationReport
from modelport.validators.tolerances import describe, fmt_num

COLUMNS = ["candidate", "output", "verdict", "max abs", "max rel", "cosine", "out-of-tol", "top-1",
           "min atol to pass", "rule"]


def fmt_cosine(c: float | None) -> str:
    """Enough decimals to show how close to 1 it is: 0.980, 0.9999970."""
    if c is None:
        return "-"
    miss = 1.0 - c
    if miss < 5e-10:  # rounding of identical arrays (0.9999999999999998)
        return "1"
    decimals = min(9, max(3, math.ceil(-math.log10(miss)) + 1)) if miss < 1 else 3
    return f"{c:.{decimals}f}"





def fmt_pct(x: float | None) -> str:
    return "-" if x is None else ("0%" if x == 0 else f"{x * 100:.3g}%")


def sorted_outputs(c: CandidateResult) -> list[OutputResult]:
    return sorted(c.outputs, key=lambda o: -o.severity)


def metric_cells(o: OutputResult) -> list[str]:
    return [fmt_num(o.max_abs), fmt_num(o.max_rel), fmt_cosine(o.cosine), fmt_pct(o.out_of_tolerance), fmt_pct(o.top1),
            fmt_num(o.min_passing_atol), describe(o.tolerance)]


def candidate_label(c: CandidateResult) -> str:
    return f"{c.path} ({c.runtime}, {c.device}, {c.precision})"


def summary(report: ValidationReport) -> str:
    n = len(report.candidates)
    return f"{sum(c.passed for c in report.candidates)} of {n} candidates passed"


def failure_lines(report: ValidationReport) -> list[tuple[str, str]]:
    """(where, why) for each error or failing output, worst first within a candidate."""
    lines = []
    for c in report.candidates:
        if c.error:
            lines.append((c.path, f"could not run: {c.error}"))
        for o in sorted_outputs(c):
            if not o.passed:
                how = f" [matched by {o.mapping}]" if o.mapping else ""
                lines.append((f"{c.path} > {o.output}", o.reason + how))
        for e in c.sizes:
            if e["passed"] is False:
                lines.append((c.path, f"dynamic dim {e['dim']} claimed, but at {e['dim']}={e['size']}: {e['detail']}"))
        for e in c.backends:
            if not e["passed"]:
                lines.append((c.path, f"on the {e['backend']} backend: {e['detail']}"))
    return lines


def describe_backends(c: CandidateResult) -> str:
    """The candidate's other backends in one line, e.g. `wasm: passed (max abs 1.8e-07)`."""
    def one(e: dict) -> str:
        if not e["passed"]:
            return f"{e['backend']}: FAILED ({e['detail']})"
        sizes = f", and at sizes {', '.join(str(n) for n in e['sizes'])}" if e.get("sizes") else ""
        return f"{e['backend']}: passed (max abs {e['max_abs']:.2g}{sizes})"

    return "; ".join(one(e) for e in c.backends)


def render_terminal(report: ValidationReport, console: Any = None) -> None:
    """One rich table (a candidate column, outputs worst first), failures, notes, a summary line."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console(highlight=False)
    console.print(f"reference: {escape(report.reference)} ({escape(report.reference_format)}), "
                  f"seed {report.seed}, {report.samples} sample(s), device {escape(report.device)}")
    table = Table(show_lines=False)
    for col in COLUMNS:
        table.add_column(col, overflow="fold", justify="right" if col not in ("candidate", "output", "verdict", "rule") else "left")
    for c in report.candidates:
        label = escape(candidate_label(c))
        if c.error:
            table.add_row(label, "-", "[bold red]ERROR[/]", *["-"] * 6, "")
        for i, o in enumerate(sorted_outputs(c)):
            verdict = "[green]PASS[/]" if o.passed else "[bold red]FAIL[/]"
            table.add_row(label if i == 0 and not c.error else "", escape(o.output), verdict,
                          *[escape(x) for x in metric_cells(o)])
        if not c.error and not c.outputs:
            table.add_row(label, "-", "[green]PASS[/]" if c.passed else "[bold red]FAIL[/]", *["-"] * 6, "")
        table.add_section()
    console.print(table)
    for where, why in failure_lines(report):
        console.print(f"[red]x[/] {escape(clean(where))}: {escape(clean(why))}")
    for c in report.candidates:
        for line in c.layout_evidence:
            console.print(f"layout: {escape(candidate_label(c))}: {escape(clean(line))}")
        for line in c.reference_evidence:
            console.print(f"float64: {escape(candidate_label(c))}: {escape(clean(line))}")
        for line in describe_sizes(c.sizes):
            console.print(f"sizes: {escape(candidate_label(c))}: {escape(clean(line))}")
        if c.backends:
            console.print(f"backends: {escape(candidate_label(c))}: {escape(clean(describe_backends(c)))}")
    for note in report.notes:
        console.print(f"note: {escape(note)}")
    style = "green" if report.passed else "bold red"
    console.print(f"[{style}]{summary(report)}[/]")



def write_json(report: ValidationReport, path: str | os.PathLike) -> None:
    """report.to_dict() as strict JSON (non-finite numbers become null)."""
    write_report(path, json.dumps(finite_or_none(report.to_dict()), indent=2, allow_nan=False) + "\n")





def _details(o: OutputResult) -> str:
    fields = [("output", o.output), ("candidate output", o.candidate_output), ("matched by", o.mapping or "-"),
              ("shape", f"{o.shape_got} (reference {o.shape_ref})"), ("dtype", f"{o.dtype_got} (reference {o.dtype_ref})"),
              ("rule", f"{describe(o.tolerance)} [{o.tolerance.preset}]"), ("max abs", fmt_num(o.max_abs)),
              ("mean abs", fmt_num(o.mean_abs)), ("max rel", fmt_num(o.max_rel)), ("cosine", fmt_cosine(o.cosine)),
              ("out of tolerance", fmt_pct(o.out_of_tolerance)), ("top-1", fmt_pct(o.top1)), ("top-5", fmt_pct(o.top5)),
              ("NaN/Inf in candidate", f"{o.nan_count}/{o.inf_count}"), ("min atol to pass", fmt_num(o.min_passing_atol))]
    return "\n".join(f"{k}: {v}" for k, v in fields)


def junit_xml(report: ValidationReport) -> str:
    """JUnit XML: testcase classname=candidate path, name=output; a candidate that could not run
    is one testcase "run" with <error>."""
    import xml.etree.ElementTree as ET

    suites = ET.Element("testsuites", name="modelport")
    suite = ET.SubElement(suites, "testsuite", name="modelport validate")
    props = ET.SubElement(suite, "properties")
    for k, v in [("reference", report.reference), ("reference_format", report.reference_format),
                 ("seed", report.seed), ("samples", report.samples), ("device", report.device),
                 *[(f"version.{k}", v) for k, v in sorted(report.versions.items())]]:
        ET.SubElement(props, "property", name=xml_text(k), value=xml_text(v))
    tests = failures = errors = 0
    for c in report.candidates:
        classname = xml_text(c.path)
        if c.error:
            tc = ET.SubElement(suite, "testcase", classname=classname, name="run")
            err = ET.SubElement(tc, "error", message=xml_text(c.error.splitlines()[0] if c.error else ""), type="error")
            err.text = xml_text(c.error)
            tests, errors = tests + 1, errors + 1
        elif not c.outputs:
            tc = ET.SubElement(suite, "testcase", classname=classname, name="run")
            tests += 1
            if not c.passed:
                ET.SubElement(tc, "failure", message="no outputs compared", type="parity")
                failures += 1
        for o in sorted_outputs(c):
            tc = ET.SubElement(suite, "testcase", classname=classname, name=xml_text(o.output))
            tests += 1
            if not o.passed:
                fail = ET.SubElement(tc, "failure", message=xml_text(o.reason), type="parity")
                fail.text = xml_text(_details(o))
                failures += 1
    if report.notes:
        ET.SubElement(suite, "system-out").text = xml_text("\n".join(report.notes))
    for el in (suites, suite):
        el.set("tests", str(tests))
        el.set("failures", str(failures))
        el.set("errors", str(errors))
    suite.set("skipped", "0")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(report: ValidationReport, path: str | os.PathLike) -> None:
    write_report(path, junit_xml(report))



def markdown(report: ValidationReport) -> str:
    """GitHub-flavoured Markdown: heading with the verdict, the table, failures, notes, summary."""
    mark = "✅" if report.passed else "❌"
    out = [f"### {mark} modelport validate: {md_cell(report.reference)}", "",
           f"seed {report.seed}, {report.samples} sample(s), device {md_cell(report.device)}", "",
           "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for c in report.candidates:
        label = md_cell(candidate_label(c))
        if c.error:
            out.append(f"| {label} | - | ❌ error | " + " | ".join(["-"] * 6) + " | |")
        for o in sorted_outputs(c):
            verdict = "✅ pass" if o.passed else "❌ fail"
            out.append(f"| {label} | {md_cell(o.output)} | {verdict} | " + " | ".join(md_cell(x) for x in metric_cells(o)) + " |")
        if not c.error and not c.outputs:
            out.append(f"| {label} | - | {'✅ pass' if c.passed else '❌ fail'} | " + " | ".join(["-"] * 6) + " | |")
    failing = failure_lines(report)
    if failing:
        out += ["", "**Failures**", ""] + [f"- {md_cell(where)}: {md_cell(why)}" for where, why in failing]
    if report.notes:
        out += ["", "**Notes**", ""] + [f"- {md_cell(n)}" for n in report.notes]
    out += ["", f"{mark} {summary(report)}", ""]
    return "\n".join(out)


def append_step_summary(report: ValidationReport, text: str | None = None) -> bool:
    """Append the Markdown to $GITHUB_STEP_SUMMARY when set (GitHub Actions); True if written."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    try:
        with open(target, "a", encoding="utf-8") as f:
            f.write((text if text is not None else markdown(report)) + "\n")
    except OSError as e:
        raise UsageError(f"cannot append to GITHUB_STEP_SUMMARY {target!r}: {e.strerror or e}") from e
    return True


def write_markdown(report: ValidationReport, path: str | os.PathLike) -> None:
    """Write the Markdown to path (atomically), and also append it to $GITHUB_STEP_SUMMARY if set."""
    text = markdown(report)
    write_report(path, text)
    append_step_summary(report, text)
