"""`modelport formats`: the conversion matrix, with the route of every pair."""

from __future__ import annotations

import click

from modelport.cli.render import console, emit_json


@click.command("formats")
@click.option("--json", "as_json", is_flag=True, help="Print the matrix as JSON.")
@click.option("--strategies", "show_strategies", is_flag=True,
              help="Also list each edge's strategies, in the order convert tries them (names for --strategy).")
def command(as_json, show_strategies):
    """Print every source/target pair and the route modelport takes for it.

    \b
    Examples:
      modelport formats
      modelport formats --strategies
    """
    from rich.table import Table

    from modelport.converters.planner import EDGES
    from modelport.converters.strategies import strategies_for
    from modelport.api import formats_matrix

    rows = formats_matrix()
    if as_json:
        emit_json({"pairs": rows, "edges": [{"edge": e.name, "library": e.library, "changes": e.changes,
                                               "quantizes": e.quantizes, "alternative": e.alternative,
                                               "layer": e.layer,
                                               "strategies": [vars(s) for s in strategies_for(e.name)]}
                                              for e in EDGES]})
        return
    con = console()
    table = Table(title="conversion routes", show_lines=False)
    for col in ("from", "to", "route", "libraries", "when it fails"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["source"], r["target"], r["route"] or f"[dim]none: {r.get('reason', '')}[/]",
                      ", ".join(r["libraries"]), ", ".join(r.get("alternatives", [])))
    con.print(table)
    edges = Table(title="direct edges")
    for col in ("edge", "library", "what it changes", "strategies, in order"):
        edges.add_column(col)
    for e in EDGES:
        edges.add_row(e.name, e.library, e.changes, ", ".join(s.name for s in strategies_for(e.name)))
    con.print(edges)
    if show_strategies:
        table = Table(title="strategies (convert tries them in order; --strategy EDGE=NAME forces one)")
        for col in ("edge", "strategy", "what it does"):
            table.add_column(col)
        for e in EDGES:
            for s in strategies_for(e.name):
                table.add_row(e.name, s.name, s.summary)
        con.print(table)
