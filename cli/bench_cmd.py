"""`modelport bench MODEL...`: latency, throughput and memory of every artifact, side by side."""

from __future__ import annotations

import click

from modelport.cli.bench_render import bench_and_render
from modelport.errors import UsageError
from modelport.hf_folders import TASKS


def _batch_sizes(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        sizes = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise UsageError(f"--batch-sizes {text!r}: expected positive integers separated by commas, e.g. 1,8,32") from None
    if not sizes or any(b < 1 for b in sizes):
        raise UsageError(f"--batch-sizes {text!r}: expected positive integers separated by commas, e.g. 1,8,32")
    return tuple(dict.fromkeys(sizes))  # keep the order, drop repeats


@click.command("bench")
@click.argument("models", nargs=-1)
@click.option("--batch-sizes", metavar="1,8,32", help="Batch sizes (axis 0 of every input)  [default: 1]")
@click.option("--warmup", type=int, default=5, show_default=True, help="Warm-up: at least this many calls ...")
@click.option("--min-warmup-seconds", type=float, default=0.5, show_default=True, help="... and at least this long.")
@click.option("--runs", type=int, help="Measured calls: at least this many (default 50 when --duration is not given).")
@click.option("--duration", type=float, help="Measured time: at least this many seconds (default 1 when --runs is not given).")
@click.option("--max-duration", type=float, default=150.0, show_default=True,
              help="Stop measuring an artifact after this many seconds, whatever --runs says.")
@click.option("--threads", type=int, help="Intra-op threads, set alike in every runtime  [default: the usable cores]")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True,
              help="cuda: exit 4 for a runtime that cannot use it; auto: fall back to cpu and say so.")
@click.option("--tfjs-backend", "tfjs_backend", metavar="LIST",
              help="TF.js models: the Node backends to measure, a row each (cpu, wasm)  [default: cpu,wasm]")
@click.option("--order", type=click.Choice(["sequential", "random", "interleaved"]), default="sequential", show_default=True,
              help="random: shuffle the jobs (--seed); interleaved: measure all artifacts in alternating rounds.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated inputs and of --order random.")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME:D1,D2,...",
              help="Sizes of dynamic dims (source names, e.g. image:batch,3,224,224); axis 0 is the batch. Repeatable.")
@click.option("--input-dtype", "input_dtypes", multiple=True, metavar="NAME:DTYPE", help="Dtype of an input that declares none. Repeatable.")
@click.option("--value-range", "value_ranges", multiple=True, metavar="NAME:LO,HI", help="Range of generated values. Repeatable.")
@click.option("--inputs", "inputs_path", type=click.Path(), help="Real inputs: FILE.npz or a folder of NAME.npy (their batch is used).")
@click.option("--weights", type=click.Path(), help="state_dict for a file.py:callable MODEL.")
@click.option("--task", type=click.Choice(TASKS), help="A Hugging Face folder MODEL: build it for this task (default: its config.json's).")
@click.option("--json", "json_path", type=click.Path(), help="Write everything (method, machine, every latency) as JSON: a later --baseline.")
@click.option("--markdown", "markdown_path", type=click.Path(), help="Write a Markdown table (also appended to $GITHUB_STEP_SUMMARY).")
@click.option("--plot", "plot_path", type=click.Path(), help="Write a PNG: latency distributions, and throughput against batch size.")
@click.option("--html", "html_path", type=click.Path(),
              help="Write one self-contained HTML page: method, machine, the table and the plot embedded.")
@click.option("--baseline", type=click.Path(), help="A previous --json: compare p50 per artifact and batch size.")
@click.option("--max-regression", default="10%", show_default=True, help="With --baseline: a p50 this much slower exits 1.")
@click.pass_context
def command(ctx, models, batch_sizes, warmup, min_warmup_seconds, runs, duration, max_duration, threads, device, tfjs_backend, order,
            seed, input_shapes, input_dtypes, value_ranges, inputs_path, weights, task, json_path, markdown_path, plot_path,
            html_path, baseline, max_regression):
    """Measure load time, latency percentiles, throughput and peak memory of each MODEL.

    Every MODEL x batch size runs in its own process: import the runtime, load, first inference,
    warm-up, then single inferences timed one by one, with the same inputs and the same thread
    count in every runtime. A batch size a model cannot take (a static batch of 1) is skipped
    with the reason. Exit 0 measured, 1 a regression past --max-regression, 2 bad input,
    3 a model failed to run, 4 a runtime is unavailable.

    \b
    Examples:
      modelport bench cnn.onnx cnn.tflite cnn_savedmodel --batch-sizes 1,8 --plot bench.png
      modelport bench cnn.onnx --runs 200 --threads 1 --json bench.json
      modelport bench cnn.onnx cnn.tflite --baseline main.json --max-regression 10%
      modelport bench cnn.onnx cnn.tflite --html bench.html
    """
    from modelport.api import BenchOptions, bench
    from modelport.validators.bench.plots import check_plot_path
    from modelport.validators.bench.regression import parse_max_regression
    from modelport.validators.bench.reports import write_files
    from modelport.validators.bench.verdict import raise_for

    if not models:
        raise UsageError("nothing to benchmark: give at least one MODEL")
    # Everything that can be refused is refused before minutes of measuring (bench() checks the rest).
    from modelport.validators.validate_options import parse_tfjs_backends

    limit = parse_max_regression(max_regression)
    if plot_path:
        check_plot_path(plot_path)
    from modelport.html_report import check_path

    check_path(html_path)
    opts = BenchOptions(batch_sizes=_batch_sizes(batch_sizes), warmup=warmup, min_warmup_seconds=min_warmup_seconds,
                        runs=runs, duration=duration, max_duration=max_duration, threads=threads, device=device,
                        order=order, seed=seed, input_shapes=input_shapes, input_dtypes=input_dtypes,
                        value_ranges=value_ranges, inputs=inputs_path, weights=weights, task=task, baseline=baseline,
                        max_regression=limit, tfjs_backends=parse_tfjs_backends(tfjs_backend))
    report = bench_and_render(lambda progress: bench(list(models), opts, progress=progress),
                              verbose=ctx.obj.get("verbose", False))
    write_files(report, json_path=json_path, markdown_path=markdown_path, plot_path=plot_path)
    if html_path:
        from modelport.html_report import bench_page, write

        write(bench_page(report), html_path)
    raise_for(report)
