"""`convert`'s live lines on a terminal: one per step, with its elapsed time as it runs.

Rendering only: the pipeline emits StepEvents (modelport/pipeline/progress.py). The lines are
transient, cleared when the conversion ends, because the report printed after them names every
step with its time and outcome; off a terminal (a CI log, a pipe) nothing is drawn, so logs
hold the report alone.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from modelport.pipeline.progress import ProgressHook, StepEvent

MARK = {"converted": "[green]✓[/]", "converted, passed": "[green]✓[/]", "passed": "[green]✓[/]", "skipped": "[dim]–[/]"}


class StepLines:
    """A rich Progress with one task per step: a spinner and the clock while it runs, then its
    outcome and final time (the clock stops when the step ends)."""

    def __init__(self, console):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(SpinnerColumn(finished_text=" "), TextColumn("{task.description}"),
                                 TimeElapsedColumn(), console=console, transient=True)
        self.tasks: dict[str, int] = {}

    def __call__(self, event: StepEvent) -> None:
        from rich.markup import escape

        if event.kind == "started":
            self.tasks[event.key] = self.progress.add_task(escape(event.label), total=1)
            return
        task = self.tasks.get(event.key)
        if task is None:
            return
        mark = MARK.get(event.outcome, "[red]✗[/]")
        self.progress.update(task, completed=1, description=f"{mark} {escape(event.label)}: {escape(event.outcome)}")
        self.progress.stop_task(task)


@contextmanager
def step_lines(enabled: bool) -> Iterator[ProgressHook | None]:
    """The hook to give convert(): live lines on stderr when it is a terminal and `enabled`, else None."""
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    from rich.console import Console

    lines = StepLines(Console(stderr=True, highlight=False))
    with lines.progress:
        yield lines
