"""Show a bench run as it goes and when it is done (`bench` and `convert --bench`): rendering only."""

from __future__ import annotations

import sys
from typing import Callable

import click

from modelport.cli.render import console


def bench_and_render(run: Callable[[Callable[[str], None] | None], object], *, quiet: bool = False,
                     verbose: bool = False):
    """Call `run(progress)` (a library bench call) with a live status line on a terminal, then print
    the table (unless quiet: JSON goes to stdout instead) and, with --verbose, failed workers' logs."""
    from rich.console import Console

    from modelport.validators.bench import reports as bench_reports

    if sys.stderr.isatty():
        with Console(stderr=True, highlight=False).status("benchmarking") as status:
            report = run(lambda text: status.update(f"benchmarking {text}"))
    else:
        report = run(None)
    if not quiet:
        bench_reports.render_terminal(report, console())
    if verbose:
        for r in report.errors:
            if r.log_tail:
                click.echo(f"--- {r.label} (batch {r.batch_size}) log ---\n{r.log_tail}\n--- end ---", err=True)
    return report
