"""`modelport validate REFERENCE CANDIDATE...`: parity of every candidate against the reference."""

from __future__ import annotations

import click

from modelport.cli.render import console
from modelport.errors import ParityError
from modelport.hf_folders import TASKS


@click.command("validate")
@click.argument("reference", required=False)
@click.argument("candidates", nargs=-1)
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True,
              help="cuda: fail (exit 4) if a runtime cannot use it; auto: fall back to cpu and say so.")
@click.option("--reference-device", type=click.Choice(["cpu", "cuda", "auto"]),
              help="Device for the reference only (default: --device), e.g. a CPU reference for CUDA candidates.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated inputs (recorded).")
@click.option("--samples", type=int, default=1, show_default=True, help="Number of generated input samples.")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME:D1,D2,...",
              help="Shape for an input with dynamic dims (reference's terms). Repeatable.")
@click.option("--shapes", "shapes", multiple=True, metavar="NAME:SIZE,SIZE...",
              help="Sizes a candidate's dynamic dim is proven at (default: its base size and another, e.g. batch 1 "
                   "and 3, sequence 16 and 37). NAME as the report's sizes line shows it. Repeatable.")
@click.option("--input-dtype", "input_dtypes", multiple=True, metavar="NAME:DTYPE", help="Input dtype. Repeatable.")
@click.option("--value-range", "value_ranges", multiple=True, metavar="NAME:LO,HI",
              help="Range of generated values (integers for int inputs, e.g. input_ids:0,30000). Repeatable.")
@click.option("--inputs", "inputs_path", type=click.Path(), help="Real inputs: FILE.npz (one array per input) or a folder of NAME.npy.")
@click.option("--atol", multiple=True, metavar="[OUTPUT:]ATOL", help="Absolute tolerance, global or per output. Repeatable.")
@click.option("--rtol", multiple=True, metavar="[OUTPUT:]RTOL", help="Relative tolerance, global or per output. Repeatable.")
@click.option("--preset", type=click.Choice(["fp32", "fp16", "int8"]), help="Force a tolerance preset (default: by each candidate's precision).")
@click.option("--threads", type=int, help="Threads for the TFLite interpreter.")
@click.option("--tfjs-backend", "tfjs_backend", metavar="LIST",
              help="TF.js candidates: run them in Node on these backends, e.g. wasm or cpu,wasm; every one must "
                   "match  [default: cpu,wasm]")
@click.option("--weights", type=click.Path(), help="state_dict for a file.py:callable REFERENCE.")
@click.option("--task", type=click.Choice(TASKS), help="A Hugging Face folder REFERENCE: build it for this task (as convert --task did; default: its config.json's).")
@click.option("--json", "json_path", type=click.Path(), help="Write the full report (seed, versions, tolerances, metrics) as JSON.")
@click.option("--junit", "junit_path", type=click.Path(), help="Write JUnit XML: one test case per candidate x output.")
@click.option("--markdown", "markdown_path", type=click.Path(), help="Write a Markdown table (also appended to $GITHUB_STEP_SUMMARY).")
@click.option("--html", "html_path", type=click.Path(),
              help="Write one self-contained HTML page: parity per candidate (worst output first), evidence, notes, "
                   "each converted candidate's route and manifest, versions.")
@click.option("--save-outputs", type=click.Path(), help="Save the inputs and the reference's outputs (.npz) as golden data.")
@click.option("--load-outputs", type=click.Path(), help="Compare with golden data from --save-outputs instead of running a reference.")
def command(reference, candidates, device, reference_device, seed, samples, input_shapes, shapes, input_dtypes, value_ranges, inputs_path,
            atol, rtol, preset, threads, tfjs_backend, weights, task, json_path, junit_path, markdown_path, html_path, save_outputs, load_outputs):
    """Run the same inputs through REFERENCE and each CANDIDATE and compare every output.

    Each candidate is compared with the reference (star, not chain). Inputs are mapped through
    each candidate's manifest (names, NCHW<->NHWC) or matched by name, then by shape. Pass rule:
    |got - ref| <= atol + rtol * |ref| elementwise (fp32/fp16 presets); quantized candidates are
    judged by cosine similarity and top-1 agreement. Every dim a candidate declares dynamic is also
    run at a second size (--shapes): failing or differing there fails it. Exit 0 all pass, 1 a
    parity failure.

    \b
    Examples:
      modelport validate cnn.onnx cnn.tflite cnn_savedmodel
      modelport validate fixtures/models.py:cnn cnn.onnx --input-shape image:1,3,32,32 --junit parity.xml
      modelport validate --load-outputs golden.npz cnn.tflite
      modelport validate cnn.onnx cnn.tflite --shapes batch:1,4,8
      modelport validate cnn.onnx cnn.tflite cnn_savedmodel --html parity.html
      modelport validate cnn.onnx cnn_tfjs --tfjs-backend wasm
    """
    from modelport.api import ValidateOptions, validate
    from modelport.validators.validate_options import parse_tfjs_backends
    from modelport.html_report import check_path
    from modelport.validators import reports

    check_path(html_path)

    if load_outputs and reference is not None:
        candidates = (reference,) + tuple(candidates)  # with golden outputs every model is a candidate
        reference = None
    opts = ValidateOptions(device=device, reference_device=reference_device, seed=seed, samples=samples, input_shapes=input_shapes,
                           shapes=shapes,                           input_dtypes=input_dtypes, value_ranges=value_ranges, inputs=inputs_path, atol=atol,
                           rtol=rtol, preset=preset, threads=threads, weights=weights, task=task, save_outputs=save_outputs,
                           load_outputs=load_outputs, tfjs_backends=parse_tfjs_backends(tfjs_backend))
    if not candidates and not load_outputs:
        from modelport.errors import UsageError

        raise UsageError("nothing to validate: give REFERENCE and at least one CANDIDATE")
    report = validate(reference, list(candidates), opts)
    reports.render_terminal(report, console())
    if json_path:
        reports.write_json(report, json_path)
    if junit_path:
        reports.write_junit(report, junit_path)
    if markdown_path:
        reports.write_markdown(report, markdown_path)
    if html_path:
        from modelport.html_report import validate_page, write

        write(validate_page(report), html_path)
    if not report.passed:
        from modelport.validators.locate.options import locate_hint

        failed = [c for c in report.candidates if not c.passed]
        hint = next((h for c in failed if reference and not c.error
                     for h in [locate_hint(reference, c.path, c.format)] if h), "")
        raise ParityError(f"parity failed for {len(failed)} of {len(report.candidates)} candidate(s): "
                          f"{', '.join(c.path for c in failed)}{hint}")
