"""`--html FILE` (issue 17 item 5): one self-contained page per command, checked by opening it in
headless Chromium at phone width (tests/html_check.py) and reading what it shows: the verdict,
the route with each step and strategy, parity tables with the worst output first, the bench plot
decoded from the page itself, notes, manifest and versions; no request but the page's own, no
sideways scrolling. Screenshots land in test-artifacts/html/. The batch page (the report
folder's batch.html and `batch --html`) is checked in tests/test_batch.py, on its real jobs.
"""

from __future__ import annotations

import pytest

from conftest import BAD, FIXTURES, assert_one_line_error, run_cli
from html_check import assert_self_contained, show

TWO_IO = f"{FIXTURES}/models.py:two_io"
SHAPES = ["--input-shape", "a:2,8", "--input-shape", "b:2,4"]
FAST_BENCH = ["--runs", "20", "--warmup", "1", "--min-warmup-seconds", "0"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """two_io (two inputs, two outputs) to ONNX and TFLite in one run, benchmarked, with --html."""
    folder = tmp_path_factory.mktemp("converted")
    res = run_cli("convert", TWO_IO, "--to", "onnx,tflite", *SHAPES, "-o", folder, "--bench", "--html",
                  folder / "convert.html")
    assert res.code == 0, res.stdout + res.stderr
    assert f"html report: {folder / 'convert.html'}" in res.stderr
    return folder


def test_convert_page_shows_each_route_step_parity_bench_and_manifest(converted):
    page = converted / "convert.html"
    shown = show(page, "convert")
    assert_self_contained(shown, page)
    assert shown.verdict == "2 of 2 candidates passed"
    assert shown.title == f"modelport convert {TWO_IO}"
    for seen in ("route pytorch -> onnx -> tflite", "flatbuffer_direct", "dynamo", "exported with the dynamo exporter",
                 "I/O map (source → artifact)", "output_1", "✔ PASS", "two_io.tflite.modelport.json", "p50 ms",
                 "onnxruntime", "ai-edge-litert"):
        assert seen in shown.text, seen
    assert "FAIL" not in shown.text
    plots = [i for i in shown.images if i["alt"] == "latency distribution per artifact"]
    assert len(plots) == 1 and plots[0]["width"] > 300 and plots[0]["height"] > 200, shown.images


def test_validate_page_puts_the_failing_candidate_and_output_first(converted, tmp_path):
    """output_1 held to 1e-9 fails in both artifacts (max abs ~1e-7); output_0 still passes. Each
    candidate's table starts with its failing output, whatever its order in the model."""
    page = tmp_path / "parity.html"
    res = run_cli("validate", TWO_IO, converted / "two_io.onnx", converted / "two_io.tflite", *SHAPES,
                  "--atol", "output_1:1e-9", "--rtol", "output_1:0", "--html", page)
    assert_one_line_error(res, 1, "parity failed for 2 of 2 candidate(s)")
    shown = show(page, "validate")
    assert_self_contained(shown, page)
    assert shown.verdict == "0 of 2 candidates passed"
    parity_rows = [r for r in shown.first_rows if r.startswith("output_")]
    assert len(parity_rows) == 2 and all(r.startswith("output_1\t✘ FAIL") for r in parity_rows), shown.first_rows
    assert "output_0\t✔ PASS" in shown.text
    assert "max abs" in shown.text and "atol 1e-9 rtol 0" in shown.text
    # each converted candidate brings its provenance: its route and steps
    assert "route of two_io.tflite" in shown.text and "onnx->tflite" in shown.text


def test_bench_page_embeds_its_plot(tmp_path):
    page = tmp_path / "bench.html"
    res = run_cli("bench", f"{FIXTURES}/onnx/mlp.onnx", *FAST_BENCH, "--html", page)
    assert res.code == 0, res.stdout + res.stderr
    shown = show(page, "bench")
    assert_self_contained(shown, page)
    assert "1 measured" in shown.verdict
    assert "mlp.onnx" in shown.text and "p50 ms" in shown.text and "warmup" in shown.text
    assert [i["width"] > 300 for i in shown.images] == [True], shown.images


def test_a_failed_conversion_still_writes_its_page_with_every_strategy_tried(tmp_path):
    page = tmp_path / "failed.html"
    res = run_cli("convert", f"{BAD}/aborts.py:build", "--to", "onnx", "--input-shape", "x:1,4", "-o",
                  tmp_path / "aborts.onnx", "--html", page)
    assert res.code == 3, res.stdout + res.stderr
    shown = show(page, "convert-failed")
    assert_self_contained(shown, page)
    assert shown.verdict.startswith("conversion failed:") and "SIGABRT" in shown.verdict
    assert "strategies tried" in shown.text and "dynamo" in shown.text
    assert not (tmp_path / "aborts.onnx").exists()


@pytest.mark.parametrize("command", [
    ["convert", f"{FIXTURES}/onnx/mlp.onnx", "--to", "tflite", "-o", "OUT/mlp.tflite"],
    ["validate", f"{FIXTURES}/onnx/mlp.onnx", f"{FIXTURES}/tflite/mlp.tflite"],
    ["bench", f"{FIXTURES}/onnx/mlp.onnx"],
])
def test_a_report_path_that_is_not_html_is_refused_before_any_work(command, tmp_path):
    res = run_cli(*[a.replace("OUT", str(tmp_path)) for a in command], "--html", tmp_path / "report.txt")
    assert_one_line_error(res, 2, "--html", "expected an .html file")
    assert list(tmp_path.iterdir()) == []
