"""batch.html: the `batch` run as one page (see modelport.html_report): the job table, then each
job folded (a failed one unfolded) with its targets' routes and parity, read from the manifests
the jobs wrote, and its bench. It lives in the batch layer because it reads batch's results; the
page pieces come from the html_report layer below it."""

from __future__ import annotations

import os

from modelport.html_report import sections
from modelport.html_report.page import Page, bullet_list, esc, table
from modelport.manifest import load as load_manifest


def _batch_target(job, t) -> str:
    """A batch job's target: its status line, then its artifact's route and parity (from the
    manifest beside it, which the job wrote)."""
    from modelport.validators.results import ValidationReport

    line = f"<p><b>{esc(t.target)}</b>: {esc(t.status)}" + (f" — {esc(t.message)}" if t.message else "") + "</p>"
    record = load_manifest(t.output) if t.output else None
    if not record:
        return line
    body = sections.route(record)
    report = None if record.get("validation") is None else ValidationReport.from_dict(record["validation"])
    if report is not None:
        body += sections.parity(report)
    return line + body + sections.manifest(record, t.manifest)


def batch_page(report) -> Page:
    """A `batch` run: the job table, then each job folded: its targets' routes and parity, its bench."""
    from modelport.batch.results import CONVERTED, LEGEND, MARK, PARITY_FAILED, SKIPPED, VALID, summary
    from modelport.validators.bench import reports as bench_text

    page = Page(f"modelport batch {os.path.basename(report.manifest)}", verdict=report.exit_code == 0,
                verdict_text=summary(report), subtitle=report.manifest)
    rows = []
    for job in report.jobs:
        for i, t in enumerate(job.targets or [None]):
            status = t.status if t else job.status
            detail = (t.output if t and status in (VALID, CONVERTED, SKIPPED) and t.output else
                      (t.message if t and t.message else job.message))
            rows.append(([esc(job.name) if i == 0 else "", esc(t.target if t else "-"), esc(f"{MARK[status]} {status}"),
                          f"{job.seconds:.1f} s" if i == 0 and job.seconds is not None else "", esc(detail or "")],
                         status in (PARITY_FAILED, "conversion failed")))
    page.add("jobs", "jobs", table(["job", "target", "status", "time", "output / reason"], rows, numeric=["time"],
                                   wrap=["output / reason"])
             + bullet_list(f"<b>{esc(MARK[s])} {esc(s)}</b>: {esc(why)}" for s, why in LEGEND.items()))
    details = []
    for job in report.jobs:
        body = "".join(_batch_target(job, t) for t in job.targets)
        if job.message and not job.targets:
            body += f"<p>{esc(job.message)}</p>"
        bench = job.bench or {}
        if bench.get("error"):
            body += f'<p class="fail">bench could not run: {esc(bench["error"])}</p>'
        if bench.get("results"):
            body += "<h3>bench</h3>" + bullet_list(
                f"<code>{esc(r.get('label'))}</code> batch {esc(r.get('batch_size'))}: p50 "
                f"{esc(bench_text.fmt_ms(r['p50_ms']))} ms"
                for r in bench["results"] if r.get("p50_ms") is not None)
            body += sections.png_file(bench.get("plot"), f"{job.name} bench")
        if job.log:
            body += f"<p class=\"muted\">log: <code>{esc(job.log)}</code></p>"
        opened = " open" if job.exit_code else ""  # a failed job is shown unfolded
        details.append(f"<details{opened}><summary>{esc(MARK[job.status])} {esc(job.name)} ({esc(job.status)})</summary>"
                       f"<p class=\"muted\">source <code>{esc(job.source)}</code></p>{body}</details>")
    page.add("details", "each job", "".join(details))
    page.add("versions", "versions", sections.versions(report.versions))
    return page
