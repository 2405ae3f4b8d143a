"""A locate report for people (the terminal) and for tools (JSON, a Model Explorer overlay).

The table shows the first divergence first, then the other tensors worst first, `top` rows in
all; the JSON has every compared pair in the source's topological order.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from modelport.report_text import clean, finite_or_none, write_report
from modelport.validators.locate.results import DIVERGES, INHERITS, NOT_COMPARED, LocateReport, TensorResult
from modelport.validators.reports import fmt_cosine
from modelport.validators.tolerances import fmt_num

STATUS_STYLE = {DIVERGES: "bold red", INHERITS: "yellow", NOT_COMPARED: "dim"}


def top_rows(report: LocateReport, top: int) -> list[TensorResult]:
    """The first divergence, the other divergences, then the rest worst first; `top` at most."""
    def key(t: TensorResult):
        sev = t.local.get("severity") if report.mode == "local" and t.local and t.local.get("severity") is not None \
            else t.severity
        return (t.source != report.first, t.source not in report.divergences,
                -(sev if sev is not None and not math.isnan(sev) else -1.0), t.position)

    return sorted(report.tensors, key=key)[:top]


def op_text(t: TensorResult) -> str:
    where = f" in {t.module}" if t.module else ""
    node = f" {t.candidate_node}" if t.candidate_node else ""
    return f"{t.source_op}{where} -> {t.candidate_op}{node}"


def headline(report: LocateReport) -> str:
    if report.bisection is not None:
        return _bisection_headline(report)
    if report.first is None:
        drifting = sum(t.passed is False for t in report.tensors)
        said = ("no divergence: every compared tensor matches the source" if not drifting else
                f"no divergence: the {drifting} tensor(s) past tolerance are rounding carried from upstream (their "
                "layers compute them right)")
        return said + ("" if report.outputs_passed else " (but the outputs do not: see the notes)")
    t = report.tensor(report.first)
    what = t.reason
    layer = (t.local or {}).get("layer") or []
    ops = f"{', '.join(layer[:4])}{', ...' if len(layer) > 4 else ''}"
    if report.mode == "local" and t.local:
        what = f"its layer alone ({ops}) on the source's values: {t.local.get('reason')}"
    elif t.local and t.local.get("passed") is False:
        what += f"; its layer alone ({ops}) fails too"
    return (f"first divergence: {t.source} (source {op_text(t)}), artifact tensor {t.candidate}: {what}"
            + (f"; {len(report.divergences) - 1} more independent divergence(s)" if len(report.divergences) > 1 else ""))


def _bisection_headline(report: LocateReport) -> str:
    b = report.bisection
    if report.first is None:
        return f"no divergence found by bisection: {b['result']}"
    if (b.get("node") or {}).get("index") == -1:  # the route's first step, re-run, already fails
        return f"first divergence (found by bisection): {b['result']}"
    t = report.tensor(report.first)
    return (f"first divergence (found by bisection): {b['result']}; its prefix's output {t.source}, converted: "
            f"{t.reason}")


def render_bisection(report: LocateReport, console: Any) -> None:
    """--bisect: each probe (a prefix of the source converted along the route and validated)."""
    from rich.markup import escape
    from rich.table import Table

    b = report.bisection
    console.print(f"bisection: {b['nodes']} node(s) to cut at, {len(b['probes'])} conversion(s) of at most "
                  f"{b['max_probes']}" + (f", strategies {', '.join(b['strategies'])}" if b["strategies"] else ""))
    if b["probes"]:
        table = Table(show_lines=False)
        for col in ("k", "prefix to node", "op", "max abs", "cosine", "verdict", "seconds"):
            table.add_column(col, overflow="fold", justify="right" if col in ("k", "max abs", "cosine", "seconds")
                             else "left")
        rows = {t.candidate_node: t for t in report.tensors}
        for p in b["probes"]:
            t = rows.get(p["node"])
            verdict = "pass" if p["verdict"] == "pass" else f"[red]fail[/]: {escape(clean(p['reason']))[:70]}"
            if t is not None and t.source == report.first:
                verdict = "[bold red]FIRST DIVERGENCE[/]: " + escape(clean(p["reason"]))[:60]
            table.add_row(str(p["k"]), escape(p["node"]), p["op"], fmt_num(p.get("max_abs")),
                          fmt_cosine(p.get("cosine")), verdict, f"{p['seconds']:.1f}")
        console.print(table)


def render_terminal(report: LocateReport, console: Any, top: int = 10) -> None:
    from rich.markup import escape
    from rich.table import Table

    if report.bisection is not None:
        console.print(f"locate: {escape(report.source)} ({report.source_format}) -> {escape(report.artifact)} "
                      f"({report.artifact_format}), route {escape(report.route)}, bisection, seed {report.seed}, "
                      f"{report.precision}; outputs {'pass' if report.outputs_passed else 'fail'} on this input")
        render_bisection(report, console)
        for note in report.notes:
            console.print(f"note: {escape(note)}")
        if report.repro:
            console.print(f"repro: {escape(report.repro)}")
        style = "green" if report.first is None else "bold red"
        console.print(f"[{style}]{escape(headline(report))}[/]")
        return

    compared = sum(1 for t in report.tensors if t.passed is not None)
    console.print(f"locate: {escape(report.source)} ({report.source_format}) -> {escape(report.artifact)} "
                  f"({report.artifact_format}), route {escape(report.route)}, {report.mode} mode, seed {report.seed}, "
                  f"{report.precision}")
    console.print(f"tensors: {compared} compared of the source's {report.source_graph_size} "
                  f"({report.unmatched} without a counterpart, {len(report.fused)} fused by the converter); "
                  f"outputs {'pass' if report.outputs_passed else 'fail'} on this input")
    table = Table(show_lines=False)
    columns = ["#", "source tensor", "artifact tensor", "op (source -> artifact)", "layout", "max abs", "cosine", "status"]
    if report.mode == "local":
        columns.insert(-1, "layer alone")
    for col in columns:
        table.add_column(col, overflow="fold", justify="right" if col in ("#", "max abs", "cosine") else "left")
    for t in top_rows(report, top):
        style = STATUS_STYLE.get(t.status)
        status = f"[{style}]{t.status}[/]" if style else t.status
        if t.source == report.first:
            status = "[bold red]FIRST DIVERGENCE[/]"
        row = [str(t.position), escape(t.source), escape(t.candidate), escape(op_text(t)), escape(t.layout),
               fmt_num(t.max_abs), fmt_cosine(t.cosine), status]
        if report.mode == "local":
            local = t.local or {}
            row.insert(-1, "-" if not local else ("pass" if local.get("passed") else
                                                  escape(clean(local.get("reason", "fails")))[:60]))
        table.add_row(*row)
    console.print(table)
    for f in report.fused[:5]:
        console.print(f"fused: {escape(f['source'])} has no tensor of its own in the artifact: the converter merged "
                      f"its op into the one that writes {escape(f['into'])} (artifact tensor {escape(f['candidate'])})")
    if len(report.fused) > 5:
        console.print(f"fused: {len(report.fused) - 5} more (see --json)")
    for note in report.notes:
        console.print(f"note: {escape(note)}")
    if report.repro:
        console.print(f"repro: {escape(report.repro)}")
    elif report.repro == "":
        console.print("repro: none written (it needs an ONNX source or an ONNX artifact)")
    style = "green" if report.first is None else "bold red"
    console.print(f"[{style}]{escape(headline(report))}[/]")


def write_json(report: LocateReport, path: str | os.PathLike) -> None:
    write_report(path, json.dumps(finite_or_none(report.to_dict()), indent=2, allow_nan=False) + "\n")


def write_model_explorer(report: LocateReport, path: str | os.PathLike) -> None:
    from modelport.validators.locate.overlay import node_data

    write_report(path, json.dumps(node_data(report), indent=2) + "\n")
