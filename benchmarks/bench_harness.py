"""Trust in `modelport bench`: its p50 against a minimal raw loop on the same input, same command.

Run:  .venv/bin/python benchmarks/bench_harness.py [--repeat 30] [--rounds 20] [--runs 50] [--threads 2]

For the fixture CNN (fixtures/models.py:cnn) as ONNX (fixtures/onnx/cnn.onnx, ONNX Runtime) and as
TFLite (converted once by `modelport convert`, not timed):
  modelport: modelport's own bench worker (a process of its own, started and driven through
             validators/bench/worker_client.py's Worker exactly as `modelport bench` does): same
             import, load, feed, warm-up and timing loop; its latencies go through modelport's statistics.
  raw:       in this process, the runtime's own API with the same thread count, the same input
             (the array modelport feeds, from the same seed) and the same warm-up, then
             `session.run(None, feed)` / `interpreter.invoke()` calls, each timed with perf_counter_ns.
The two sides alternate in --rounds rounds of --runs calls each (which side goes first alternates
too). This machine's speed drifts by up to 2x over seconds (a shared VM): measured one after the
other, the two sides would compare the machine's moods, not the harness. Interleaved, the drift
hits both alike. A session's own speed also varies by a few % from one session to the next (two
raw ONNX Runtime sessions in one process differ by up to 4% here), so the whole comparison is
repeated --repeat times with a fresh worker and a fresh raw session, and the latencies of all
repeats are pooled. Ratio = modelport p50 / raw p50, pooled. Target: within 3% for both.

A second table isolates the harness's own cost from process and session effects: modelport's
in-worker code path (runner.prepare + the timing loop + statistics) against the raw call on the
same session, in this process, interleaved the same way.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CNN_SOURCE = os.path.join(REPO, "fixtures", "models.py") + ":cnn"
CNN_ONNX = os.path.join(REPO, "fixtures", "onnx", "cnn.onnx")
TOLERANCE = 0.03
WARMUP, MIN_WARMUP_SECONDS = 5, 0.5
# Between rounds: thread pools spin for a while after their last call (ONNX Runtime, XNNPACK); let
# the side that just ran go idle so it does not take a core from the side about to run.
SETTLE_SECONDS = 0.02


class ModelportSide:
    """One bench worker kept alive, measured a round at a time."""

    def __init__(self, path: str, threads: int, folder: str):
        from modelport.validators.bench.measure import load_message
        from modelport.validators.bench.options import BenchOptions
        from modelport.validators.bench.worker_client import Worker

        opts = BenchOptions(warmup=WARMUP, min_warmup_seconds=MIN_WARMUP_SECONDS, threads=threads)
        self.worker = Worker(folder, 0, "cpu")
        reply = self.worker.request({**load_message(opts, threads), "path": path, "batch_size": 1}, 600)
        if "error" in reply or "skip" in reply:
            raise SystemExit(f"modelport could not load {path}: {reply}")
        self.latencies: list[int] = []

    def round(self, runs: int) -> None:
        reply = self.worker.request({"cmd": "measure", "runs": runs, "seconds": 0, "max_seconds": 600}, 600)
        self.latencies += reply["latencies_ns"]

    def p50(self) -> float:
        from modelport.validators.bench.timing import stats

        self.worker.request({"cmd": "finish"}, 60)
        self.worker.close()
        return stats(self.latencies).p50


class RawSide:
    """The runtime's own call, warmed up like modelport's, timed one call at a time."""

    def __init__(self, fn):
        self.fn = fn
        start, n = time.perf_counter(), 0
        while n < WARMUP or time.perf_counter() - start < MIN_WARMUP_SECONDS:
            fn()
            n += 1
        self.latencies: list[int] = []

    def round(self, runs: int) -> None:
        fn, clock, lat = self.fn, time.perf_counter_ns, self.latencies
        for _ in range(runs):
            t0 = clock()
            fn()
            lat.append(clock() - t0)

    def p50(self) -> float:
        import numpy as np

        return float(np.percentile(np.asarray(self.latencies) / 1e6, 50))


def same_feed(path: str, specs) -> dict:
    """The arrays modelport's worker feeds this model (validators/bench/feed.py, seed 0, batch 1)."""
    from modelport.manifest import load
    from modelport.types import IOMap
    from modelport.validators.bench.feed import FeedRequest, build_feed

    record = load(path)
    io_map = IOMap.from_dict(record["io_map"]) if record else None
    return build_feed(specs, io_map, FeedRequest(batch_size=1))


def raw_onnxruntime(path: str, threads: int):
    import onnxruntime as ort

    from modelport.validators.runtimes import OnnxRuntimeRunner

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    specs = OnnxRuntimeRunner(path)._specs(session.get_inputs())
    feed = same_feed(path, specs)
    return lambda: session.run(None, feed)


def raw_tflite(path: str, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    from modelport.specs import from_tflite_detail

    it = Interpreter(model_path=path, num_threads=threads)
    details = it.get_signature_runner().get_input_details()
    feed = same_feed(path, [from_tflite_detail(d, n) for n, d in details.items()])
    it.allocate_tensors()
    for name, d in details.items():
        it.set_tensor(d["index"], feed[name])
    return it.invoke


def pooled_ratio(runtime: str, path: str, raw, args, folder: str) -> tuple[float, float, list[float]]:
    """Fresh modelport worker and fresh raw session per repeat, rounds interleaved; pooled p50s."""
    import numpy as np

    mp_all, raw_all, ratios = [], [], []
    for _ in range(args.repeat):
        mp, rw = ModelportSide(path, args.threads, folder), RawSide(raw(path, args.threads))
        for i in range(args.rounds):
            for side in ((mp, rw) if i % 2 == 0 else (rw, mp)):
                time.sleep(SETTLE_SECONDS)
                side.round(args.runs)
        ratios.append(mp.p50() / rw.p50())
        mp_all += mp.latencies
        raw_all += rw.latencies
        print(f"  {runtime}: repeat {len(ratios)} ratio {ratios[-1]:.3f}", flush=True)
    return float(np.percentile(mp_all, 50) / 1e6), float(np.percentile(raw_all, 50) / 1e6), ratios


def same_session_ratio(fmt: str, path: str, args) -> tuple[float, float]:
    """modelport's in-worker code path against the raw call on the very same session/interpreter."""
    from modelport.types import Format
    from modelport.validators.bench.timing import stats, timed_calls
    from modelport.validators.runtimes import runner_for

    runner = runner_for(path, Format(fmt), threads=args.threads).load()
    feed = same_feed(path, runner.input_specs())
    call = runner.prepare(feed)
    raw = (lambda: runner.session.run(None, feed)) if fmt == "onnx" else runner.interpreter.invoke
    rw = RawSide(raw)
    timed_calls(call, min_runs=WARMUP, min_seconds=MIN_WARMUP_SECONDS)
    harness: list[int] = []
    for i in range(args.rounds * args.repeat):
        for side in (("h", "r") if i % 2 == 0 else ("r", "h")):
            time.sleep(SETTLE_SECONDS)
            if side == "h":
                harness += timed_calls(call, min_runs=args.runs, min_seconds=0)
            else:
                rw.round(args.runs)
    return stats(harness).p50, rw.p50()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30, help="fresh worker + fresh raw session pairs per runtime")
    ap.add_argument("--rounds", type=int, default=20, help="alternating rounds per repeat")
    ap.add_argument("--runs", type=int, default=50, help="calls per side per round")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rows, inproc, ok = [], [], True
    with tempfile.TemporaryDirectory(prefix="modelport-harness-") as folder:
        tflite = os.path.join(folder, "cnn.tflite")
        subprocess.run([sys.executable, "-m", "modelport.cli", "convert", CNN_SOURCE, "--to", "tflite", "-o", tflite,
                        "--input-shape", "image:1,3,32,32", "--no-validate"], check=True, capture_output=True)
        for runtime, fmt, path, raw in (("onnxruntime", "onnx", CNN_ONNX, raw_onnxruntime),
                                        ("tflite", "tflite", tflite, raw_tflite)):
            a, b, ratios = pooled_ratio(runtime, path, raw, args, folder)
            passed = abs(a / b - 1) <= TOLERANCE
            ok &= passed
            rows.append((runtime, a, b, a / b, min(ratios), max(ratios), passed))
            inproc.append((runtime, *same_session_ratio(fmt, path, args)))
    print(f"\nmodelport bench p50 / raw loop p50, fixture CNN, batch 1, {args.threads} threads; {args.repeat} repeats "
          f"x {args.rounds} alternating rounds x {args.runs} calls per side, pooled (target within {TOLERANCE:.0%})\n")
    print("| runtime | modelport p50 | raw p50 | ratio | range of repeats | result |")
    print("|---|---|---|---|---|---|")
    for runtime, a, b, ratio, lo, hi, passed in rows:
        print(f"| {runtime} | {a * 1000:.1f} us | {b * 1000:.1f} us | {ratio:.3f} | {lo:.3f}-{hi:.3f} | "
              f"{'PASS' if passed else 'FAIL'} |")
    print("\nthe harness's own cost: modelport's timing path vs the raw call on the same session, in one process\n")
    print("| runtime | harness p50 | raw p50 | ratio |")
    print("|---|---|---|---|")
    for runtime, a, b in inproc:
        print(f"| {runtime} | {a * 1000:.1f} us | {b * 1000:.1f} us | {a / b:.3f} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
