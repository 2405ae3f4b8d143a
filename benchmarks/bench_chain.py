"""`modelport convert` against the chain a user glues by hand (issue 14's goals).

    python benchmarks/bench_chain.py [--repeat 3] [--cases mlp-savedmodel,cnn-tflite,...] [--json FILE]

Cases: the issue's 5 -> 10 -> 1 MLP (Linear, ReLU, Linear; written to a temporary models.py) and
the fixture CNN (fixtures/models.py:cnn), each to savedmodel and to tflite. Per case and repeat,
three cold processes in rotating order (so a machine that slows down biases no side):
  modelport     `modelport convert SRC --to T -o OUT --input-shape ...` (validation on: the default);
  no-validate   the same with --no-validate;
  hand-glued    one Python process doing what a user writes by hand: torch.onnx.export (dynamo,
                as modelport's first strategy), onnx2tf.convert (flatbuffer_direct, as modelport's
                first strategy), then the source's output checked once in ONNX Runtime and once
                in TensorFlow (the SavedModel's signature, or the TFLite interpreter).
It prints each side's median wall time and the ratios modelport / hand-glued (goal <= 1.2) and
modelport / no-validate (goal <= 1.15). Exit status 0, or 1 when a command failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELPORT = [sys.executable, "-m", "modelport.cli"]
GOAL_CHAIN, GOAL_VALIDATION = 1.2, 1.15

MLP_SOURCE = textwrap.dedent('''
    import torch


    def simple():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(5, 10), torch.nn.ReLU(), torch.nn.Linear(10, 1)).eval()
''')

# The hand-glued chain, as one script: argv = models.py callable input-name shape target workdir.
GLUED = textwrap.dedent('''
    import importlib.util, os, sys
    import numpy as np
    import torch

    path, attr, name, shape, target, work = sys.argv[1:7]
    spec = importlib.util.spec_from_file_location("user_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, attr)()
    x = torch.randn(*[int(d) for d in shape.split(",")])
    onnx_path = os.path.join(work, "model.onnx")
    torch.onnx.export(model, (x,), onnx_path, dynamo=True, input_names=[name], output_names=["output"])
    import onnx2tf
    out = os.path.join(work, "tf")
    onnx2tf.convert(input_onnx_file_path=onnx_path, output_folder_path=out, non_verbose=True,
                    tflite_backend="flatbuffer_direct", flatbuffer_direct_output_saved_model=target == "savedmodel")
    with torch.no_grad():
        want = model(x).numpy()
    import onnxruntime as ort
    got = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).run(None, {name: x.numpy()})[0]
    assert np.allclose(got, want, atol=1e-4, rtol=1e-3), "onnx differs"
    nhwc = x.numpy().transpose(0, 2, 3, 1) if x.ndim == 4 else x.numpy()
    if target == "savedmodel":
        import tensorflow as tf
        fn = tf.saved_model.load(out).signatures["serving_default"]
        got = list(fn(**{fn.structured_input_signature[1].popitem()[0]: tf.constant(nhwc)}).values())[0].numpy()
    else:
        from ai_edge_litert.interpreter import Interpreter
        tfl = [f for f in os.listdir(out) if f.endswith("_float32.tflite")][0]
        it = Interpreter(model_path=os.path.join(out, tfl))
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], nhwc)
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"])
    assert np.allclose(got.reshape(want.shape) if got.size == want.size else got, want, atol=1e-4, rtol=1e-3), \\
        "tensorflow differs"
''')


def _timed(argv: list[str], cwd: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=cwd)
    if proc.returncode != 0:
        raise SystemExit(f"failed (exit {proc.returncode}): {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def _cases(scratch: str) -> dict[str, tuple[str, str, str, str]]:
    """name -> (models.py, callable, input name, shape) per model; targets are added by name."""
    mlp = os.path.join(scratch, "models.py")
    with open(mlp, "w") as f:
        f.write(MLP_SOURCE)
    return {"mlp": (mlp, "simple", "input", "1,5"),
            "cnn": (os.path.join(ROOT, "fixtures", "models.py"), "cnn", "image", "1,3,32,32")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="mlp-savedmodel,mlp-tflite,cnn-savedmodel,cnn-tflite")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="write the timings here")
    args = parser.parse_args(argv)
    scratch = tempfile.mkdtemp(prefix="modelport-bench-chain-")
    results = {}
    try:
        models = _cases(scratch)
        for case in [c for c in args.cases.split(",") if c]:
            model, target = case.split("-")
            path, attr, name, shape = models[model]
            times: dict[str, list[float]] = {"modelport": [], "no-validate": [], "hand-glued": []}
            for k in range(args.repeat):
                work = os.path.join(scratch, f"{case}-{k}")
                os.makedirs(work)
                suffix = {"savedmodel": ".savedmodel", "tflite": ".tflite"}[target]
                common = ["convert", f"{path}:{attr}", "--to", target, "--input-shape", f"{name}:{shape}"]
                glued_dir = os.path.join(work, "glued")
                os.makedirs(glued_dir)
                sides = {
                    "modelport": MODELPORT + common + ["-o", os.path.join(work, "validated" + suffix)],
                    "no-validate": MODELPORT + common + ["--no-validate", "-o", os.path.join(work, "plain" + suffix)],
                    "hand-glued": [sys.executable, "-c", GLUED, path, attr, name, shape, target, glued_dir],
                }
                order = list(sides)[k % 3:] + list(sides)[:k % 3]
                for side in order:
                    times[side].append(_timed(sides[side], ROOT))
                print(f"{case} repeat {k + 1}: " + ", ".join(f"{s} {times[s][-1]:.1f} s" for s in sides), flush=True)
            med = {s: statistics.median(v) for s, v in times.items()}
            results[case] = {"seconds": times, "median": med, "vs_glued": med["modelport"] / med["hand-glued"],
                             "vs_no_validate": med["modelport"] / med["no-validate"]}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{'case':16} {'modelport':>10} {'no-valid.':>10} {'glued':>10} {'/glued':>8} {'/no-val.':>9}")
    for case, r in results.items():
        m = r["median"]
        print(f"{case:16} {m['modelport']:9.1f}s {m['no-validate']:9.1f}s {m['hand-glued']:9.1f}s "
              f"{r['vs_glued']:7.2f}x {r['vs_no_validate']:8.2f}x")
    print(f"goals: modelport / hand-glued <= {GOAL_CHAIN}, modelport / no-validate <= {GOAL_VALIDATION} "
          f"(medians of {args.repeat} cold runs per side)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
