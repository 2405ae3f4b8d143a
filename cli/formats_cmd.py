"""`modelport formats`: the conversion matrix, with the route of every pair."""

from __future__ import annotations

import click

from modelport.cli.render import console, emit_json


@click.command("formats")
@click.option("--json", "as_json", is_flag=True, help="Print the matrix as JSON.")
def command(as_json):
    """Print every source/target pair and the route modelport takes for it.

    \b
    Example:
      modelport formats
    """
    from rich.table import Table

    from modelport.converters.planner import EDGES
    from modelport.api import formats_matrix

    rows = formats_matrix()
    if as_json:
        emit_json({"pairs": rows, "edges": [{"edge": e.name, "library": e.library, "changes": e.changes,
                                               "quantizes": e.quantizes} for e in EDGES]})
        return
    con = console()
    table = Table(title="conversion routes", show_lines=False)
    for col in ("from", "to", "route", "libraries"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["source"], r["target"], r["route"] or f"[dim]none: {r.get('reason', '')}[/]",
                      ", ".join(r["libraries"]))
    con.print(table)
    edges = Table(title="direct edges")
    for col in ("edge", "library", "what it changes"):
        edges.add_column(col)
    for e in EDGES:
        edges.add_row(e.name, e.library, e.changes)
    con.print(edges)
