"""Reports of a `modelport batch` run: terminal table with a legend, JSON, JUnit XML, Markdown, HTML.

One row (one JUnit test case) per job x target, so a CI system shows which target of which model
failed and why. Files are written atomically (validators/reports.py's helper); the Markdown also
goes to $GITHUB_STEP_SUMMARY when set.
"""

from __future__ import annotations

import json
import os
from typing import Any

from modelport.batch.results import (CONVERSION_FAILED, CONVERTED, LEGEND, MARK, NOT_RUN, PARITY_FAILED, SKIPPED,
                                     VALID, BatchReport, JobResult, TargetResult, summary)
from modelport.report_text import clean, md_cell, write_report, xml_text

STYLE = {VALID: "green", CONVERTED: "green", PARITY_FAILED: "bold red", CONVERSION_FAILED: "bold red", SKIPPED: "cyan", NOT_RUN: "yellow"}
FILES = {"json": "batch.json", "junit": "batch.xml", "markdown": "batch.md", "html": "batch.html"}


def _rows(report: BatchReport):
    for job in report.jobs:
        for i, t in enumerate(job.targets or [TargetResult("-", job.status, job.message)]):
            yield job, t, i == 0


def _message(job: JobResult, t: TargetResult) -> str:
    text = t.message or job.message
    return " ".join(clean(text).split())


def _seconds(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f} s"


def _bench_line(job: JobResult) -> str | None:
    b = job.bench or {}
    if b.get("error"):
        return f"{job.name}: bench could not run: {b['error']}"
    rows = [r for r in b.get("results", []) if r.get("p50_ms") is not None]
    if not rows:
        return None
    cells = ", ".join(f"{r['label']} bs{r['batch_size']} p50 {r['p50_ms']:.3g} ms" for r in rows)
    return f"{job.name} bench: {cells}"


def render_terminal(report: BatchReport, console: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_lines=False)
    for col in ("job", "target", "status", "time", "output / reason"):
        table.add_column(col, overflow="fold")
    for job, t, first in _rows(report):
        status = f"[{STYLE[t.status]}]{MARK[t.status]} {t.status}[/]"
        detail = t.output if t.status in (VALID, CONVERTED, SKIPPED) and t.output else _message(job, t)
        table.add_row(escape(job.name) if first else "", escape(t.target), status,
                      _seconds(job.seconds) if first else "", escape(detail or ""))
    console.print(table)
    for job in report.jobs:
        line = _bench_line(job)
        if line:
            console.print(escape(line))
    console.print("legend:")
    for status, why in LEGEND.items():
        console.print(f"  [{STYLE[status]}]{MARK[status]} {status}[/]: {escape(why)}")
    style = "green" if report.exit_code == 0 else "bold red"
    console.print(f"[{style}]{escape(summary(report))}[/]")


def write_json(report: BatchReport, path: str) -> None:
    write_report(path, json.dumps(report.to_dict(), indent=2, default=str) + "\n")


def junit_xml(report: BatchReport) -> str:
    """A test case per job x target: classname = job, name = target; parity failure -> <failure>,
    conversion failure -> <error>, skipped / not run -> <skipped>."""
    import xml.etree.ElementTree as ET

    suites = ET.Element("testsuites", name="modelport")
    suite = ET.SubElement(suites, "testsuite", name="modelport batch", time=f"{report.seconds:.3f}")
    props = ET.SubElement(suite, "properties")
    for k, v in [("manifest", report.manifest), *[(f"version.{k}", v) for k, v in sorted(report.versions.items())]]:
        ET.SubElement(props, "property", name=xml_text(k), value=xml_text(v))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for job, t, _ in _rows(report):
        tc = ET.SubElement(suite, "testcase", classname=xml_text(job.name), name=xml_text(t.target),
                           time=f"{t.seconds or 0:.3f}")
        counts["tests"] += 1
        message = xml_text(_message(job, t))
        if t.status == PARITY_FAILED:
            el = ET.SubElement(tc, "failure", message=message, type="parity")
            el.text = xml_text(json.dumps(t.validation, indent=2) if t.validation else message)
            counts["failures"] += 1
        elif t.status == CONVERSION_FAILED:
            ET.SubElement(tc, "error", message=message, type="conversion").text = xml_text(
                f"{message}\nlog: {job.log}" if job.log else message)
            counts["errors"] += 1
        elif t.status in (SKIPPED, NOT_RUN):
            ET.SubElement(tc, "skipped", message=xml_text(job.message or t.status))
            counts["skipped"] += 1
        if t.output:
            ET.SubElement(tc, "system-out").text = xml_text(f"artifact: {t.output}\nmanifest: {t.manifest}")
    for el in (suites, suite):
        for k, v in counts.items():
            el.set(k, str(v))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def markdown(report: BatchReport) -> str:
    mark = "✅" if report.exit_code == 0 else "❌"
    out = [f"### {mark} modelport batch: {md_cell(os.path.basename(report.manifest))}", "",
           "| job | target | status | time | output / reason |", "|---|---|---|---|---|"]
    for job, t, first in _rows(report):
        detail = t.output if t.status in (VALID, CONVERTED, SKIPPED) and t.output else _message(job, t)
        out.append(f"| {md_cell(job.name) if first else ''} | {md_cell(t.target)} | {MARK[t.status]} {t.status} | "
                   f"{_seconds(job.seconds) if first else ''} | {md_cell(detail or '')} |")
    bench = [line for line in (_bench_line(j) for j in report.jobs) if line]
    if bench:
        out += ["", "**Benchmarks**", ""] + [f"- {md_cell(b)}" for b in bench]
    out += ["", "Legend: " + "; ".join(f"{MARK[s]} **{s}**: {md_cell(why)}" for s, why in LEGEND.items()), "",
            f"{mark} {md_cell(summary(report))}", ""]
    return "\n".join(out)


def write_all(report: BatchReport, report_dir: str) -> dict[str, str]:
    """batch.json, batch.xml, batch.md and batch.html in report_dir (and the Markdown into the step summary)."""
    from modelport.batch.html_page import batch_page
    from modelport.html_report import write
    from modelport.validators.reports import append_step_summary

    paths = {k: os.path.join(report_dir, v) for k, v in FILES.items()}
    write_json(report, paths["json"])
    write_report(paths["junit"], junit_xml(report))
    text = markdown(report)
    write_report(paths["markdown"], text)
    append_step_summary(None, text)  # given the text it only appends
    write(batch_page(report), paths["html"])
    return paths
