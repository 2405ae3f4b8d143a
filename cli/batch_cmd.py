"""`modelport batch MANIFEST`: convert, validate (and bench) many models, each job isolated."""

from __future__ import annotations

import signal
import sys

import click

from modelport.cli.render import console


class Progress:
    """Live job states in a terminal (rich); one line per finished job otherwise (CI logs)."""

    def __init__(self, live: bool):
        self.states: dict[str, str] = {}
        self.total = 0
        self.finished = 0
        self.live = None
        if live:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(self._table(), console=Console(stderr=True), refresh_per_second=4, transient=True)

    def _table(self):
        from rich.table import Table

        from modelport.batch.reports import MARK, STYLE

        table = Table(title=f"modelport batch: {self.finished}/{self.total} done", title_justify="left")
        table.add_column("job")
        table.add_column("state")
        for name, state in self.states.items():
            style = STYLE.get(state.split(":")[0], "white")
            table.add_row(name, f"[{style}]{MARK.get(state.split(':')[0], '…')} {state}[/]")
        return table

    def __call__(self, kind: str, name: str, result) -> None:
        if kind == "planned":
            self.total += 1
            self.states[name] = "queued"
        elif kind == "started":
            self.states[name] = "running"
        else:
            self.finished += 1
            self.states[name] = result.status
            if self.live is None:
                why = f": {result.message}" if result.message else ""
                took = f" ({result.seconds:.1f} s)" if result.seconds is not None else ""
                click.echo(f"[{self.finished}/{self.total}] {name}: {result.status}{took}{why}", err=True)
        if self.live is not None:
            self.live.update(self._table())


def _terminate_as_interrupt(signum, frame):
    raise KeyboardInterrupt


@click.command("batch")
@click.argument("manifest", type=click.Path())
@click.option("-j", "--jobs", type=int, default=1, show_default=True, help="Jobs to run at once.")
@click.option("--only", multiple=True, metavar="NAME", help="Run only this model (repeatable).")
@click.option("--report-dir", type=click.Path(), help="Where batch.json, batch.xml, batch.md, batch.html, logs/ and bench/ go  "
              "[default: modelport-report beside the manifest]")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Skip jobs unchanged since a valid run (source, options, tool versions, artifact hashes).")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed job; jobs not started are 'not run'.")
@click.option("--timeout", type=float, metavar="S", help="Seconds per job (a model's own `timeout:` wins).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: processes on this machine; ray: one Ray task per job.")
@click.option("--ray-address", metavar="ADDR", help="Ray cluster to use (e.g. auto, ray://head:10001); default: a local Ray.")
@click.option("--untrusted", is_flag=True,
              help="The models come from elsewhere: require the sandbox (exit 4 where bubblewrap cannot confine "
                   "a process), as `modelport --require-sandbox batch` does.")
@click.option("--html", "html_path", type=click.Path(),
              help="Also write the report folder's batch.html (every job, its routes, parity and bench plots) here.")
def command(manifest, jobs, only, report_dir, resume, fail_fast, timeout, executor, ray_address, untrusted, html_path):
    """Convert, validate and optionally benchmark every model of MANIFEST (YAML or TOML).

    Each job (one model: all its targets, then its bench) runs in its own process group with a
    timeout; a crash, hang or out-of-memory kill is that job's failure and the others go on.
    Exit 0 all valid or skipped, 1 a parity failure, 3 a conversion failure (the worst wins),
    2 a bad manifest. See docs/batch.md.

    \b
    Examples:
      modelport batch docs/batch-example.yaml -j 2
      modelport batch models.yaml --only cnn --no-resume --report-dir reports
      modelport batch models.yaml --executor ray --ray-address auto
      modelport batch vendor-models.yaml --untrusted
      modelport batch models.yaml --html pr-report.html
    """
    from modelport.api import BatchOptions, run_batch
    from modelport.batch.reports import render_terminal, write_all
    from modelport.errors import ConversionError, ParityError
    from modelport.html_report import check_path

    check_path(html_path)

    if untrusted:
        _require_sandbox(executor)
    opts = BatchOptions(jobs=jobs, only=only, report_dir=report_dir, resume=resume, fail_fast=fail_fast,
                        timeout=timeout, executor=executor, ray_address=ray_address)
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)  # a CI runner cancelling the job: clean up as for Ctrl-C
    progress = Progress(live=sys.stderr.isatty())
    if progress.live is not None:
        with progress.live:
            report, folder = run_batch(manifest, opts, progress)
    else:
        report, folder = run_batch(manifest, opts, progress)
    con = console()
    render_terminal(report, con)
    paths = write_all(report, folder)
    if html_path:
        from modelport.batch.html_page import batch_page
        from modelport.html_report import write

        write(batch_page(report), html_path)
    con.print(f"reports: {paths['json']}, {paths['junit']}, {paths['markdown']}, {paths['html']}"
              + (f", {html_path}" if html_path else ""))
    if report.interrupted:
        raise KeyboardInterrupt
    code = report.exit_code
    if code:
        failed = [j for j in report.jobs if j.exit_code == code]
        error = ParityError if code == ParityError.exit_code else ConversionError
        kind = "parity failed" if error is ParityError else "conversion failed"
        raise error(f"{len(failed)} of {len(report.jobs)} job(s) {kind}: {', '.join(j.name for j in failed)} "
                    f"(see {paths['markdown']})")


def _require_sandbox(executor: str) -> None:
    """--untrusted: every job's workers must be confined; refuse at once (exit 4) when they cannot be."""
    import os

    from modelport.errors import UsageError
    from modelport.workers import sandbox

    if os.environ.get(sandbox.ENV_MODE) == "off":
        raise UsageError("--untrusted and --no-sandbox contradict each other")
    if executor == "ray":
        raise UsageError("--untrusted runs jobs on this machine only (--executor local): the sandbox of Ray "
                         "workers elsewhere is not checked")
    os.environ[sandbox.ENV_MODE] = "require"  # inherited by every job process and its workers
    sandbox.active()  # UnavailableError (exit 4) now, not in every job
