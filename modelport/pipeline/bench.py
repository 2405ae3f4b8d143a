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
    dtypes and weights (those of `options`, the ConvertOptions the conversion ran with)."""
    options = options or ConvertOptions()
    opts = dataclasses.replace(bench_options or BenchOptions(), input_shapes=tuple(options.input_shapes),
                               input_dtypes=tuple(options.input_dtypes), weights=options.weights,
                               labels={result.source: f"{os.path.basename(result.source)} (source)"})
    return bench([result.source, *result.intermediates, result.output], opts, progress=progress)
