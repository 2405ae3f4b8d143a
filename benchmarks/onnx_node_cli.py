"""ONNX -> PyTorch coverage on the product path: `modelport convert --to pytorch` exactly as a user
runs it, then the written artifact loaded back and run on the test's own inputs.

Run:  .venv/bin/python benchmarks/onnx_node_cli.py [--every N] [--filter TEXT] [--forms exported_program,torchscript,package]
                                                   [--jobs 2] [--out DIR] [--json OUT] [--failures]

benchmarks/onnx_node_coverage.py measures the converter's torch.fx module in-process; this script
measures what users get: each node test's `model.onnx` goes through the CLI (its own process,
its planner, the strategies, the smoke run; validation off, because the expected outputs of the
test are the judge here), and the artifact it wrote is loaded as a user loads it
(`torch.export.load(path).module()`, `torch.jit.load(path)`, or the package's `load()`) in a fresh
process, run on `test_data_set_0`'s inputs and compared with its outputs by the rule of the
coverage script (allclose atol 1e-4 rtol 1e-3; exact for integers). `--every 27` takes every 27th
test (a 62-test sample of the 1653). Results are appended to OUT/results.jsonl, so a re-run
resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMS = {"exported_program": ".pt2", "torchscript": ".pt", "package": "_pytorch"}

# Run in a fresh process: load the artifact as a user does and judge it on the test's data.
CHECK = r"""
import json, os, sys
import onnx, torch
from modelport.converters.onnx_torch.conformance import compare_outputs, load_test_data, to_torch
folder, artifact, form = sys.argv[1:4]
inputs, expected = load_test_data(folder, onnx.load(os.path.join(folder, "model.onnx"), load_external_data=False))
if form == "exported_program":
    module = torch.export.load(artifact).module()
elif form == "torchscript":
    module = torch.jit.load(artifact)
else:
    sys.path.insert(0, os.path.dirname(artifact))
    module = __import__(os.path.basename(artifact)).load()
with torch.no_grad():
    out = module(*[to_torch(x) for x in inputs])
why = compare_outputs(out, expected)
print(json.dumps({"status": "mismatch" if why else "pass", "detail": why or ""}))
"""


def _first(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("modelport: error:")]
    return (errors[0] if errors else lines[-1] if lines else "")[:300]


def run_one(folder: str, form: str, out_dir: str, timeout: float) -> dict:
    name = os.path.basename(folder)
    artifact = os.path.join(out_dir, name, "model" + FORMS[form])
    os.makedirs(os.path.dirname(artifact), exist_ok=True)
    t0 = time.perf_counter()
    try:
        conv = subprocess.run([sys.executable, "-m", "modelport.cli", "convert", os.path.join(folder, "model.onnx"),
                               "--to", "pytorch", "--pytorch-format", form, "-o", artifact, "--force", "--no-validate"],
                              capture_output=True, text=True, timeout=timeout, cwd=os.path.dirname(artifact))
    except subprocess.TimeoutExpired:
        return {"test": name, "form": form, "status": "convert", "detail": f"timed out after {timeout} s"}
    if conv.returncode != 0:
        return {"test": name, "form": form, "status": "convert", "exit_code": conv.returncode,
                "detail": _first(conv.stderr), "seconds": round(time.perf_counter() - t0, 2)}
    try:
        check = subprocess.run([sys.executable, "-c", CHECK, folder, artifact, form], capture_output=True, text=True,
                               timeout=timeout, cwd=os.path.dirname(artifact))
    except subprocess.TimeoutExpired:
        return {"test": name, "form": form, "status": "run", "detail": f"timed out after {timeout} s"}
    seconds = round(time.perf_counter() - t0, 2)
    if check.returncode != 0 or not check.stdout.strip():
        return {"test": name, "form": form, "status": "run", "detail": _first(check.stderr), "seconds": seconds}
    return {"test": name, "form": form, **json.loads(check.stdout.strip().splitlines()[-1]), "seconds": seconds}


def main() -> int:
    from modelport.converters.onnx_torch.conformance import node_tests_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--every", type=int, default=1, help="take every Nth test (sorted by name)")
    ap.add_argument("--filter", help="only tests whose name contains this")
    ap.add_argument("--forms", default="exported_program,torchscript,package")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--out", default="onnx-node-cli-out")
    ap.add_argument("--json", help="write the results and rates here")
    ap.add_argument("--failures", action="store_true", help="list every failing test with its reason")
    args = ap.parse_args()
    forms = [f.strip() for f in args.forms.split(",") if f.strip()]
    if bad := [f for f in forms if f not in FORMS]:
        ap.error(f"unknown form(s) {', '.join(bad)} (choose from {', '.join(FORMS)})")
    root = node_tests_dir()
    names = sorted(n for n in os.listdir(root) if not args.filter or args.filter in n)[::args.every]
    os.makedirs(args.out, exist_ok=True)
    record = os.path.join(args.out, "results.jsonl")
    done = {}
    if os.path.exists(record):
        for line in open(record):
            r = json.loads(line)
            done[(r["test"], r["form"])] = r
    todo = [(n, f) for n in names for f in forms if (n, f) not in done]
    with ThreadPoolExecutor(args.jobs) as pool, open(record, "a") as sink:
        for r in pool.map(lambda nf: run_one(os.path.join(root, nf[0]), nf[1], args.out, args.timeout), todo):
            done[(r["test"], r["form"])] = r
            sink.write(json.dumps(r) + "\n")
            sink.flush()
    summary = {}
    for form in forms:
        rows = [done[(n, form)] for n in names]
        passed = sum(r["status"] == "pass" for r in rows)
        summary[form] = {"passed": passed, "total": len(rows), "rate": round(passed / max(len(rows), 1), 4)}
        print(f"{form:<17} {passed} / {len(rows)} ({passed / max(len(rows), 1):.1%}) through `modelport convert`")
        if args.failures:
            for r in rows:
                if r["status"] != "pass":
                    print(f"    {r['test']}: {r['status']}: {r.get('detail', '')[:200]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"every": args.every, "filter": args.filter, "summary": summary,
                       "results": [done[(n, f)] for n in names for f in forms]}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
