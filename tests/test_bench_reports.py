"""Unit tests of `modelport bench` reporting: --max-regression parsing, the baseline comparison,
the JSON round trip, Markdown, the terminal table and the PNG plot.

Reports are built by hand (no runtime is run), so these take well under a second each.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest

from modelport.errors import EXIT_USAGE, UsageError
from modelport.validators.bench.plots import write_plot
from modelport.validators.bench.regression import compare, load_baseline, parse_max_regression
from modelport.validators.bench.reports import fmt_ms, markdown, render_terminal, write_json, write_markdown
from modelport.validators.bench.results import ERROR, SKIPPED, BenchReport, BenchResult, LatencyStats

MACHINE = {"cpu": "AMD EPYC 7763 64-Core Processor", "logical_cores": 16, "os": "Linux-6.5-x86_64", "python": "3.12.1"}
METHOD = {"warmup": 10, "min_warmup_seconds": 0.5, "runs": 100, "duration": 2.0, "threads": 4, "order": "sequential",
          "device": "cpu", "seed": 0}


def _result(label: str, batch: int, p50: float, *, runtime: str = "onnxruntime", fmt: str = "onnx", n: int = 200,
            seed: int = 0, device: str = "cpu") -> BenchResult:
    """An ok result whose latencies are lognormal around p50 (ms), with the stats computed from them."""
    rng = np.random.default_rng(seed)
    ms = p50 * rng.lognormal(0.0, 0.08, n)
    ms[::50] *= 3  # a few outliers, as a preempted run gives
    p = np.percentile(ms, [50, 90, 95, 99])
    stats = LatencyStats(mean=float(ms.mean()), std=float(ms.std(ddof=1)), min=float(ms.min()), p50=float(p[0]),
                         p90=float(p[1]), p95=float(p[2]), p99=float(p[3]), max=float(ms.max()))
    ips = 1000.0 / float(ms.mean())
    return BenchResult(label=label, path=f"/models/{label}", format=fmt, batch_size=batch, runtime=runtime,
                       runtime_version="1.20.1", device=device, threads=4, size_bytes=4_512_345,
                       input_shapes={"image": [batch, 3, 32, 32]}, import_seconds=0.21, load_seconds=0.042,
                       first_inference_seconds=0.0031, warmup_runs=10, warmup_seconds=0.5, runs=n,
                       measured_seconds=float(ms.sum()) / 1000, latency_ms=stats, inferences_per_second=ips,
                       samples_per_second=ips * batch, peak_rss_bytes=183_000_000, latencies_ms=[float(x) for x in ms])


def _report(scale: float = 1.0, machine: dict | None = None, method: dict | None = None) -> BenchReport:
    """cnn.onnx and cnn.tflite at batch 1, 4, 16; cnn.pt at batch 1; a skip and an error."""
    results = []
    for i, bs in enumerate((1, 4, 16)):
        results.append(_result("cnn.onnx", bs, 0.0412 * bs ** 0.7 * scale, seed=i))
        results.append(_result("cnn.tflite", bs, 0.0315 * bs ** 0.8 * scale, runtime="litert", fmt="tflite", seed=10 + i))
    results.append(_result("cnn.pt", 1, 1.23 * scale, runtime="torch", fmt="pytorch", seed=20))
    results.append(BenchResult(label="cnn_static.tflite", path="/models/cnn_static.tflite", format="tflite", batch_size=4,
                               status=SKIPPED, reason="static batch of 1 (input 'image' is [1, 3, 32, 32])",
                               runtime="litert", device="cpu", size_bytes=1_200_000))
    results.append(BenchResult(label="broken.onnx", path="/models/broken.onnx", format="onnx", batch_size=1,
                               status=ERROR, reason="onnxruntime could not load the model: Invalid graph",
                               error_kind="ConversionError", runtime="onnxruntime", device="cpu"))
    return BenchReport(results=results, method=dict(method or METHOD), machine=dict(machine or MACHINE),
                       modelport_version="0.1.0", created="2024-06-01T12:00:00Z",
                       notes=["timings are of single inferences with inputs already in place"])


# --- --max-regression -------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [("10%", 0.10), ("2.5%", 0.025), ("0.1", 0.1), (" 15 % ", 0.15),
                                            ("0%", 0.0), ("0", 0.0), ("1", 1.0), ("150%", 1.5)])
def test_parse_max_regression_accepts(text, expected):
    assert parse_max_regression(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "%", "-5%", "-0.1", "abc", "10 percent", "5", "nan", "inf%"])
def test_parse_max_regression_rejects(text):
    with pytest.raises(UsageError) as e:
        parse_max_regression(text)
    assert e.value.message.startswith("--max-regression")
    assert "expected a percentage like 10% or a fraction like 0.1" in e.value.message
    assert "\n" not in e.value.message
    assert e.value.exit_code == EXIT_USAGE


# --- compare ------------------------------------------------------------------------------------

def _by_key(reg):
    return {(c.label, c.batch_size, c.device): c for c in reg.comparisons}


def test_compare_statuses():
    baseline = _report()
    current = _report()
    # cnn.onnx bs=4 is 30% slower now, bs=16 5% slower (under the 10% limit), cnn.tflite bs=1 faster.
    for r in current.results:
        if r.label == "cnn.onnx" and r.batch_size in (4, 16):
            r.latency_ms.p50 *= 1.30 if r.batch_size == 4 else 1.05
        if r.label == "cnn.tflite" and r.batch_size == 1:
            r.latency_ms.p50 *= 0.8
    current.results = [r for r in current.results if r.label != "cnn.pt"]  # measured in the baseline only
    current.results.append(_result("mlp.onnx", 1, 0.012, seed=30))  # measured now only
    reg = compare(current, baseline, "base.json", 0.10)
    got = _by_key(reg)
    assert got[("cnn.onnx", 4, "cpu")].status == "regressed"
    assert got[("cnn.onnx", 4, "cpu")].change == pytest.approx(0.30)
    assert got[("cnn.onnx", 16, "cpu")].status == "ok"
    assert got[("cnn.onnx", 16, "cpu")].change == pytest.approx(0.05)
    assert got[("cnn.tflite", 1, "cpu")].status == "ok"
    assert got[("cnn.tflite", 1, "cpu")].change == pytest.approx(-0.2)
    assert got[("mlp.onnx", 1, "cpu")].status == "new"
    assert got[("mlp.onnx", 1, "cpu")].baseline_p50_ms is None
    assert got[("cnn.pt", 1, "cpu")].status == "missing"
    assert got[("cnn.pt", 1, "cpu")].current_p50_ms is None
    # skipped and failed results are not compared on either side
    assert ("cnn_static.tflite", 4, "cpu") not in got and ("broken.onnx", 1, "cpu") not in got
    assert [c.label for c in reg.regressed] == ["cnn.onnx"]
    # order: as in current.results, then the missing ones
    assert [c.status for c in reg.comparisons][-1] == "missing"
    assert reg.comparisons[0].label == "cnn.onnx" and reg.comparisons[0].batch_size == 1
    assert reg.baseline == "base.json" and reg.max_regression == 0.10
    assert reg.notes == []  # same machine, same threads


def test_compare_device_is_part_of_the_key():
    baseline = _report()
    current = _report()
    for r in current.results:
        if r.label == "cnn.pt":
            r.device = "cuda"
    got = _by_key(compare(current, baseline, "b.json", 0.1))
    assert got[("cnn.pt", 1, "cuda")].status == "new"
    assert got[("cnn.pt", 1, "cpu")].status == "missing"


def test_compare_notes_other_machine_and_threads():
    baseline = _report(machine={**MACHINE, "cpu": "Intel Xeon Platinum 8375C"}, method={**METHOD, "threads": 8})
    reg = compare(_report(), baseline, "b.json", 0.1)
    assert any("another CPU" in n and "Intel Xeon Platinum 8375C" in n for n in reg.notes)
    assert any("threads" in n and "8" in n for n in reg.notes)
    # an old baseline that did not record the CPU says nothing
    old = _report()
    del old.machine["cpu"]
    assert compare(_report(), old, "b.json", 0.1).notes == []


def test_compare_notes_when_nothing_matched():
    baseline = _report()
    for r in baseline.results:
        r.label = "renamed-" + r.label
    reg = compare(_report(), baseline, "b.json", 0.1)
    assert {c.status for c in reg.comparisons} == {"new", "missing"}
    assert any("nothing was compared" in n for n in reg.notes)


# --- baseline files and JSON -----------------------------------------------------------------------

def test_json_round_trip(tmp_path):
    report = _report()
    report.regression = compare(_report(scale=1.2), report, "base.json", 0.1)
    report.results[0].inferences_per_second = float("inf")  # strict JSON: written as null
    path = tmp_path / "bench.json"
    write_json(report, path)
    text = path.read_text()
    json.loads(text)  # strict
    assert "Infinity" not in text and "NaN" not in text
    loaded = load_baseline(str(path))
    report.results[0].inferences_per_second = None
    assert loaded.to_dict() == report.to_dict()
    assert BenchReport.from_dict(loaded.to_dict()).to_dict() == report.to_dict()
    assert loaded.regression.regressed  # 20% slower everywhere, past 10%
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]  # no temp file left


@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a `modelport bench --json` report"),
    ('{"reference": "m.onnx", "candidates": []}', "not a `modelport bench --json` report"),  # a validate report
    ('{"results": [], "machine": {}}', "not a `modelport bench --json` report"),  # no method
    ('{"results": {}, "method": {}}', "not a `modelport bench --json` report"),
    ('{"results": [{"label": "a.onnx"}], "method": {}}', "malformed"),
    ('{"results": [1], "method": {}}', "not a `modelport bench --json` report"),
])
def test_load_baseline_errors(tmp_path, content, expected):
    path = tmp_path / "old-bench.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError) as e:
        load_baseline(str(path))
    assert "old-bench.json" in e.value.message
    assert expected in e.value.message
    assert "\n" not in e.value.message
    assert e.value.exit_code == EXIT_USAGE


def test_load_baseline_folder_and_binary(tmp_path):
    with pytest.raises(UsageError, match="folder"):
        load_baseline(str(tmp_path))
    binary = tmp_path / "model.onnx"
    binary.write_bytes(b"\x08\x07\x12\xff\xfe\x00\x80")
    with pytest.raises(UsageError, match="model.onnx"):
        load_baseline(str(binary))


# --- Markdown and the terminal ------------------------------------------------------------------

def test_markdown_content(tmp_path, monkeypatch):
    report = _report()
    current = _report()
    current.results[2].latency_ms.p50 *= 1.5  # cnn.onnx bs=4
    report_with_reg = current
    report_with_reg.regression = compare(current, report, "base.json", 0.1)
    md = markdown(report_with_reg)
    assert md.startswith("### modelport bench ❌")
    for label in ("cnn.onnx", "cnn.tflite", "cnn.pt", "cnn_static.tflite", "broken.onnx"):
        assert label in md
    assert "skipped: static batch of 1" in md
    assert "ConversionError" in md and "Invalid graph" in md
    assert "❌ regressed" in md and "+50.0%" in md
    assert "`base.json`" in md
    assert "1 regression past 10%" in md and "7 measured, 1 skipped, 1 error" in md
    assert "AMD EPYC 7763" in md and "warmup 10 run(s)" in md and "4 thread(s)" in md
    assert "timings are of single inferences" in md
    main_table = md.split("**Against baseline**")[0]
    lines = [line for line in main_table.splitlines() if line.startswith("| ")]
    assert len(lines) == 1 + len(report.results)
    assert all(line.count(" | ") == lines[0].count(" | ") for line in lines)  # no stray '|' in cells

    clean = _report()
    clean.results = [r for r in clean.results if r.status != ERROR]
    assert markdown(clean).startswith("### modelport bench\n")  # no baseline, no error: no verdict
    clean.regression = compare(clean, clean, "b.json", 0.1)
    assert markdown(clean).startswith("### modelport bench ✅")

    summary_file = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    write_markdown(report_with_reg, tmp_path / "out" / "bench.md")
    assert (tmp_path / "out" / "bench.md").read_text() == md
    assert summary_file.read_text().startswith("### modelport bench")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "missing-dir" / "summary.md"))
    with pytest.raises(UsageError, match="GITHUB_STEP_SUMMARY"):
        write_markdown(report_with_reg, tmp_path / "bench2.md")


def test_render_terminal():
    from rich.console import Console

    report = _report()
    report.regression = compare(report, _report(machine={**MACHINE, "cpu": "Apple M2"}, scale=0.5), "base.json", 0.1)
    buf = io.StringIO()
    render_terminal(report, Console(file=buf, width=200, highlight=False))
    out = buf.getvalue()
    for label in ("cnn.onnx", "cnn.tflite", "cnn.pt", "cnn_static.tflite", "broken.onnx"):
        assert label in out
    assert "skipped" in out and "ERROR" in out and "Invalid graph" in out
    assert "method:" in out and "machine: AMD EPYC 7763" in out
    assert "regressed" in out and "another CPU (Apple M2" in out
    assert "7 measured, 1 skipped, 1 error, 7 regressions past 10%" in out
    assert "0.0" in out  # sub-ms latencies printed in ms, not rounded to 0


def test_render_terminal_tolerates_an_empty_method():
    from rich.console import Console

    report = BenchReport(results=[_result("a.onnx", 1, 2.0)])
    buf = io.StringIO()
    render_terminal(report, Console(file=buf, width=200))
    assert "not recorded" in buf.getvalue() and "1 measured, 0 skipped, 0 errors" in buf.getvalue()


@pytest.mark.parametrize("ms, text", [(0.0412, "0.0412"), (1.234, "1.23"), (12.34, "12.3"), (123.4, "123"),
                                      (1234.5, "1234"), (9.996, "10.0"), (0.0, "0"), (None, "-")])
def test_fmt_ms(ms, text):
    assert fmt_ms(ms) == text


# --- plot -------------------------------------------------------------------------------------------

def _check_png(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(str(path))
    assert image.shape[1] > 500
    return image


def test_plot_several_batch_sizes(tmp_path):
    path = tmp_path / "plots" / "bench.png"
    write_plot(_report(), str(path))
    several = _check_png(path)
    assert sorted(os.listdir(path.parent)) == ["bench.png"]  # no temp file left
    one = tmp_path / "one.png"
    report = _report()
    report.results = [r for r in report.results if r.batch_size == 1]
    write_plot(report, str(one))
    single = _check_png(one)
    assert several.shape[1] > single.shape[1]  # the throughput panel is there only with several batch sizes
    assert sorted(os.listdir(tmp_path)) == ["one.png", "plots"]


def test_plot_overwrites(tmp_path):
    path = tmp_path / "bench.png"
    path.write_bytes(b"old")
    write_plot(_report(), str(path))
    _check_png(path)


def test_plot_errors(tmp_path):
    with pytest.raises(UsageError, match=r"expected a \.png file") as e:
        write_plot(_report(), str(tmp_path / "bench.svg"))
    assert e.value.exit_code == EXIT_USAGE
    nothing = _report()
    nothing.results = [r for r in nothing.results if r.status != "ok"]
    with pytest.raises(UsageError, match="nothing was measured"):
        write_plot(nothing, str(tmp_path / "bench.png"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="cannot write plot"):
        write_plot(_report(), str(blocker / "bench.png"))
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_render_terminal_fits_a_narrow_console():
    from rich.console import Console

    buf = io.StringIO()
    render_terminal(_report(), Console(file=buf, width=110))
    out = buf.getvalue()
    table_lines = [line for line in out.splitlines() if line.startswith(("┃", "│", "┏", "└"))]
    assert table_lines and max(len(line) for line in table_lines) <= 110
    assert "left out to fit 110 columns" in out and "p50 ms" in out
