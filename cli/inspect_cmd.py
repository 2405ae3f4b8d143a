"""`modelport inspect MODEL`: format (by content), inputs/outputs, opset, op counts, size."""

from __future__ import annotations

import click

from modelport.cli.render import console, emit_json
from modelport.manifest import human_size


@click.command("inspect")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
def command(model, as_json):
    """Show what MODEL is: format, inputs and outputs, opset, operators, size on disk.

    \b
    Example:
      modelport inspect fixtures/onnx/cnn.onnx
    """
    from modelport.api import inspect_model

    info = inspect_model(model)
    if as_json:
        emit_json(info)
        return
    from rich.markup import escape
    from rich.table import Table

    con = console()
    kind = info["format"] + (f" ({info['flavor']})" if info.get("flavor") else "")
    con.print(f"[bold]{escape(model)}[/]: {kind}, {human_size(info.get('size_bytes'))}")
    if info.get("note"):
        con.print(f"  [yellow]note:[/] {escape(info['note'])}")
    if info.get("opset"):
        con.print("  opset: " + ", ".join(f"{k} {v}" for k, v in info["opset"].items())
                  + (f"; producer: {info['producer']}" if info.get("producer") else ""))
    if info.get("parameters"):
        con.print(f"  parameters: {info['parameters']:,}")
    table = Table(box=None, padding=(0, 2), show_edge=False)
    for col in ("", "name", "shape", "dtype"):
        table.add_column(col)
    for kind_name, key in (("input", "inputs"), ("output", "outputs")):
        for t in info[key]:
            shape = "?" if t["shape"] is None else "[" + ", ".join(str(d) for d in t["shape"]) + "]"
            table.add_row(kind_name, escape(t["name"]), escape(shape), t["dtype"])
    con.print(table)
    dynamic = info.get("dynamic_dims") or {}
    if dynamic.get("inputs"):
        con.print("  dynamic dims: " + escape(", ".join(f"{d['tensor']}[{d['axis']}] ({d['name']})" for d in dynamic["inputs"])))
    for line in dynamic.get("proven") or []:
        con.print(f"  at conversion: {escape(line)}")
    if info.get("op_counts"):
        ops = info["op_counts"]
        con.print(f"  operators ({sum(ops.values())}): " + escape(", ".join(f"{k} x{v}" for k, v in ops.items())))
    if info.get("custom_ops"):
        con.print(f"  [red]custom ops (need a custom runtime):[/] {', '.join(info['custom_ops'])}")
    if info.get("manifest"):
        m = info["manifest"]
        con.print(escape(f"  made by modelport {m.get('modelport_version')} from {m['source']['path']} via {m.get('route')}"))
