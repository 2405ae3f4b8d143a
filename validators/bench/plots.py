"""`modelport bench --plot`: one PNG with the latency distributions and, when several batch sizes
were measured, how throughput scales with the batch.

Box plots rather than bars of the mean: the spread and the outliers (a GC pause, a preempted
run) are what a single number hides. The y axis turns logarithmic when the boxes span more than
20x, or a 0.05 ms TFLite box would be a flat line next to a 50 ms PyTorch one. matplotlib is an
optional (dev) dependency: it is imported here only, through `require`, with the Agg backend so
no display is needed; the file is written atomically like the other reports.
"""

from __future__ import annotations

from pathlib import Path

from modelport.errors import UsageError
from modelport.placement import write_via_temp
from modelport.libraries import require
from modelport.validators.bench.results import OK, BenchReport, BenchResult

_LOG_SPREAD = 20.0  # max/min beyond which an axis goes logarithmic


def check_plot_path(path: str) -> None:
    """Refuse a --plot path before measuring: it must name a .png, and matplotlib must import."""
    if not path.lower().endswith(".png"):
        raise UsageError(f"--plot {path}: expected a .png file")
    require("matplotlib", "--plot", extra="bench")


def _measured(report: BenchReport) -> list[BenchResult]:
    return [r for r in report.results if r.status == OK and r.latencies_ms]


def _title(report: BenchReport) -> str:
    parts = ["modelport bench"]
    if report.machine.get("cpu"):
        parts.append(str(report.machine["cpu"]))
    if "threads" in report.method:
        t = report.method["threads"]
        parts.append("default threads" if t is None else f"{t} thread(s)")
    if report.method.get("device"):
        parts.append(f"device {report.method['device']}")
    return " · ".join(parts)


def _series(results: list[BenchResult]) -> dict[tuple[str, str | None], list[tuple[int, float]]]:
    """(label, device) -> [(batch size, samples/s)] sorted by batch size; unmeasurable rates left out."""
    series: dict[tuple[str, str | None], list[tuple[int, float]]] = {}
    for r in results:
        sps = r.samples_per_second
        if sps is None or not 0 < sps < float("inf") or r.batch_size <= 0:  # 0: batch taken from --inputs
            continue
        series.setdefault((r.label, r.device), []).append((r.batch_size, float(sps)))
    return {k: sorted(v) for k, v in series.items()}


def write_plot(report: BenchReport, path: str) -> None:
    """Write the PNG at path (temp file in the same folder, then os.replace); UsageError on bad path."""
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise UsageError(f"--plot {path}: expected a .png file")
    _draw(report, lambda fig: _save(fig, target), "writing --plot")


def plot_bytes(report: BenchReport, fmt: str = "png") -> bytes:
    """The same figure as --plot, as bytes, for the HTML report to carry. PNG rather than SVG: an
    SVG keeps every outlier of hundreds of thousands of timed runs as a vector mark (1.7 MB for
    three artifacts of a small MLP, against tens of KB)."""
    import io

    buffer = io.BytesIO()
    _draw(report, lambda fig: fig.savefig(buffer, format=fmt, dpi=100, bbox_inches="tight"), "the report's plot")
    return buffer.getvalue()


def _draw(report: BenchReport, save, purpose: str) -> None:
    """Build the figure and hand it to save(fig); UsageError when nothing was measured."""
    results = _measured(report)
    if not results:
        raise UsageError("--plot: nothing was measured")
    matplotlib = require("matplotlib", purpose, extra="bench")
    matplotlib.use("Agg")  # before pyplot: no display on a CI runner
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    with_device = len({r.device for r in results}) > 1
    series = _series(results)
    scaling = any(len(points) > 1 for points in series.values())

    box_width = max(7.0, 0.8 * len(results) + 2.0)
    fig, axes = plt.subplots(1, 2 if scaling else 1, figsize=(box_width + (6.0 if scaling else 0.0), 5.0),
                             squeeze=False, gridspec_kw={"width_ratios": [box_width, 6.0]} if scaling else None)
    try:
        ax = axes[0][0]
        labels = sorted({r.label for r in results}, key=[r.label for r in results].index)
        colours = {label: f"C{i % 10}" for i, label in enumerate(labels)}
        data = [r.latencies_ms for r in results]
        boxes = ax.boxplot(data, patch_artist=True, widths=0.6, flierprops={"markersize": 3, "alpha": 0.5},
                           medianprops={"color": "black"})
        for patch, r in zip(boxes["boxes"], results):
            patch.set_facecolor(colours[r.label])
            patch.set_alpha(0.6)
        ticks = [f"{r.label}\n" + (f"bs={r.batch_size}" if r.batch_size > 0 else "given inputs")
                 + (f" {r.device}" if with_device and r.device else "") for r in results]
        ax.set_xticks(range(1, len(results) + 1))
        ax.set_xticklabels(ticks, rotation=30 if len(results) > 6 else 0, ha="right" if len(results) > 6 else "center",
                           fontsize=8)
        low = min(min(d) for d in data)
        high = max(max(d) for d in data)
        if low > 0 and high / low > _LOG_SPREAD:
            ax.set_yscale("log")
        ax.set_ylabel("latency per inference (ms)")
        ax.set_title("latency distribution", fontsize=10)
        ax.grid(axis="y", alpha=0.3)

        if scaling:
            tp = axes[0][1]
            batch_sizes = sorted({bs for points in series.values() for bs, _ in points})
            for (label, device), points in series.items():
                name = f"{label} ({device})" if with_device and device else label
                tp.plot([bs for bs, _ in points], [v for _, v in points], marker="o", label=name,
                        color=colours[label], linestyle="--" if with_device and device != results[0].device else "-")
            tp.set_xscale("log", base=2)
            tp.set_xticks(batch_sizes)
            tp.set_xticklabels([str(bs) for bs in batch_sizes])
            tp.xaxis.set_minor_locator(NullLocator())
            values = [v for points in series.values() for _, v in points]
            if min(values) > 0 and max(values) / min(values) > _LOG_SPREAD:
                tp.set_yscale("log")
            tp.set_xlabel("batch size")
            tp.set_ylabel("throughput (samples/s)")
            tp.set_title("throughput against batch size", fontsize=10)
            tp.grid(alpha=0.3)
            tp.legend(fontsize=8)

        fig.suptitle(_title(report), fontsize=11)
        fig.tight_layout()
        save(fig)
    finally:
        plt.close(fig)


def _save(fig, target: Path) -> None:
    # bbox_inches="tight" keeps a long title whole
    write_via_temp(target, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"), "plot")