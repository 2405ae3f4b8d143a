"""`modelport bench MODEL...`: latency, throughput and memory of every artifact, side by side."""

from __future__ import annotations

import click

from modelport.cli.render import console
from modelport.errors import UsageError


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
@click.option("--order", type=click.Choice(["sequential", "random", "interleaved"]), default="sequential", show_default=True,
              help="random: shuffle the jobs (--seed); interleaved: measure all artifacts in alternating rounds.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated inputs and of --order random.")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME:D1,D2,...",
              help="Sizes of dynamic dims (source names, e.g. image:batch,3,224,224); axis 0 is the batch. Repeatable.")
@click.option("--input-dtype", "input_dtypes", multiple=True, metavar="NAME:DTYPE", help="Dtype of an input that declares none. Repeatable.")
@click.option("--value-range", "value_ranges", multiple=True, metavar="NAME:LO,HI", help="Range of generated values. Repeatable.")
@click.option("--inputs", "inputs_path", type=click.Path(), help="Real inputs: FILE.npz or a folder of NAME.npy (their batch is used).")
@click.option("--weights", type=click.Path(), help="state_dict for a file.py:callable MODEL.")
@click.option("--json", "json_path", type=click.Path(), help="Write everything (method, machine, every latency) as JSON: a later --baseline.")
@click.option("--markdown", "markdown_path", type=click.Path(), help="Write a Markdown table (also appended to $GITHUB_STEP_SUMMARY).")
@click.option("--plot", "plot_path", type=click.Path(), help="Write a PNG: latency distributions, and throughput against batch size.")
@click.option("--baseline", type=click.Path(), help="A previous --json: compare p50 per artifact and batch size.")
@click.option("--max-regression", default="10%", show_default=True, help="With --baseline: a p50 this much slower exits 1.")
@click.pass_context
def command(ctx, models, batch_sizes, warmup, min_warmup_seconds, runs, duration, max_duration, threads, device, order,
            seed, input_shapes, input_dtypes, value_ranges, inputs_path, weights, json_path, markdown_path, plot_path,
            baseline, max_regression):
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
    """
    from modelport.benchmark import BenchOptions
    from modelport.validators.bench_regression import load_baseline, parse_max_regression

    if not models:
        raise UsageError("nothing to benchmark: give at least one MODEL")
    # Everything that can be refused is refused before minutes of measuring.
    limit = parse_max_regression(max_regression)
    old = load_baseline(baseline) if baseline else None
    if plot_path:
        _check_plot(plot_path)
    opts = BenchOptions(batch_sizes=_batch_sizes(batch_sizes), warmup=warmup, min_warmup_seconds=min_warmup_seconds,
                        runs=runs, duration=duration, max_duration=max_duration, threads=threads, device=device,
                        order=order, seed=seed, input_shapes=input_shapes, input_dtypes=input_dtypes,
                        value_ranges=value_ranges, inputs=inputs_path, weights=weights)
    report = run_and_report(list(models), opts, old=old, baseline_path=baseline, max_regression=limit,
                            json_path=json_path, markdown_path=markdown_path, plot_path=plot_path,
                            verbose=ctx.obj.get("verbose", False))
    raise_for(report)


def _check_plot(path: str) -> None:
    from modelport.quiet import require

    if not path.lower().endswith(".png"):
        raise UsageError(f"--plot {path}: expected a .png file")
    require("matplotlib", "--plot", extra="bench")


def run_and_report(models: list[str], opts, *, old=None, baseline_path=None, max_regression=0.10, json_path=None,
                   markdown_path=None, plot_path=None, verbose=False, quiet=False):
    """Bench, compare with the baseline, render (unless quiet: JSON goes to stdout instead), write
    the files; shared with `convert --bench`."""
    import sys

    from modelport.benchmark import bench
    from modelport.validators import bench_reports
    from modelport.validators.bench_regression import compare

    con = console()
    err = console_stderr()
    if sys.stderr.isatty():
        with err.status("benchmarking") as status:
            report = bench(models, opts, progress=lambda text: status.update(f"benchmarking {text}"))
    else:
        report = bench(models, opts)
    if old is not None:
        report.regression = compare(report, old, baseline_path, max_regression)
    if not quiet:
        bench_reports.render_terminal(report, con)
    if verbose:
        for r in report.errors:
            if r.log_tail:
                click.echo(f"--- {r.label} (batch {r.batch_size}) log ---\n{r.log_tail}\n--- end ---", err=True)
    if json_path:
        bench_reports.write_json(report, json_path)
    if markdown_path:
        bench_reports.write_markdown(report, markdown_path)
    if plot_path and any(r.status == "ok" for r in report.results):
        from modelport.validators.bench_plots import write_plot

        write_plot(report, plot_path)
    return report


def console_stderr():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def raise_for(report) -> None:
    """The exit code: the worst error's (2, 3, 4), else 1 for a regression past the limit."""
    from modelport.benchmark import exit_code
    from modelport.errors import ConversionError, RegressionError, UnavailableError

    code = exit_code(report)
    if code == 0:
        return
    if code == 1:
        worst = ", ".join(f"{c.label} batch {c.batch_size} (+{c.change * 100:.1f}%)" for c in report.regression.regressed)
        raise RegressionError(f"p50 regressed past {report.regression.max_regression * 100:g}% for: {worst}")
    failed = report.errors
    first = failed[0]
    cls = {2: UsageError, 4: UnavailableError}.get(code, ConversionError)
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    raise cls(f"{len(failed)} of {len(report.results)} benchmark(s) failed; {first.label} batch {first.batch_size}: "
              f"{first.reason}{more}")
