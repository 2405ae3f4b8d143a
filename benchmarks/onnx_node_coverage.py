"""Coverage of modelport's ONNX -> PyTorch converter on the ONNX backend operator tests.

Run:  .venv/bin/python benchmarks/onnx_node_coverage.py [--filter conv] [--failures] [--json OUT]
                                                         [--form fx|package] [--device cpu|cuda]
                                                         [--converter modelport|onnx2torch]

The onnx package ships `onnx/backend/test/data/node/<test>/model.onnx` with input and expected
output `.pb` files. Each test is converted (modelport.converters.onnx_torch.to_fx), run on its
inputs with torch, and compared with the expected outputs: allclose with atol 1e-4 and rtol 1e-3
for floats, exact for integers and booleans, shapes equal. Prints pass / total overall, per
operator, for the operators modelport must cover fully (MUST_PASS), and failures by reason.
`--form package` runs the Python package written from each converted module instead (model.py
with its copied helpers, imported back), to show that output format passes the same tests.
`--device cuda` runs each converted module on the GPU (inputs moved there, outputs compared on the CPU).
`--converter onnx2torch` measures onnx2torch on the same tests, for comparison; it is not part of the
pinned stack (it needs torchvision): put both on PYTHONPATH, e.g. `pip install --target DIR --no-deps
onnx2torch torchvision==<the one matching torch>`.

A test's operator is its single node's op type; a multi-node test (an `_expanded` function body)
counts for the operator its name starts with.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from collections import Counter, defaultdict

from modelport.converters.onnx_torch.conformance import MUST_PASS, node_tests_dir, operator_of, run_test

def main() -> int:
    import onnx

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--filter", help="only tests whose name contains this")
    ap.add_argument("--failures", action="store_true", help="list every failing test with its reason")
    ap.add_argument("--json", help="write every result to this file")
    ap.add_argument("--form", choices=["fx", "package"], default="fx",
                    help="run the converted fx module (default) or the Python package written from it")
    ap.add_argument("--device", default="cpu", help="torch device to run the converted modules on (cpu, cuda)")
    ap.add_argument("--converter", choices=["modelport", "onnx2torch"], default="modelport",
                    help="whose ONNX -> PyTorch converter to measure (onnx2torch: for comparison)")
    args = ap.parse_args()
    converter = None
    if args.converter == "onnx2torch":
        if args.form != "fx":
            ap.error("--form package applies to modelport's converter only")
        try:
            from onnx2torch import convert as converter
        except ImportError as e:
            ap.error(f"onnx2torch is not importable ({e}); it is not in the pinned stack, see the docstring")
    root = node_tests_dir()
    known_ops = sorted({s.name for s in onnx.defs.get_all_schemas()})
    results = {}
    by_op: dict[str, Counter] = defaultdict(Counter)
    for name in sorted(os.listdir(root)):
        if args.filter and args.filter not in name:
            continue
        folder = os.path.join(root, name)
        try:
            status, detail = run_test(folder, args.form, args.device, converter)
        except Exception as e:  # a bug in the harness or the converter: count it, keep going
            status, detail = "convert", f"{type(e).__name__}: {e}"
            traceback.print_exc(file=sys.stderr)
        op = operator_of(name, onnx.load(os.path.join(folder, "model.onnx"), load_external_data=False), known_ops)
        results[name] = {"operator": op, "status": status, "detail": detail}
        by_op[op][status] += 1
    total = len(results)
    passed = sum(r["status"] == "pass" for r in results.values())
    print(f"ONNX node tests passed: {passed} / {total} ({passed / max(total, 1):.1%}), onnx {onnx.__version__}, "
          f"opset {onnx.defs.onnx_opset_version()}, converter {args.converter}, form {args.form}, device {args.device}\n")
    print("must-pass operators (fixtures, common vision and transformer models):")
    must_total = must_pass = 0
    for op in MUST_PASS:
        c = by_op.get(op, Counter())
        n, p = sum(c.values()), c["pass"]
        must_total, must_pass = must_total + n, must_pass + p
        print(f"  {op:<24} {p:>3} / {n:<3}" + ("" if p == n else "  <-- not all pass"))
    print(f"  {'all must-pass':<24} {must_pass:>3} / {must_total}\n")
    print("per operator (pass / total):")
    for op in sorted(by_op):
        c = by_op[op]
        print(f"  {op:<32} {c['pass']:>3} / {sum(c.values())}")
    reasons = Counter(r["status"] for r in results.values() if r["status"] != "pass")
    print("\nfailures by reason: " + ", ".join(f"{k} {v}" for k, v in reasons.most_common()))
    missing = Counter(m for r in results.values() if r["status"] == "unsupported"
                      for m in re.findall(r"(\w+) \(", r["detail"].split(": ", 1)[-1]))
    print("most wanted unsupported operators: " + ", ".join(f"{k} ({v})" for k, v in missing.most_common(25)))
    if args.failures:
        print()
        for name, r in results.items():
            if r["status"] != "pass":
                print(f"{name}: {r['status']}: {r['detail']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
