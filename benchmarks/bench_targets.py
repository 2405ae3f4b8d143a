"""Several targets in one `convert` against one command per target (issue 14's goal: at most 0.6x).

    python benchmarks/bench_targets.py [--repeat 3] [--source fixtures/models.py:cnn --input-shape image:1,3,32,32]
        [--targets onnx,savedmodel,tflite] [--json FILE]

Each repeat runs both sides as cold processes, exactly as a user types them, in alternating order
(so drift on a busy machine falls on both): `modelport convert SRC --to a,b,c -o DIR` against
`modelport convert SRC --to a`, then `--to b`, then `--to c`, validation on in both (the default).
It prints the median wall time of each side and the ratio one run / separate commands.
Exit status: 0, or 1 when a command failed.
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELPORT = [sys.executable, "-m", "modelport.cli"]


def _timed(args: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(MODELPORT + args, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"failed (exit {proc.returncode}): modelport {' '.join(args)}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def _output(folder: str, source: str, target: str) -> str:
    """Where `convert --to TARGET` writes by default, moved into `folder` (as `-o DIR` does for a list)."""
    sys.path.insert(0, ROOT)
    from modelport.pipeline.naming import default_output
    from modelport.types import Format

    return os.path.join(folder, os.path.basename(default_output(source, Format(target)).rstrip("/")))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="fixtures/models.py:cnn")
    parser.add_argument("--input-shape", default="image:1,3,32,32")
    parser.add_argument("--targets", default="onnx,savedmodel,tflite")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="write the timings here")
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    common = ["--input-shape", args.input_shape]
    together, separate = [], []
    scratch = tempfile.mkdtemp(prefix="modelport-bench-targets-")
    try:
        for k in range(args.repeat):
            one = os.path.join(scratch, f"one{k}")
            apart = os.path.join(scratch, f"apart{k}")
            os.makedirs(one)
            os.makedirs(apart)

            def run_together():
                together.append(_timed(["convert", args.source, "--to", ",".join(targets), "-o", one, *common]))

            def run_apart():
                separate.append(sum(_timed(["convert", args.source, "--to", t, "-o", _output(apart, args.source, t),
                                            *common]) for t in targets))

            for step in ((run_together, run_apart) if k % 2 == 0 else (run_apart, run_together)):
                step()
            print(f"repeat {k + 1}: one run {together[-1]:.1f} s, separate commands {separate[-1]:.1f} s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    a, b = statistics.median(together), statistics.median(separate)
    print(f"{args.source} -> {','.join(targets)}: one run {a:.1f} s, {len(targets)} commands {b:.1f} s "
          f"(medians of {args.repeat}); ratio {a / b:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"source": args.source, "targets": targets, "together_s": together, "separate_s": separate,
                       "ratio": a / b}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
