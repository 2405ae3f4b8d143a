"""`modelport convert SRC --to FORMAT`: plan a route, run each edge isolated, place the artifact."""

from __future__ import annotations

import click

from modelport.cli.bench_render import bench_and_render
from modelport.cli.convert_progress import step_lines
from modelport.cli.render import console, emit_json, perm_text
from modelport.converters.options import INT8_ACTIVATIONS, PYTORCH_FORMATS, QUANTIZE_MODES
from modelport.manifest import human_size, size_on_disk
from modelport.hf_folders import TASKS


@click.command("convert")
@click.argument("source")
@click.option("--to", "to", required=True, metavar="FORMAT[,FORMAT...]",
              help="Target format: onnx, savedmodel, tflite, pytorch (an ExportedProgram .pt2 by default, see "
                   "--pytorch-format) or tfjs (a TensorFlow.js graph model folder); several, comma-separated (onnx,savedmodel,tflite), share their common steps "
                   "and one validation.")
@click.option("-o", "--output", help="Output path (default: beside the source, e.g. cnn.onnx -> cnn.tflite); with "
                                     "several --to formats, the folder they are written to under their default names.")
@click.option("--via", type=click.Choice(["onnx", "savedmodel", "tflite"]), help="Force the route through this format.")
@click.option("--route", metavar="FORMAT->FORMAT...",
              help="Take exactly this route, e.g. 'pytorch->tflite' (litert-torch) or pytorch,onnx,tflite "
                   "(see `modelport formats`); no other route is tried.")
@click.option("--opset", type=int, help="ONNX opset for ONNX outputs (default 18).")
@click.option("--quantize", type=click.Choice(QUANTIZE_MODES),
              help="Quantize a TFLite output (TFLiteConverter: fp16, dynamic-int8, int8), an ONNX one (ONNX Runtime: "
                   "the same three) or a TF.js one (weights: fp16, uint8, uint16); with several --to targets, the "
                   "TFLite one.")
@click.option("--calibration-data", type=click.Path(), help="Representative inputs (.npz, one array per input) for --quantize int8.")
@click.option("--quantize-exclude", "quantize_exclude", multiple=True, metavar="NODE",
              help="An ONNX node to keep in float when quantizing an ONNX output (the layer `modelport locate` "
                   "names, a classifier head). Repeatable.")
@click.option("--fp16-io", "fp16_io", is_flag=True,
              help="With --quantize fp16 to ONNX: float16 inputs and outputs too (by default they stay float32, "
                   "so callers feed what they fed the float model). Validation feeds the samples rounded to float16.")
@click.option("--int8-activations", "int8_activations", type=click.Choice(INT8_ACTIVATIONS),
              help="With --quantize int8 to ONNX: the activations' type. uint8 (default) is ONNX Runtime's fast "
                   "path on x86-64 (U8S8; measured 3.4x faster than int8 activations on a ResNet-50); int8 (S8S8) "
                   "for ARM CPUs and accelerators that want it.")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME:D1,D2,...",
              help="Input shape; a name marks a dynamic dim, NAME=N gives its example size (e.g. ids:batch=2,seq=16). Repeatable.")
@click.option("--input-dtype", "input_dtypes", multiple=True, metavar="NAME:DTYPE", help="Input dtype, e.g. ids:int64. Repeatable.")
@click.option("--weights", type=click.Path(), help="state_dict for a PyTorch file.py:callable source (loaded with weights_only=True).")
@click.option("--task", type=click.Choice(TASKS), help="A Hugging Face folder source: build it for this task (default: the one config.json's architectures name; a head the folder has no weights for is initialised seeded, and the notes say so).")
@click.option("--keep-intermediates", is_flag=True, help="Also keep the artifacts of intermediate steps beside the output.")
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
@click.option("--validate/--no-validate", default=True, show_default=True,
              help="Compare the final and every intermediate artifact with the source (exit 1 on a parity failure).")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True,
              help="Device for the validation runs.")
@click.option("--atol", multiple=True, metavar="[OUTPUT:]ATOL", help="Validation: absolute tolerance, global or per output.")
@click.option("--rtol", multiple=True, metavar="[OUTPUT:]RTOL", help="Validation: relative tolerance, global or per output.")
@click.option("--samples", type=int, default=1, show_default=True, help="Validation: number of generated input samples.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Validation: seed of the first generated sample (sample i uses seed + i).")
@click.option("--tfjs-backend", "tfjs_backend", metavar="LIST",
              help="Validation of a TF.js output: the Node backends it must pass on  [default: cpu,wasm]")
@click.option("--value-range", "value_ranges", multiple=True, metavar="NAME:LO,HI",
              help="Validation: draw this input uniformly from [LO, HI) (integers: HI exclusive), e.g. for an "
                   "op's domain (a divisor that must not be 0). Repeatable.")
@click.option("--inputs", "inputs_path", type=click.Path(),
              help="Validation: real inputs instead of generated ones, FILE.npz (one array per source input, by "
                   "name) or a folder of NAME.npy; --samples and --value-range then do not apply.")
@click.option("--pytorch-format", type=click.Choice(PYTORCH_FORMATS),
              help="With --to pytorch: exported_program (.pt2, torch.export.load), torchscript (.pt, torch.jit.load) "
                   "or package (a folder with a readable, trainable model.py and its weights).")
@click.option("--strategy", "strategies", multiple=True, metavar="EDGE=NAME",
              help="Use only this strategy for one edge, e.g. onnx-savedmodel=tf_converter (see `modelport formats "
                   "--strategies`). Repeatable.")
@click.option("--fallback/--no-fallback", default=True, show_default=True,
              help="When a strategy fails (conversion, loading, or parity), try the edge's next one; when the "
                   "planned route fails, try the alternative routes (`modelport formats`).")
@click.option("--bench", "run_bench", is_flag=True,
              help="Then benchmark the source and everything written (as `modelport bench`, default method).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--html", "html_path", type=click.Path(),
              help="Also write one self-contained HTML page: route, steps and strategies, parity (worst first), "
                   "bench plot, notes, manifest and versions; written for a failed conversion too.")
@click.pass_context
def command(ctx, source, to, output, via, route, opset, quantize, calibration_data, quantize_exclude, fp16_io,
            int8_activations, input_shapes, input_dtypes, weights, task,
            keep_intermediates, force, validate, device, atol, rtol, samples, seed, tfjs_backend, value_ranges, inputs_path,
            pytorch_format, strategies, fallback, run_bench, as_json, html_path):
    """Convert SOURCE to ONNX, SavedModel, TFLite, PyTorch or TF.js, directly or through a planned route.

    SOURCE is a .onnx, .tflite, SavedModel directory, .keras file, TorchScript .pt,
    ExportedProgram .pt2, a PyTorch package folder (model.py + weights.pt, as --pytorch-format
    package writes it), a Hugging Face model folder (save_pretrained: config.json and weights;
    its task from config.json's architectures, its inputs from the config: ids within the
    vocabulary, padded attention masks, dynamic batch and sequence; built offline), or code:
    path/to/file.py:callable or package.module:callable returning
    a PyTorch nn.Module or a Keras model (built seeded, so every run holds the same weights).
    Each artifact is loaded and run once in its own runtime before
    it is called converted, then compared with the source on the same inputs (the final artifact
    and every intermediate one; --no-validate skips). Each edge has an ordered list of strategies
    (exporters, onnx2tf backends, graph preparations): when one fails to convert, to run, or to
    match the source, the next is tried, and every attempt is reported; when the planned route
    fails, the alternative routes are tried (pytorch->tflite by litert-torch when the route
    through ONNX fails). Each artifact gets a provenance manifest
    (ARTIFACT.modelport.json) with the route, the I/O map and the parity results. An artifact
    that fails parity is still written, marked failed, and the exit code is 1.

    \b
    Examples:
      modelport convert fixtures/models.py:cnn --to tflite --input-shape image:batch,3,32,32
      modelport convert model.onnx --to savedmodel -o exported/
      modelport convert path/to/hf_model --to onnx,tflite
      modelport convert path/to/hf_model --to onnx --task feature-extraction
      modelport convert saved_model/ --to tflite --quantize int8 --calibration-data calib.npz
      modelport convert model.onnx --to onnx --quantize dynamic-int8
      modelport convert fixtures/models.py:cnn --to tfjs --input-shape image:batch,3,32,32 -o cnn_tfjs
      modelport convert cnn.onnx --to tflite --keep-intermediates --bench
      modelport convert models.py:net --to onnx --input-shape x:1,3,64,64 --inputs real_images.npz
      modelport convert cnn.onnx --to pytorch --pytorch-format package -o cnn_pytorch/
      modelport convert mobilenet.onnx --to savedmodel --strategy onnx-savedmodel=tf_converter
      modelport convert models.py:net --to tflite --route 'pytorch->tflite' --input-shape x:1,3,64,64
      modelport convert fixtures/models.py:cnn --to onnx,tflite --input-shape image:1,3,32,32 --bench --html report.html
    """
    from modelport.api import BenchOptions, ConvertOptions, ValidateOptions, bench_conversion, convert
    from modelport.errors import ConversionError, ParityError
    from modelport.html_report import check_path
    from modelport.validators.bench.verdict import raise_for

    check_path(html_path)

    verbose = ctx.obj.get("verbose", False)

    def show_log(edge: str, text: str) -> None:
        if verbose and text.strip():
            click.echo(f"--- {edge} log ---\n{text.rstrip()}\n--- end of {edge} log ---", err=True)

    from modelport.pipeline.multi import parse_targets

    targets = parse_targets(to)
    options = ConvertOptions(via=via, route=route, opset=opset, quantize=quantize, calibration_data=calibration_data,
                             quantize_exclude=quantize_exclude, fp16_io=fp16_io, int8_activations=int8_activations,
                             input_shapes=input_shapes, input_dtypes=input_dtypes, weights=weights, task=task,
                             pytorch_format=pytorch_format, keep_intermediates=keep_intermediates, force=force,
                             strategies=strategies, fallback=fallback)
    from modelport.validators.validate_options import parse_tfjs_backends

    validation = (ValidateOptions(device=device, atol=atol, rtol=rtol, samples=samples, seed=seed,
                                  value_ranges=value_ranges, inputs=inputs_path,
                                  tfjs_backends=parse_tfjs_backends(tfjs_backend)) if validate else None)
    if len(targets) > 1:
        return _convert_targets(source, targets, output, options, validation, run_bench, device, as_json,
                                show_log if verbose else None, verbose, html_path)
    try:
        with step_lines(enabled=not as_json) as progress:
            result = convert(source, targets[0], output, options, validation=validation, log=show_log if verbose else None,
                             progress=progress)
    except ParityError as e:
        if e.result is not None:
            _render(e.result, source, as_json)
            _write_html(html_path, source, [e.result.to_dict()], validation=e.result.validation)
        raise
    except ConversionError as e:
        if e.attempts:
            _render_attempts(e, as_json)
        _write_html(html_path, source, [], error=e.message, attempts=e.attempts)
        raise
    if not run_bench:
        _write_html(html_path, source, [result.to_dict()], validation=result.validation)
        return _render(result, source, as_json)
    if not as_json:
        _render(result, source, as_json)
    report = bench_and_render(lambda progress: bench_conversion(result, options, BenchOptions(device=device), progress),
                              quiet=as_json, verbose=verbose)
    _write_html(html_path, source, [result.to_dict()], validation=result.validation, bench=report)
    if as_json:
        emit_json({**result.to_dict(), "bench": report.to_dict()})
    raise_for(report)


def _write_html(path: str | None, source: str, results: list[dict], **parts) -> None:
    """--html: the page of this run (a failed one too), and a line saying where it is (stderr, so
    that --json's stdout stays one JSON document)."""
    if not path:
        return
    from modelport.html_report import convert_page, write

    write(convert_page(source, results, **parts), path)
    click.echo(f"html report: {path}", err=True)


def _convert_targets(source, targets, output, options, validation, run_bench, device, as_json, log, verbose, html_path):
    """`--to a,b,c`: every target in one run (modelport/pipeline/multi.py), one report per artifact,
    one parity table for all; the worst target's error ends the command."""
    from modelport.api import BenchOptions
    from modelport.pipeline.bench import bench_conversions
    from modelport.pipeline.multi import convert_targets
    from modelport.validators.bench.verdict import raise_for

    with step_lines(enabled=not as_json) as progress:
        multi = convert_targets(source, targets, output, options, validation=validation, log=log, progress=progress)
    report = None
    if run_bench and multi.results:
        if not as_json:
            _render_targets(multi, source)
        report = bench_and_render(lambda p: bench_conversions(multi.results, options, BenchOptions(device=device), p),
                                  quiet=as_json, verbose=verbose)
    _write_html(html_path, source, [r.to_dict() for r in multi.results], validation=multi.validation,
                errors={t: e.message for t, e in multi.errors.items()}, bench=report)
    if as_json:
        emit_json({**multi.to_dict(), **({"bench": report.to_dict()} if report is not None else {})})
    elif report is None:
        _render_targets(multi, source)
    worst = multi.worst_error()
    if worst is not None:
        failed = ", ".join(multi.errors)
        worst.message = f"{failed}: {worst.message}" if len(multi.errors) == 1 else (
            f"{len(multi.errors)} of {len(targets)} targets failed ({failed}); {worst.message}")
        raise worst
    if report is not None:
        raise_for(report)


def _render_targets(multi, source: str) -> None:
    from rich.markup import escape

    from modelport.errors import ParityError

    con = console()
    for result in multi.results:
        _render(result, source, False, with_validation=False)
    for target, error in multi.errors.items():
        if isinstance(error, ParityError):  # written, and its failing rows are in the table below
            continue
        con.print(escape(f"{target}: not written: {error.message}"))
        if getattr(error, "attempts", None):
            _render_attempts(error, False)
    if multi.validation is not None:
        from modelport.validators import reports
        from modelport.validators.results import ValidationReport

        reports.render_terminal(ValidationReport.from_dict(multi.validation), con)


def _render_attempts(error, as_json: bool) -> None:
    """Every strategy tried, when none converted: on stdout as JSON, else a table on stderr."""
    if as_json:
        emit_json({"error": error.message, "exit_code": error.exit_code, "attempts": error.attempts})
        return
    from rich.markup import escape

    con = console(stderr=True)
    con.print("strategies tried:")
    for a in error.attempts:
        after = f" after {', '.join(a['after'])}" if a.get("after") else ""
        con.print(escape(f"  {a['edge']:<18} {a['strategy']:<18} {a['outcome']:<14} {a['seconds']:6.1f} s  "
                         f"{a['reason'][:160]}{after}"))


def _render(result, source: str, as_json: bool, with_validation: bool = True) -> None:
    if as_json:
        emit_json(result.to_dict())
        return
    from rich.markup import escape

    con = console()
    con.print(f"[bold green]converted[/] {escape(source)} -> [bold]{escape(result.output)}[/] "
              f"({human_size(size_on_disk(result.output))}, {result.seconds:.1f} s)")
    con.print(f"  route: {result.route}")
    for r in result.routes_tried:
        if r["route"] != result.route:
            con.print(escape(f"  tried first: {r['route']}, {r['outcome']}: {r['reason'][:200]}"))
    for i, s in enumerate(result.steps, 1):
        smoke = s.smoke or {}
        outs = ", ".join(f"{k} {v}" for k, v in smoke.get("outputs", {}).items())
        ran = "smoke run inconclusive" if smoke.get("inconclusive") else f"ran in {smoke.get('runtime', '?')}: {outs}"
        con.print(escape(f"  step {i}: {s.edge:<18} {s.converter:<22} {s.seconds:6.1f} s   {ran}"))
        if len(s.attempts) > 1:  # the kept strategy is the step's last attempt
            con.print(escape(f"          strategy {s.strategy}, tried before it: " + "; ".join(
                f"{a['strategy']} {a['outcome']} ({a['reason'][:160]})" for a in s.attempts[:-1])))
        for note in s.notes:
            con.print(escape(f"          {note}"))
    con.print("  I/O map (source -> artifact):")
    for kind, maps in (("in ", result.io_map.inputs), ("out", result.io_map.outputs)):
        for m in maps:
            con.print(escape(f"    {kind} {m.source} -> {m.artifact}  ({perm_text(m.perm)})"))
    for p in result.intermediates:
        con.print(escape(f"  kept intermediate: {p}"))
    con.print(escape(f"  manifest: {result.manifest}"))
    if result.validation is not None and with_validation:
        from modelport.validators import reports
        from modelport.validators.results import ValidationReport

        reports.render_terminal(ValidationReport.from_dict(result.validation), con)
