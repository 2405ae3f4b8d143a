"""`modelport bench`: real runtimes on the fixtures, each artifact in its own process.

The timing numbers themselves vary with the machine; these tests check what must hold whatever
the machine: every figure present and consistent (p50 <= p90 <= p99 <= max, samples/s = batch x
inferences/s), the same inputs for every artifact, skips with reasons, errors and crashes as rows
of the report with the right exit code, and the regression gate against an edited baseline.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from conftest import BAD, FIXTURES, assert_one_line_error, run_cli
from modelport.types import IOMap, TensorMapping, TensorSpec
from modelport.validators.bench.feed import FeedRequest, Skip, build_feed
from modelport.validators.bench.timing import stats, throughput, timed_calls

CNN_ONNX = FIXTURES / "onnx" / "cnn.onnx"
KERAS_TFLITE = FIXTURES / "tflite" / "keras_cnn.tflite"
FAST = ["--runs", "20", "--warmup", "2", "--min-warmup-seconds", "0"]


def _load(path) -> dict:
    with open(path) as f:
        return json.load(f)


def _by(report: dict) -> dict:
    return {(r["label"], r["batch_size"]): r for r in report["results"]}


# -- the timing loop and the statistics ------------------------------------------------------------

def test_timed_calls_honours_count_and_time_bounds():
    assert len(timed_calls(lambda: None, min_runs=7, min_seconds=0)) == 7
    t0 = time.perf_counter()
    lat = timed_calls(lambda: None, min_runs=1, min_seconds=0.05)
    assert time.perf_counter() - t0 >= 0.05 and len(lat) > 100  # a time bound keeps calling
    lat = timed_calls(lambda: time.sleep(0.01), min_runs=10_000, min_seconds=0, max_seconds=0.1)
    assert 5 <= len(lat) < 30  # the cap wins over the count
    assert timed_calls(lambda: None, min_runs=0, min_seconds=0) == []
    assert all(x >= 10_000_000 for x in lat)  # each call timed on its own, in ns


def test_stats_match_numpy_and_throughput_counts_samples():
    lat = [1_000_000, 2_000_000, 3_000_000, 4_000_000, 10_000_000]
    s = stats(lat)
    ms = np.array(lat) / 1e6
    assert (s.min, s.max, s.mean) == (1.0, 10.0, 4.0)
    assert s.p50 == 3.0 and s.p90 == pytest.approx(np.percentile(ms, 90)) and s.p99 == pytest.approx(np.percentile(ms, 99))
    assert s.std == pytest.approx(ms.std(ddof=1))
    per_s, samples = throughput(lat, 8)
    assert per_s == pytest.approx(5 / 0.02) and samples == pytest.approx(8 * per_s)


# -- the same inputs for every artifact --------------------------------------------------------------

def test_nhwc_artifact_gets_the_same_values_as_the_nchw_source():
    nchw = [TensorSpec("image", ["batch", 3, 32, 32], "float32")]
    nhwc = [TensorSpec("serving_default_image", [1, 32, 32, 3], "float32")]
    io_map = IOMap(inputs=[TensorMapping("image", "serving_default_image", [0, 2, 3, 1])])
    a = build_feed(nchw, None, FeedRequest(batch_size=1, seed=3))["image"]
    b = build_feed(nhwc, io_map, FeedRequest(batch_size=1, seed=3))["serving_default_image"]
    assert a.shape == (1, 3, 32, 32) and b.shape == (1, 32, 32, 3)
    np.testing.assert_array_equal(a.transpose(0, 2, 3, 1), b)
    assert b.flags["C_CONTIGUOUS"]
    with pytest.raises(Skip, match="static batch of 1"):
        build_feed(nhwc, io_map, FeedRequest(batch_size=4))
    assert build_feed(nchw, None, FeedRequest(batch_size=4))["image"].shape == (4, 3, 32, 32)


def test_feed_dims_dtypes_and_given_inputs():
    specs = [TensorSpec("ids", [1, "seq"], "int64"), TensorSpec("x", None, "any")]
    feed = build_feed(specs, None, FeedRequest(batch_size=1, shapes={"seq": [], "ids": [1, 16], "x": ["b", 5]},
                                                  dtypes={"x": "float16"}, value_ranges={"ids": (0, 3)}))
    assert feed["ids"].shape == (1, 16) and feed["ids"].dtype == np.int64 and feed["ids"].max() < 3
    assert feed["x"].shape == (1, 5) and feed["x"].dtype == np.float16
    with pytest.raises(Skip, match="fixed at"):
        build_feed([TensorSpec("x", [1, 3, 32, 32])], None, FeedRequest(batch_size=1, shapes={"x": [1, 3, 64, 64]}))
    given = {"image": np.ones((2, 3, 4, 4), np.float32)}
    io_map = IOMap(inputs=[TensorMapping("image", "img", [0, 2, 3, 1])])
    out = build_feed([TensorSpec("img", ["n", 4, 4, 3])], io_map, FeedRequest(inputs=given))
    assert out["img"].shape == (2, 4, 4, 3)


# -- real runs ---------------------------------------------------------------------------------------

def test_bench_onnx_and_static_tflite_at_two_batch_sizes(artifacts, tmp_path):
    # static: exported at batch 1 (a dynamic batch stays dynamic in the TFLite, tests/test_dynamic_sizes.py)
    tflite = artifacts(str(FIXTURES / "models.py") + ":cnn", "tflite", "--input-shape", "image:1,3,32,32",
                       name="cnn_static_batch1")  # its own file: the cache names files by option, not value
    out = tmp_path / "r"
    res = run_cli("bench", CNN_ONNX, tflite, "--batch-sizes", "1,4", *FAST, "--threads", "1",
                  "--json", out / "b.json", "--markdown", out / "b.md", "--plot", out / "b.png")
    assert res.code == 0, res.stderr
    report = _load(out / "b.json")
    rows = _by(report)
    assert len(rows) == 4
    for (label, batch), r in rows.items():
        assert r["threads"] == 1 and r["path"]
        if label == tflite.name and batch == 4:
            assert r["status"] == "skipped" and "static batch of 1" in r["reason"]
            continue
        assert r["status"] == "ok", r
        lat = r["latency_ms"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["max"]
        assert r["runs"] == len(r["latencies_ms"]) >= 20 and r["warmup_runs"] >= 2
        assert r["samples_per_second"] == pytest.approx(batch * r["inferences_per_second"])
        assert r["load_seconds"] > 0 and r["first_inference_seconds"] > 0 and r["import_seconds"] > 0
        assert r["peak_rss_bytes"] > 20e6 and r["size_bytes"] > 1000 and r["device"] == "cpu"
    assert rows[("cnn.onnx", 4)]["input_shapes"] == {"image": [4, 3, 32, 32]}
    assert rows[("cnn.onnx", 1)]["runtime"] == "onnxruntime" and rows[("cnn.onnx", 1)]["runtime_version"]
    assert list(rows[(tflite.name, 1)]["input_shapes"].values()) == [[1, 32, 32, 3]]  # NHWC, via its manifest
    assert report["method"]["threads"] == 1 and report["method"]["runs"] == 20 and report["machine"]["cpu"]
    assert "static batch of 1" in res.stdout and "cnn.onnx" in res.stdout
    md = (out / "b.md").read_text()
    assert "| cnn.onnx |" in md and "static batch of 1" in md
    png = (out / "b.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_every_runtime_kind_and_interleaved_order(tmp_path):
    """ONNX Runtime, TFLite, TensorFlow and PyTorch (ExportedProgram) in one interleaved run."""
    models = [CNN_ONNX, KERAS_TFLITE, FIXTURES / "savedmodel" / "keras_cnn", FIXTURES / "pytorch" / "cnn.pt2"]
    res = run_cli("bench", *models, "--order", "interleaved", *FAST, "--json", tmp_path / "b.json")
    assert res.code == 0, res.stderr
    report = _load(tmp_path / "b.json")
    assert report["method"]["order"] == "interleaved" and report["method"]["rounds"] == 10
    assert [r["runtime"] for r in report["results"]] == ["onnxruntime", "tflite", "tensorflow", "torch"]
    assert all(r["status"] == "ok" and r["runs"] >= 20 for r in report["results"])
    assert set(report["machine"]["versions"]) == {"onnxruntime", "tflite", "tensorflow", "torch"}


def test_random_order_is_seeded_and_recorded(tmp_path):
    a = run_cli("bench", CNN_ONNX, "--batch-sizes", "1,2,3", "--order", "random", "--seed", "5", *FAST,
                "--runs", "3", "--json", tmp_path / "a.json")
    b = run_cli("bench", CNN_ONNX, "--batch-sizes", "1,2,3", "--order", "random", "--seed", "5", *FAST,
                "--runs", "3", "--json", tmp_path / "b.json")
    assert a.code == b.code == 0, a.stderr + b.stderr
    order = [r["batch_size"] for r in _load(tmp_path / "a.json")["results"]]
    assert sorted(order) == [1, 2, 3] and order == [r["batch_size"] for r in _load(tmp_path / "b.json")["results"]]


def test_regression_gate_against_an_edited_baseline(tmp_path):
    base = tmp_path / "base.json"
    assert run_cli("bench", CNN_ONNX, *FAST, "--json", base).code == 0
    data = _load(base)
    fast = json.loads(json.dumps(data))
    fast["results"][0]["latency_ms"]["p50"] /= 100  # the baseline was 100x faster: now a regression
    (tmp_path / "fast.json").write_text(json.dumps(fast))
    slow = json.loads(json.dumps(data))
    slow["results"][0]["latency_ms"]["p50"] *= 100
    (tmp_path / "slow.json").write_text(json.dumps(slow))

    res = run_cli("bench", CNN_ONNX, *FAST, "--baseline", tmp_path / "fast.json", "--max-regression", "10%",
                  "--json", tmp_path / "now.json")
    assert_one_line_error(res, 1, "regressed past 10%", "cnn.onnx batch 1")
    assert "regressed" in res.stdout
    (cmp,) = _load(tmp_path / "now.json")["regression"]["comparisons"]
    assert cmp["status"] == "regressed" and cmp["change"] > 10

    res = run_cli("bench", CNN_ONNX, *FAST, "--baseline", tmp_path / "slow.json", "--max-regression", "0.1")
    assert res.code == 0, res.stderr


def test_broken_and_crashing_models_are_rows_not_crashes(tmp_path):
    """A truncated file is bad input (exit 2); a process that dies is a failure (exit 3); the good
    model is still measured and the JSON report still written."""
    res = run_cli("bench", CNN_ONNX, BAD / "truncated.tflite", *FAST, "--json", tmp_path / "a.json")
    assert_one_line_error(res, 2, "1 of 2 benchmark(s) failed", "truncated.tflite")
    rows = _by(_load(tmp_path / "a.json"))
    assert rows[("cnn.onnx", 1)]["status"] == "ok"
    assert rows[("truncated.tflite", 1)]["status"] == "error"
    assert rows[("truncated.tflite", 1)]["error_kind"] == "UsageError"

    res = run_cli("bench", f"{BAD / 'aborts.py'}:build", CNN_ONNX, "--input-shape", "x:1,4", *FAST,
                  "--json", tmp_path / "b.json")
    assert_one_line_error(res, 3, "aborts.py:build", "died (signal SIGABRT)")
    rows = _by(_load(tmp_path / "b.json"))
    assert rows[("cnn.onnx", 1)]["status"] == "ok" and rows[("aborts.py:build", 1)]["status"] == "error"


def test_given_inputs_set_the_batch(tmp_path):
    np.savez(tmp_path / "in.npz", image=np.zeros((3, 3, 32, 32), np.float32))
    res = run_cli("bench", CNN_ONNX, "--inputs", tmp_path / "in.npz", *FAST, "--json", tmp_path / "b.json")
    assert res.code == 0, res.stderr
    (r,) = _load(tmp_path / "b.json")["results"]
    assert r["batch_size"] == 3 and r["input_shapes"] == {"image": [3, 3, 32, 32]}


def test_convert_bench_measures_source_and_artifact(tmp_path):
    res = run_cli("convert", str(FIXTURES / "models.py") + ":cnn", "--to", "onnx", "-o", tmp_path / "cnn.onnx",
                  "--input-shape", "image:batch,3,32,32", "--bench", "--json")
    assert res.code == 0, res.stderr
    out = json.loads(res.stdout)
    rows = out["bench"]["results"]
    assert [r["label"] for r in rows] == ["models.py:cnn (source)", "cnn.onnx"]
    assert [r["runtime"] for r in rows] == ["torch", "onnxruntime"] and all(r["status"] == "ok" for r in rows)
    assert out["validation"]["passed"]


def test_cuda_on_a_runtime_without_it_exits_4():
    res = run_cli("bench", KERAS_TFLITE, "--device", "cuda", *FAST)
    assert_one_line_error(res, 4, "tflite cannot run on cuda")


@pytest.mark.parametrize("args,fragment", [
    ((), "nothing to benchmark"),
    ((BAD / "missing.onnx",), "missing.onnx"),
    ((BAD / "not_a_model.txt",), "not_a_model.txt"),
    ((CNN_ONNX, "--batch-sizes", "0"), "--batch-sizes"),
    ((CNN_ONNX, "--batch-sizes", "1,x"), "--batch-sizes"),
    ((CNN_ONNX, "--threads", "0"), "--threads"),
    ((CNN_ONNX, "--runs", "0"), "--runs"),
    ((CNN_ONNX, "--duration", "-1"), "--duration"),
    ((CNN_ONNX, "--max-regression", "fast"), "--max-regression"),
    ((CNN_ONNX, "--baseline", BAD / "missing.json"), "missing.json"),
    ((CNN_ONNX, "--baseline", BAD / "not_a_model.txt"), "not_a_model.txt"),
    ((CNN_ONNX, "--plot", "out.jpg"), "--plot"),
    ((CNN_ONNX, "--inputs", BAD / "missing.npz"), "--inputs"),
    ((CNN_ONNX, "--inputs", FIXTURES / "calibration" / "cnn_calibration.npz", "--batch-sizes", "2"), "exclude"),
    ((CNN_ONNX, "--input-shape", "image"), "--input-shape"),
])
def test_bad_input_is_one_line_and_exit_2(args, fragment, tmp_path):
    res = run_cli("bench", *args, cwd=tmp_path)
    assert_one_line_error(res, 2, fragment)
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("threads", [1, 2])
def test_every_runtime_gets_the_thread_count(threads):
    """bench sets one thread count in every runtime; ONNX Runtime's runner used to be built without it."""
    from modelport.types import Format
    from modelport.validators.runtimes import runner_for

    runner = runner_for(str(CNN_ONNX), Format.ONNX, threads=threads).load()
    try:
        assert runner.session.get_session_options().intra_op_num_threads == threads
    finally:
        runner.close()
