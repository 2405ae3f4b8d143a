"""`convert --bench`: benchmark the source beside everything a conversion wrote, as `modelport bench` does."""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

from modelport.pipeline.options import ConvertOptions
from modelport.pipeline.results import ConvertResult
from modelport.validators.bench.measure import bench
from modelport.validators.bench.options import BenchOptions
from modelport.validators.bench.results import BenchReport


def bench_conversion(result: ConvertResult, options: ConvertOptions | None = None, bench_options: BenchOptions | None = None,
                     progress: Callable[[str], None] | None = None) -> BenchReport:
    """Bench the source, the kept intermediates and the output, with the conversion's input shapes,
    dtypes, weights and task (those of `options`, the ConvertOptions the conversion ran with)."""
    return bench_conversions([result], options, bench_options, progress)


def bench_conversions(results: list[ConvertResult], options: ConvertOptions | None = None,
                      bench_options: BenchOptions | None = None,
                      progress: Callable[[str], None] | None = None) -> BenchReport:
    """`convert --to a,b --bench`: the source once, beside every target's intermediates and output."""
    options = options or ConvertOptions()
    source = results[0].source
    opts = dataclasses.replace(bench_options or BenchOptions(), input_shapes=tuple(options.input_shapes),
                               input_dtypes=tuple(options.input_dtypes), weights=options.weights, task=options.task,
                               labels={source: f"{os.path.basename(source)} (source)"})
    written = [p for r in results for p in (*r.intermediates, r.output)]
    return bench([source, *dict.fromkeys(written)], opts, progress=progress)
