"""`modelport locate SOURCE ARTIFACT`: the first tensor where a converted model diverges from its source."""

from __future__ import annotations

import os

import click

from modelport.cli.render import console
from modelport.errors import ParityError, UsageError


def _check_report_path(path: str | None, option: str, suffix: str = ".json") -> None:
    """Refuse a report path before the work: a folder, or a folder that does not exist."""
    if not path:
        return
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a folder, expected a {suffix} file")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{option} {path}: its folder {parent} does not exist")


@click.command("locate")
@click.argument("source")
@click.argument("artifact")
@click.option("--mode", type=click.Choice(["accumulated", "local"]), default="accumulated", show_default=True,
              help="accumulated: the same input through both models, each tensor compared; local: also each "
                   "artifact layer run alone on the source's values, so its own error is told from what it inherits.")
@click.option("--inputs", "inputs_path", type=click.Path(),
              help="Real inputs: FILE.npz (one array per input) or a folder of NAME.npy, in the source's terms.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated input (as validate's first sample).")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME:D1,D2,...",
              help="Shape for an input with dynamic dims (source's terms). Repeatable.")
@click.option("--input-dtype", "input_dtypes", multiple=True, metavar="NAME:DTYPE", help="Input dtype. Repeatable.")
@click.option("--value-range", "value_ranges", multiple=True, metavar="NAME:LO,HI",
              help="Range of generated values (integers for int inputs). Repeatable.")
@click.option("--atol", multiple=True, metavar="[NAME:]ATOL",
              help="Absolute tolerance (per tensor scaled by its magnitude, at least 1), global or per source tensor.")
@click.option("--rtol", multiple=True, metavar="[NAME:]RTOL", help="Relative tolerance, global or per source tensor.")
@click.option("--preset", type=click.Choice(["fp32", "fp16", "int8"]), help="Force a tolerance preset (default: by the artifact's precision).")
@click.option("--weights", type=click.Path(), help="state_dict for a file.py:callable SOURCE.")
@click.option("--top", type=int, default=10, show_default=True, help="Rows of the table: the first divergence, then the worst.")
@click.option("--json", "json_path", type=click.Path(), help="Write every compared tensor (names, ops, layout, metrics, status) as JSON.")
@click.option("--model-explorer", "explorer_path", type=click.Path(),
              help="Write a Model Explorer node-data overlay (JSON) that colours the artifact's graph by error "
                   "(after a bisection: the source's ONNX graph, each probed node).")
@click.option("--repro", "repro_path", type=click.Path(),
              help="Write the first divergence's smallest failing sub-graph into this new folder, in the ONNX "
                   "backend-test layout (model.onnx, test_data_set_0/input_*.pb, output_*.pb).")
@click.option("--bisect", is_flag=True,
              help="Instead of pairing tensors, re-convert prefixes of the ONNX SOURCE (up to node k) along "
                   "ARTIFACT's recorded route, strategies and options, and bisect for the first node whose prefix "
                   "fails parity: about log2(N)+1 conversions of N nodes (also the fallback when nothing pairs).")
def command(source, artifact, mode, inputs_path, seed, input_shapes, input_dtypes, value_ranges, atol, rtol, preset,
            weights, top, json_path, explorer_path, repro_path, bisect):
    """Find the first tensor where ARTIFACT diverges from SOURCE, the model it was converted from.

    Both run on one input (validate's first sample; the conversion's shapes from ARTIFACT's
    manifest). Their tensors are paired along the route in that manifest (PyTorch FX node names kept
    by the dynamo exporter, onnx2tf's tensor correspondence report, tf2onnx's TensorFlow names),
    by name for an ONNX artifact without one, or by structure (weights' shapes, op order) where a
    step keeps no names; each pair is judged as validate judges an output, in the source's
    topological order. The first divergence is the earliest failing tensor that no failing tensor
    upstream explains and whose layer, run alone on the source's values, fails too. Artifacts: ONNX,
    TFLite, SavedModel; sources: ONNX, SavedModel, TFLite, PyTorch (file.py:callable, .pt2, Hugging
    Face folders). With --bisect (or when no tensor pairs), an ONNX SOURCE is cut at a node and
    the prefix re-converted along the route in ARTIFACT's manifest, bisecting for the first node
    whose conversion breaks parity (Polygraphy's `debug reduce`): log2(N)+1 conversions, each as
    long as a `convert` of the prefix. Exit 0 no divergence, 1 a divergence found, 2 bad input.

    \b
    Examples:
      modelport locate fixtures/models.py:cnn cnn.onnx --input-shape image:1,3,32,32
      modelport locate model.onnx model.tflite --mode local --json locate.json
      modelport locate model.onnx model.tflite --model-explorer overlay.json --repro repro/
      modelport locate model.onnx model_int8.tflite --bisect --repro repro/
    """
    from modelport.api import LocateOptions, locate
    from modelport.validators.locate import reports

    _check_report_path(json_path, "--json")
    _check_report_path(explorer_path, "--model-explorer")
    opts = LocateOptions(mode=mode, seed=seed, inputs=inputs_path, input_shapes=input_shapes, input_dtypes=input_dtypes,
                         value_ranges=value_ranges, atol=atol, rtol=rtol, preset=preset, weights=weights, top=top,
                         repro=repro_path, bisect=bisect).check()
    report = locate(source, artifact, opts)
    reports.render_terminal(report, console(), top)
    if json_path:
        reports.write_json(report, json_path)
    if explorer_path:
        reports.write_model_explorer(report, explorer_path)
    if report.diverged and report.bisection:
        node = report.bisection.get("node") or {}
        op = f" ({node.get('op')})" if node.get("op") else ""
        raise ParityError(f"{artifact} diverges from {source} first at node {node.get('name')}{op}, found by bisection")
    if report.diverged:
        raise ParityError(f"{artifact} diverges from {source} first at {report.first} "
                          f"(artifact tensor {report.tensor(report.first).candidate})")
