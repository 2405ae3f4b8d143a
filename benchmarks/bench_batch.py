"""`modelport batch` scaling and overhead: 8 small conversion jobs, -j 2 against -j 1, and the
batch runner against the same jobs run as single `modelport convert` commands.

Run:  .venv/bin/python benchmarks/bench_batch.py [--repeat 3] [--jobs 8] [--baseline-ref COMMIT]

The jobs: copies of fixtures/onnx/mlp.onnx (each its own file, so nothing is shared) converted to
TFLite and validated (onnx2tf + ONNX Runtime + LiteRT), the default convert. Every run starts from
empty output folders and uses --no-resume, so all jobs are done every time. Wall times are taken
around the whole command; the three variants alternate within each repeat; medians are shown.

  singles : `modelport convert SRC --to tflite -o OUT --force`, one after the other
  batch -j1: `modelport batch M.yaml -j 1 --no-resume`
  batch -j2: `modelport batch M.yaml -j 2 --no-resume`

Speed-up = batch -j1 / batch -j2 (target >= 1.6 on 2 cores). Overhead per job =
(batch -j1 - singles) / jobs: what the batch runner (manifest, fingerprints, a job process per
model, reports) adds to each job.

With --baseline-ref, a fourth variant, `baseline -j2`, runs the same batch with that commit of
modelport (benchmarks/baseline.py), alternating with the others: the ratio batch -j2 / baseline
-j2 is what a change did to the whole run (issue 14's goal: at most 0.7).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from baseline import env_for, install_baseline

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MLP = os.path.join(REPO, "fixtures", "onnx", "mlp.onnx")
MODELPORT = [sys.executable, "-m", "modelport.cli"]


def setup(folder: str, n: int) -> str:
    src = os.path.join(folder, "src")
    os.makedirs(src)
    lines = ["defaults: {targets: [tflite]}", "models:"]
    for i in range(n):
        shutil.copy(MLP, os.path.join(src, f"mlp{i}.onnx"))
        lines.append(f"  - {{name: mlp{i}, source: src/mlp{i}.onnx}}")
    path = os.path.join(folder, "models.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def timed(cmd: list[str], cwd: str, env: dict | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return seconds


def singles(folder: str, n: int) -> float:
    out = os.path.join(folder, "singles")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    t0 = time.perf_counter()
    for i in range(n):
        timed(MODELPORT + ["convert", os.path.join(folder, "src", f"mlp{i}.onnx"), "--to", "tflite",
                           "-o", os.path.join(out, f"mlp{i}.tflite"), "--force"], folder)
    return time.perf_counter() - t0


def batch(folder: str, manifest: str, j: int, env: dict | None = None) -> float:
    shutil.rmtree(os.path.join(folder, "modelport-out"), ignore_errors=True)
    return timed(MODELPORT + ["batch", manifest, "-j", str(j), "--no-resume"], folder, env)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--baseline-ref", help="also run `batch -j 2` with this commit, side by side")
    args = ap.parse_args()
    runs: dict[str, list[float]] = {"singles": [], "batch -j1": [], "batch -j2": []}
    with tempfile.TemporaryDirectory(prefix="modelport-bench-batch-") as folder:
        manifest = setup(folder, args.jobs)
        baseline_env = None
        if args.baseline_ref:
            baseline_env = env_for(install_baseline(args.baseline_ref, os.path.join(folder, "baseline")))
            runs["baseline -j2"] = []
            batch(folder, manifest, 2, baseline_env)  # its bytecode caches too
        batch(folder, manifest, 2)  # warm the page cache and Python's bytecode caches (not counted)
        for r in range(args.repeat):
            order = list(runs)
            for name in (order if r % 2 == 0 else order[::-1]):
                if name == "singles":
                    seconds = singles(folder, args.jobs)
                elif name == "baseline -j2":
                    seconds = batch(folder, manifest, 2, baseline_env)
                else:
                    seconds = batch(folder, manifest, int(name[-1]))
                runs[name].append(seconds)
                print(f"repeat {r + 1}: {name}: {seconds:.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    speedup = med["batch -j1"] / med["batch -j2"]
    overhead = (med["batch -j1"] - med["singles"]) / args.jobs
    print(f"\n{args.jobs} jobs (mlp.onnx -> tflite, validated), {os.cpu_count()} cores, median of {args.repeat}\n")
    print("| variant | wall |\n|---|---|")
    for k, v in med.items():
        print(f"| {k} | {v:.1f} s |")
    print(f"\nspeed-up -j2 vs -j1: {speedup:.2f} (target >= 1.6: {'PASS' if speedup >= 1.6 else 'FAIL'})")
    print(f"batch overhead per job vs single commands: {overhead:+.2f} s "
          f"({overhead / (med['singles'] / args.jobs) * 100:+.1f}% of a single command's {med['singles'] / args.jobs:.2f} s)")
    if args.baseline_ref:
        ratio = med["batch -j2"] / med["baseline -j2"]
        print(f"batch -j2 against {args.baseline_ref}'s: {ratio:.2f}x (goal <= 0.7: {'met' if ratio <= 0.7 else 'MISSED'})")
    return 0 if speedup >= 1.6 else 1


if __name__ == "__main__":
    sys.exit(main())
