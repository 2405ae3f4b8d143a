"""The timing loop of `modelport bench`, and the statistics of what it measured.

The loop follows TFLite's benchmark_model: keep calling until BOTH a minimum count and a minimum
time are reached (either may be 0), but stop at a maximum time whatever the count. Each call is
timed on its own with perf_counter_ns, so percentiles are of single inferences, not of averages;
the clock read costs well under a microsecond, under 1% of the smallest fixture's inference.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from modelport.validators.bench.results import LatencyStats

NS_PER_MS = 1e6


def timed_calls(fn: Callable[[], object], *, min_runs: int, min_seconds: float,
                max_seconds: float | None = None) -> list[int]:
    """Call fn until min_runs calls AND min_seconds have passed, or max_seconds; return each call's ns."""
    if min_runs <= 0 and min_seconds <= 0:
        return []
    clock = time.perf_counter_ns
    latencies: list[int] = []
    append = latencies.append
    start = clock()
    min_end = start + int(min_seconds * 1e9)
    max_end = start + int(max_seconds * 1e9) if max_seconds else None
    while True:
        t0 = clock()
        fn()
        t1 = clock()
        append(t1 - t0)
        if len(latencies) >= min_runs and t1 >= min_end:
            break
        if max_end is not None and t1 >= max_end:
            break
    return latencies


def stats(latencies_ns: list[int]) -> LatencyStats:
    """Mean, sample standard deviation, min, p50/p90/p95/p99 (linear interpolation) and max, in ms."""
    if not latencies_ns:
        raise ValueError("no measured runs")
    ms = np.asarray(latencies_ns, dtype=np.float64) / NS_PER_MS
    p50, p90, p95, p99 = np.percentile(ms, [50, 90, 95, 99])
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    return LatencyStats(mean=float(ms.mean()), std=std, min=float(ms.min()), p50=float(p50), p90=float(p90),
                        p95=float(p95), p99=float(p99), max=float(ms.max()))


def throughput(latencies_ns: list[int], batch_size: int) -> tuple[float, float]:
    """(inferences/s, samples/s) over the measured time: count / total, times the batch for samples."""
    total = sum(latencies_ns) / 1e9
    per_s = len(latencies_ns) / total if total > 0 else float("inf")
    return per_s, per_s * batch_size
