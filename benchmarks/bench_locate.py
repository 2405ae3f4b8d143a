"""`modelport locate`'s cost against `modelport validate` of the same pair (issue 15's figures).

Run:  .venv/bin/python benchmarks/bench_locate.py [--repeat 3] [--network resnet50] [--mode accumulated]

The network is the ONNX model zoo's light one that the onnx package ships, with the seeded weights
of the model-zoo tests (tests/zoo_weights.py), converted to TFLite once by `modelport convert`.
Then, side by side and alternating, cold CLI processes as a user runs them (under
bench_convert.py's wrapper: wall time, and the peak RSS of the command and of its confined
workers, which report their own):
  validate: modelport validate NET.onnx NET.tflite
  locate:   modelport locate NET.onnx NET.tflite --json (its report splits the time into opening
            and running both models as validate does, capturing the intermediates, comparing)
Figures (medians): locate / validate wall; locate / (validate + locate's capture time), the
issue's goal (at most 3); and locate's extra peak memory over validate's, as a share of holding
every compared intermediate tensor once, both sides (goal: at most 1.5).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from bench_convert import measure, modelport_cmd  # noqa: E402  (one wrapper for every CLI measure)


def build(network: str, folder: str) -> str:
    """The light network with the model-zoo tests' seeded, well-conditioned weights."""
    import numpy as np
    import onnx

    from zoo_weights import well_conditioned, with_random_weights

    light = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", f"light_{network}.onnx")
    model = with_random_weights(onnx.load(light), seed=0)
    inits = {i.name for i in model.graph.initializer}
    data = next(i for i in model.graph.input if i.name not in inits)
    shape = [d.dim_value or 1 for d in data.type.tensor_type.shape.dim]
    feeds = [{data.name: np.random.default_rng(100 + k).standard_normal(shape).astype(np.float32)} for k in range(4)]
    path = os.path.join(folder, f"{network}.onnx")
    onnx.save(well_conditioned(model, feeds), path)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--network", default="resnet50")
    parser.add_argument("--mode", default="accumulated", choices=["accumulated", "local"])
    parser.add_argument("--json", help="write the raw runs and the figures here")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-locate-")
    source = build(args.network, work)
    artifact = os.path.join(work, f"{args.network}.tflite")
    measure(modelport_cmd("convert", source, "--to", "tflite", "-o", artifact, "--no-validate"), work)
    report_path = os.path.join(work, "locate.json")
    runs: dict[str, list[dict]] = {"validate": [], "locate": []}
    for i in range(args.repeat):
        order = ["validate", "locate"] if i % 2 == 0 else ["locate", "validate"]
        for name in order:
            cmd = modelport_cmd("validate", source, artifact) if name == "validate" else \
                modelport_cmd("locate", source, artifact, "--mode", args.mode, "--json", report_path)
            res = measure(cmd, work)
            if name == "locate":
                with open(report_path) as f:
                    report = json.load(f)
                res["report_seconds"] = report["seconds"]
                res["first"] = report["first"]
                res["intermediate_bytes"] = sum(4 * _count(t.get("shape")) + 4 * _count(t.get("candidate_shape"))
                                                for t in report["tensors"])
                res["compared"] = len(report["tensors"])
            runs[name].append(res)
            print(f"{name:8} run {i + 1}: {res['wall_s']:.1f} s, peak {res['ru_maxrss_kb'] / 1024:.0f} MB", flush=True)
    med = lambda name, key: statistics.median(r[key] for r in runs[name])  # noqa: E731
    capture = statistics.median(r["report_seconds"]["capture"] for r in runs["locate"])
    validate_s, locate_s = med("validate", "wall_s"), med("locate", "wall_s")
    extra_mb = (med("locate", "ru_maxrss_kb") - med("validate", "ru_maxrss_kb")) / 1024
    held_mb = runs["locate"][0]["intermediate_bytes"] / 2 ** 20
    figures = {
        "network": args.network, "mode": args.mode, "compared_tensors": runs["locate"][0]["compared"],
        "first_divergence": runs["locate"][0]["first"],
        "validate_s": round(validate_s, 2), "locate_s": round(locate_s, 2), "capture_s": round(capture, 2),
        "locate_over_validate": round(locate_s / validate_s, 2),
        "locate_over_validate_plus_capture": round(locate_s / (validate_s + capture), 2),
        "validate_peak_mb": round(med("validate", "ru_maxrss_kb") / 1024), "locate_peak_mb": round(med("locate", "ru_maxrss_kb") / 1024),
        "intermediates_mb": round(held_mb, 1), "extra_peak_over_intermediates": round(extra_mb / held_mb, 2) if held_mb else None,
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"figures": figures, "runs": runs}, f, indent=1)
    return 0


def _count(shape) -> int:
    n = 1
    for d in shape or []:
        n *= max(1, int(d))
    return n if shape else 0


if __name__ == "__main__":
    sys.exit(main())
