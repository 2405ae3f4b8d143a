"""Validation overhead: `modelport validate` against the runtimes' own load + one inference.

Run:  .venv/bin/python benchmarks/bench_validate.py [--repeat N]

The fixture CNN in all four runtimes (PyTorch eager reference; ONNX Runtime, TensorFlow SavedModel
and TFLite candidates made once by `modelport convert`). In one process, after every library is
imported once (imports are not what either side is about), we alternate:
  raw:      load each model with its runtime's own API and run one inference, timed per runtime;
  validate: modelport.validators.validation.validate(...) with one sample, timed end to end
            (format detection, loading, input generation and mapping, four runs, metrics).
Ratio = validate wall / sum of the raw (load + inference) walls, median over repeats. Target 1.3.
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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CNN = os.path.join(REPO, "fixtures", "models.py") + ":cnn"
TARGET = 1.3


def make_artifacts(folder: str) -> dict[str, str]:
    """Convert the CNN once per target with the CLI (not timed)."""
    out = {}
    for to, name in (("onnx", "cnn.onnx"), ("savedmodel", "cnn_savedmodel"), ("tflite", "cnn.tflite")):
        path = os.path.join(folder, name)
        subprocess.run([sys.executable, "-m", "modelport.cli", "convert", CNN, "--to", to, "-o", path,
                        "--input-shape", "image:1,3,32,32", "--no-validate"], check=True, capture_output=True)
        out[to] = path
    return out


def raw_runs(paths: dict[str, str]) -> dict[str, float]:
    """Each runtime's own API: load + one inference, nothing else."""
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf
    import torch
    from ai_edge_litert.interpreter import Interpreter

    sys.path.insert(0, os.path.join(REPO, "fixtures"))
    import models

    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    times = {}
    t0 = time.perf_counter()
    m = models.cnn()
    with torch.no_grad():
        m(torch.from_numpy(x))
    times["torch"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    s = ort.InferenceSession(paths["onnx"], providers=["CPUExecutionProvider"])
    s.run(None, {"image": x})
    times["onnxruntime"] = time.perf_counter() - t0
    xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    t0 = time.perf_counter()
    fn = tf.saved_model.load(paths["savedmodel"]).signatures["serving_default"]
    fn(image=tf.constant(xh))
    times["tensorflow"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    it = Interpreter(model_path=paths["tflite"])
    it.get_signature_runner("serving_default")(image=xh)
    times["tflite"] = time.perf_counter() - t0
    return times


def validate_run(paths: dict[str, str]) -> tuple[float, bool]:
    from modelport.api import ValidateOptions, validate

    t0 = time.perf_counter()
    report = validate(CNN, [paths["onnx"], paths["savedmodel"], paths["tflite"]],
                      ValidateOptions(input_shapes=("image:1,3,32,32",)))
    return time.perf_counter() - t0, report.passed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    folder = tempfile.mkdtemp(prefix="modelport-bench-validate-")
    try:
        paths = make_artifacts(folder)
        raw_runs(paths)  # imports and first-use costs, on both sides' behalf
        validate_run(paths)
        raws, vals = [], []
        for i in range(args.repeat):
            order = (raw_runs, validate_run) if i % 2 == 0 else (validate_run, raw_runs)
            for fn in order:
                if fn is raw_runs:
                    raws.append(raw_runs(paths))
                else:
                    seconds, passed = validate_run(paths)
                    assert passed, "the fixture CNN should validate"
                    vals.append(seconds)
        sums = [sum(r.values()) for r in raws]
        ratio = statistics.median(vals) / statistics.median(sums)
        print(f"modelport validate, fixture CNN, 4 runtimes, 1 sample, median of {args.repeat}")
        for rt in raws[0]:
            print(f"  raw {rt:<12} load + 1 inference  {statistics.median(r[rt] for r in raws) * 1000:8.1f} ms")
        print(f"  raw sum                             {statistics.median(sums) * 1000:8.1f} ms")
        print(f"  modelport validate                  {statistics.median(vals) * 1000:8.1f} ms")
        print(f"  ratio {ratio:.2f} (target <= {TARGET}): {'PASS' if ratio <= TARGET else 'FAIL'}")
        return 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
