"""Quantizing ONNX models past protobuf's 2 GB, through the CLI (issue 16: "models over 2 GB").

Run:  .venv/bin/python benchmarks/large_onnx.py [--pairs 5] [--modes dynamic-int8 int8 fp16] [--json FILE]

The model is built here (no downloads): a residual MLP, `pairs` blocks of x + W2·relu(W1·x) with
W1 4096x16384 and W2 16384x4096 float32 (268 MB each), a 4096x10 head, a dynamic batch; saved
with all its weights in one external data file, as exporters write models this large. 5 pairs
are 2.7 GB (int8 and fp16 fit one file); 8 pairs are 4.3 GB (fp16 is 2.1 GB: written as the
model and `<file>.data`). For each mode, as a user runs it:
    modelport convert large.onnx --to onnx --quantize MODE [--calibration-data cal.npz] -o OUT
with convert's validation on (the int8 / fp16 preset against the float source, the batch proven at
two sizes). Reported: wall time and peak memory of the command, the artifact's files and bytes
against the source's, the verdict, and whether ONNX Runtime runs the artifact from where it was
placed (its data file renamed with it); then one `modelport bench` of the float model and every
artifact, side by side (p50 at batch 1 and its ratio to float). Disk: about 3x the source, free.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_convert import measure, modelport_cmd  # noqa: E402  (one wrapper for every CLI measure)

D, H = 4096, 16384
BENCH_RUNS = 20


def build(path: str, pairs: int) -> None:
    """The residual MLP above, written with external data (seeded weights scaled by 1/sqrt(fan-in))."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits, nodes, x = [], [], "x"
    for i in range(pairs):
        w1 = rng.standard_normal((D, H), dtype=np.float32) / np.float32(np.sqrt(D))
        w2 = rng.standard_normal((H, D), dtype=np.float32) / np.float32(2 * np.sqrt(H))
        inits += [numpy_helper.from_array(w1, f"w1_{i}"), numpy_helper.from_array(w2, f"w2_{i}")]
        nodes += [helper.make_node("MatMul", [x, f"w1_{i}"], [f"h{i}"], name=f"up{i}"),
                  helper.make_node("Relu", [f"h{i}"], [f"r{i}"], name=f"relu{i}"),
                  helper.make_node("MatMul", [f"r{i}", f"w2_{i}"], [f"d{i}"], name=f"down{i}"),
                  helper.make_node("Add", [x, f"d{i}"], [f"x{i}"], name=f"residual{i}")]
        x = f"x{i}"
    inits.append(numpy_helper.from_array(rng.standard_normal((D, 10), dtype=np.float32) / np.float32(np.sqrt(D)), "head"))
    nodes.append(helper.make_node("MatMul", [x, "head"], ["logits"], name="classifier"))
    graph = helper.make_graph(nodes, "large_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", D])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location=os.path.basename(path) + ".data")


def _runs_where_placed(path: str):
    """True when ONNX Runtime loads the placed artifact from its final path and runs it (the model
    names its data file by its placed name), else the error."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        session.run(None, {"x": np.ones((2, D), np.float32)})
        return True
    except Exception as e:
        return f"{type(e).__name__}: {str(e)[:200]}"


def bench(paths: list[str], work: str) -> dict:
    """One `modelport bench` of the float model and every artifact, side by side (ONNX Runtime, batch
    1, BENCH_RUNS runs): p50 of each and its ratio to the float model's, printed and returned."""
    report = os.path.join(work, "bench.json")
    measure(modelport_cmd("bench", *paths, "--runs", str(BENCH_RUNS), "--json", report), work)
    with open(report) as f:
        measured = {os.path.abspath(r["path"]): r["latency_ms"]["p50"] for r in json.load(f)["results"]}
    base = measured[os.path.abspath(paths[0])]
    print(f"\nORT p50 at batch 1, one `modelport bench --runs {BENCH_RUNS}` of all:")
    for path in paths:
        p50 = measured[os.path.abspath(path)]
        print(f"  {os.path.basename(path)}: {p50:.1f} ms ({p50 / base:.2f}x float)")
    return {os.path.basename(p): measured[os.path.abspath(p)] for p in paths}


def files_of(path: str) -> dict[str, int]:
    return {os.path.basename(p): os.path.getsize(p) for p in (path, path + ".data") if os.path.exists(p)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=5, help="MLP blocks (2 x 268 MB of weights each)")
    parser.add_argument("--modes", nargs="+", default=["dynamic-int8", "int8", "fp16"])
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-large-onnx-")
    try:
        source = os.path.join(work, "large.onnx")
        build(source, args.pairs)
        cal = os.path.join(work, "cal.npz")
        np.savez(cal, x=np.random.default_rng(7).standard_normal((16, D)).astype(np.float32))
        source_bytes = sum(files_of(source).values())
        print(f"source: {source_bytes / 1e9:.2f} GB ({', '.join(files_of(source))})", flush=True)
        print("| mode | wall | peak RSS (process tree) | artifact files | size (x source) | verdict |")
        print("|---|---|---|---|---|---|")
        rows = []
        for mode in args.modes:
            out = os.path.join(work, f"large_{mode}.onnx")
            extra = ["--calibration-data", cal] if mode == "int8" else []
            res = measure(modelport_cmd("convert", source, "--to", "onnx", "--quantize", mode, "-o", out, *extra), work)
            with open(out + ".modelport.json") as f:
                cand = json.load(f)["validation"]["candidates"][0]
            files = files_of(out)
            loads = _runs_where_placed(out)
            row = {"runs_where_placed": loads, "mode": mode, "wall_s": res["wall_s"], "peak_rss_mb": res["tree_peak_kb"] / 1024, "files": files,
                   "size_x": sum(files.values()) / source_bytes, "passed": cand["passed"],
                   "cosine": cand["outputs"][0].get("cosine"), "sizes": cand.get("sizes")}
            rows.append(row)
            print(f"| {mode} | {res['wall_s']:.0f} s | {row['peak_rss_mb'] / 1024:.1f} GB | "
                  f"{', '.join(f'{k} ({v / 1e9:.2f} GB)' for k, v in files.items())} | {row['size_x']:.2f}x | "
                  f"{'pass' if row['passed'] else 'FAIL'} (cosine {row['cosine']:.6f}); "
                  f"{'runs where placed' if loads is True else 'does NOT run where placed: ' + str(loads)} |", flush=True)
            row["path"] = out
        latency = bench([source] + [r["path"] for r in rows], work)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"source_bytes": source_bytes, "pairs": args.pairs, "rows": rows, "bench": latency}, f, indent=1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
