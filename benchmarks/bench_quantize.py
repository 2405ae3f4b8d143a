"""What precision buys: float and quantized ONNX side by side (issue 16's figures).

Run:  .venv/bin/python benchmarks/bench_quantize.py [--models cnn cnn_trained resnet50 resnet50_trained resnet18 mobilenet_v2] [--json FILE]

For each model, through the CLI as a user runs it:
  the float ONNX (the fixture CNN and the light ResNet-50 as they are; corpus models converted from
  benchmarks/zoo/models.py with `modelport convert --to onnx`);
  modelport convert FLOAT --to onnx --quantize MODE [--calibration-data CAL.npz] --no-validate
      for MODE in dynamic-int8, int8 (static QDQ, 32 calibration samples; uint8 activations, and again
      with --int8-activations int8 as int8-s8s8), fp16;
  modelport validate FLOAT QUANT --samples 32 --preset int8|fp16 --json    (top-1 agreement with the
      float model over 32 samples other than the calibration's, cosine, max abs, the verdict);
  modelport bench FLOAT QUANT... --runs 200 --json    (every artifact in one command, side by side:
      ONNX Runtime's p50 at batch 1, the size on disk).
Calibration and judging samples are made by modelport's own input generator (validators/inputs.py),
seeds 1000+ for calibration, validate's 0..31 for judging; for cnn_trained and resnet50_trained (the
fixture CNN and torchvision's ResNet-50 trained offline: trained_models.py, converted from
its SOURCES with --weights) they are 32 each of the network's own data, given as
--calibration-data and `validate --inputs --shapes batch:32` (one batch of 32 rows, top-1 agreement
per row).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

from bench_convert import measure, modelport_cmd  # noqa: E402  (one wrapper for every CLI measure)

# name -> (the convert options that write it, the preset it is judged by). int8 is modelport's default
# (uint8 activations); int8-s8s8 the same with --int8-activations int8, side by side.
VARIANTS = {"dynamic-int8": (["--quantize", "dynamic-int8"], "int8"),
            "int8": (["--quantize", "int8"], "int8"),
            "int8-s8s8": (["--quantize", "int8", "--int8-activations", "int8"], "int8"),
            "fp16": (["--quantize", "fp16"], "fp16")}
SAMPLES = 32
TRAINED = {"cnn_trained": "cnn", "resnet50_trained": "resnet50"}  # model name -> trained_models.py architecture


def float_model(name: str, work: str) -> str:
    """The float ONNX of a model, written into `work` (or the fixture itself)."""
    if name == "cnn":
        return os.path.join(ROOT, "fixtures", "onnx", "cnn.onnx")
    if name in TRAINED:
        from trained_models import RECIPES, SOURCES, train

        arch = TRAINED[name]
        weights, _, _ = train(work, arch)
        out = os.path.join(work, f"{name}.onnx")
        size = RECIPES[arch].size
        measure(modelport_cmd("convert", os.path.join(ROOT, SOURCES[arch]), "--weights", weights, "--to", "onnx",
                              "--input-shape", f"image:batch,3,{size},{size}", "-o", out, "--no-validate"), work)
        return out
    if name == "resnet50":
        from bench_locate import build

        return build("resnet50", work)
    from benchmarks.zoo.models import cases

    case = next(c for c in cases() if c.name == name)
    out = os.path.join(work, f"{name}.onnx")
    measure(modelport_cmd("convert", case.source, "--to", "onnx", "-o", out, "--no-validate", *case.cli_args()), work)
    return out


def calibration(model: str, work: str) -> str:
    """SAMPLES inputs from modelport's generator, stacked on axis 0, as --calibration-data takes them."""
    import numpy as np
    import onnx

    from modelport.types import TensorSpec
    from modelport.validators import inputs as input_data

    graph = onnx.load(model, load_external_data=False).graph
    inits = {i.name for i in graph.initializer}
    specs = [TensorSpec(i.name, [d.dim_value or 1 for d in i.type.tensor_type.shape.dim]) for i in graph.input
             if i.name not in inits]
    samples = [input_data.generate(specs, seed=1000 + k) for k in range(SAMPLES)]
    path = os.path.join(work, os.path.basename(model) + ".calibration.npz")
    np.savez(path, **{s.name: np.concatenate([x[s.name] for x in samples]) for s in specs})
    return path


def bench_model(name: str, work: str) -> list[dict]:
    folder = os.path.join(work, name)
    os.makedirs(folder, exist_ok=True)
    source = float_model(name, folder)
    trained = TRAINED.get(name)  # its own data: calibration and judging samples (trained_models.py)
    cal = os.path.join(folder, f"{trained}_trained.calibration.npz") if trained else calibration(source, folder)
    # its 32 held-out images as one batch, and only that batch size (no generated size-proof rows)
    judged = (["--inputs", os.path.join(folder, f"{trained}_trained.judging.npz"), "--shapes", f"batch:{SAMPLES}"]
              if trained else ["--samples", str(SAMPLES)])
    rows, artifacts = [], {"float32": source}
    for mode, (args, preset) in VARIANTS.items():
        out = os.path.join(folder, f"{name}.{mode}.onnx")
        extra = ["--calibration-data", cal] if mode.startswith("int8") else []
        measure(modelport_cmd("convert", source, "--to", "onnx", *args, "-o", out, "--no-validate", *extra), folder)
        report = os.path.join(folder, f"{mode}.validate.json")
        try:
            measure(modelport_cmd("validate", source, out, *judged, "--preset", preset, "--json", report), folder)
        except RuntimeError:  # a parity failure is a figure too; the report says which rule broke
            pass
        with open(report) as f:
            cand = json.load(f)["candidates"][0]
        worst = max(cand["outputs"], key=lambda o: o.get("severity") or 0)
        rows.append({"model": name, "mode": mode, "passed": cand["passed"], "top1": worst.get("top1"),
                     "cosine": worst.get("cosine"), "max_abs": worst.get("max_abs"), "reason": worst.get("reason")})
        artifacts[mode] = out
    bench_json = os.path.join(folder, "bench.json")
    measure(modelport_cmd("bench", *artifacts.values(), "--runs", "200", "--json", bench_json), folder)
    with open(bench_json) as f:
        measured = {os.path.abspath(r["path"]): r for r in json.load(f)["results"]}
    base = measured[os.path.abspath(source)]
    out = [{"model": name, "mode": "float32", "passed": True, "top1": 1.0, "cosine": 1.0, "max_abs": 0.0,
            "size_mb": base["size_bytes"] / 2 ** 20, "size_x": 1.0, "p50_ms": base["latency_ms"]["p50"], "p50_x": 1.0}]
    for row in rows:
        r = measured[os.path.abspath(artifacts[row["mode"]])]
        out.append({**row, "size_mb": r["size_bytes"] / 2 ** 20, "size_x": r["size_bytes"] / base["size_bytes"],
                    "p50_ms": r["latency_ms"]["p50"] if r.get("latency_ms") else None,
                    "p50_x": r["latency_ms"]["p50"] / base["latency_ms"]["p50"] if r.get("latency_ms") else None})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["cnn", "cnn_trained", "resnet50", "resnet50_trained", "resnet18", "mobilenet_v2"])
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-quantize-")
    rows = []
    print("| model | precision | size (x float) | ORT p50 at batch 1 (x float) | top-1 agreement, 32 samples | cosine | verdict |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        for r in bench_model(name, work):
            rows.append(r)
            p50 = f"{r['p50_ms']:.3g} ms ({r['p50_x']:.2f}x)" if r["p50_ms"] is not None else "-"
            print(f"| {r['model']} | {r['mode']} | {r['size_mb']:.2f} MB ({r['size_x']:.2f}x) | {p50} | "
                  f"{(r['top1'] or 0):.1%} | {(r['cosine'] or 0):.5f} | {'pass' if r['passed'] else 'FAIL: ' + str(r['reason'])} |",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
