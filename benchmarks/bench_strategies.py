"""What the strategy search costs when every first strategy succeeds: convert on the fixtures, this
checkout against a baseline commit, side by side in one command.

Run:  .venv/bin/python benchmarks/bench_strategies.py --baseline-ref COMMIT [--repeat 5] [--json PATH]

The baseline commit and this checkout are both installed the same way (benchmarks/baseline.py),
and both run the same `modelport convert` commands as cold processes with the same
pinned stack, in alternating order (ABAB...); the medians are compared, so a machine that slows
down biases neither side. The claim checked: within 1.05x of the baseline's wall time.
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
import time

from baseline import env_for, install, install_baseline

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(REPO, "fixtures", "models.py")
CNN_ONNX = os.path.join(REPO, "fixtures", "onnx", "cnn.onnx")
TARGET_RATIO = 1.05

# (label, convert arguments after the source); outputs go to a temp folder.
CASES = [
    ("cnn.py -> tflite", [f"{MODELS}:cnn", "--to", "tflite", "--input-shape", "image:batch,3,32,32"]),
    ("cnn.py -> savedmodel", [f"{MODELS}:cnn", "--to", "savedmodel", "--input-shape", "image:batch,3,32,32"]),
    ("cnn.onnx -> tflite", [CNN_ONNX, "--to", "tflite"]),
    ("cnn.onnx -> pytorch", [CNN_ONNX, "--to", "pytorch"]),
]


def run_case(args: list[str], out: str, pythonpath: str) -> float:
    env = env_for(pythonpath)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "modelport.cli", "convert", *args, "-o", out, "--force"],
                          capture_output=True, text=True, env=env, cwd=os.path.dirname(out))
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-ref", required=True, help="the commit to compare with, e.g. the one before strategies")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", help="write the medians and ratios here")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="modelport-bench-strategies-")
    try:
        site = install_baseline(args.baseline_ref, tmp)
        this_site = install(REPO, os.path.join(tmp, "this-site"))  # the working tree, as it is
        rows = []
        for label, case in CASES:
            ext = ".tflite" if "tflite" in case else "_savedmodel" if "savedmodel" in case else ".pt2"
            times: dict[str, list[float]] = {"baseline": [], "this": []}
            for i in range(args.repeat):
                for side in (("baseline", "this") if i % 2 == 0 else ("this", "baseline")):
                    out = os.path.join(tmp, f"{side}{ext}")
                    times[side].append(run_case(case, out, site if side == "baseline" else this_site))
            base, this = statistics.median(times["baseline"]), statistics.median(times["this"])
            rows.append({"case": label, "baseline_s": round(base, 2), "this_s": round(this, 2),
                         "ratio": round(this / base, 3)})
            print(f"{label:<24} baseline {base:6.2f} s   this {this:6.2f} s   ratio {this / base:5.3f}", flush=True)
        total = sum(r["this_s"] for r in rows) / sum(r["baseline_s"] for r in rows)
        ok = total <= TARGET_RATIO
        print(f"{'all cases':<24} ratio {total:5.3f} (target <= {TARGET_RATIO}): {'met' if ok else 'MISSED'}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"baseline_ref": args.baseline_ref, "repeat": args.repeat, "cases": rows,
                           "ratio": round(total, 3), "target": TARGET_RATIO}, f, indent=2)
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
