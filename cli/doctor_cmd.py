"""`modelport doctor`: is everything modelport needs installed, pinned and able to see a GPU?"""

from __future__ import annotations

import click

from modelport.cli.render import console, emit_json
from modelport.errors import EXIT_UNAVAILABLE


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--no-gpu", is_flag=True, help="Skip the GPU checks.")
@click.pass_context
def command(ctx, as_json, no_gpu):
    """Check converters and runtimes: importable, version against the pinned stack, GPU visible.

    Exits 4 when a component is missing or fails to import.

    \b
    Example:
      modelport doctor
    """
    import platform
    import sys

    from rich.table import Table

    from modelport.doctor import run_checks

    checks = run_checks(gpu=not no_gpu)
    missing = [c for c in checks if not c.importable]
    if as_json:
        emit_json({"python": sys.version.split()[0], "platform": platform.platform(),
                   "components": [dict(vars(c), ok=c.ok) for c in checks]})
    else:
        con = console()
        con.print(f"python {sys.version.split()[0]} on {platform.platform()}")
        table = Table(box=None, padding=(0, 2))
        for col in ("", "component", "installed", "pinned", "GPU", "role"):
            table.add_column(col)
        for c in checks:
            mark = "[green]ok[/]" if c.ok else ("[yellow]!![/]" if c.importable else "[red]xx[/]")
            table.add_row(mark, c.name, c.installed or "-", c.pinned or "-", c.gpu, c.role)
        con.print(table)
        for c in checks:
            if c.advice:
                con.print(f"  {c.name}: {c.advice}")
        if sys.version_info[:2] != (3, 12):
            con.print("  python: modelport's pinned stack is built for Python 3.12 (onnx2tf 2.x needs it)")
    if missing:
        ctx.exit(EXIT_UNAVAILABLE)
