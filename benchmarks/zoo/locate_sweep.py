"""`modelport locate` on the corpus: silent on correct conversions, exact on mutants.

For each case and target (onnx, tflite, savedmodel, pytorch: pytorch -> onnx -> pytorch, paired
by the builder's record), through the CLI as a user runs it:
  1. `modelport convert SOURCE --to TARGET --no-validate` (the corpus's own source and shapes);
  2. `modelport locate SOURCE ARTIFACT`: a correct conversion must report no divergence (exit 0);
     a divergence there is a false one, a wrong verdict;
  3. the artifact's largest float weight nudged by +-1e-2 (benchmarks/zoo/mutants.py, the
     mutant the corpus's validator is judged by), then `modelport locate SOURCE MUTANT --mode
     local`: it must exit 1, and its first divergence is *exact* when the op that reads the nudged
     weight is in that divergence's layer (the artifact ops between the nearest compared tensors and
     it: a CONV_2D and the TRANSPOSE onnx2tf put after it), else it is downstream, and how many
     compared tensors later is recorded.

    python benchmarks/zoo/locate_sweep.py --out /tmp/sweep [--models PATTERN...] [--targets onnx,tflite] [--json FILE]

Exit status: 0 when every correct artifact was silent and every mutant was caught, 1 otherwise.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from benchmarks.zoo.models import cases  # noqa: E402
from benchmarks.zoo.mutants import mutate_onnx, mutate_pytorch, mutate_savedmodel, mutate_tflite  # noqa: E402

MODELPORT = [sys.executable, "-m", "modelport.cli"]
SUFFIX = {"onnx": ".onnx", "tflite": ".tflite", "savedmodel": "_savedmodel", "pytorch": ".pt2"}


def _run(args: list[str], timeout: float) -> tuple[int, str]:
    try:
        proc = subprocess.run(MODELPORT + args, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout:.0f} s"
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("modelport: error:")]
    return proc.returncode, (lines[-1] if lines else proc.stderr.strip().splitlines()[-1:] or [""])[0][:300]


MUTATE = {"onnx": mutate_onnx, "tflite": mutate_tflite, "savedmodel": mutate_savedmodel, "pytorch": mutate_pytorch}


def _readers(artifact: str, target: str, weight: str) -> set[str]:
    """The artifact ops that read the nudged weight, named as locate names them (none for a
    SavedModel: freezing renames its constants, so its mutants are judged caught or missed only)."""
    if target == "savedmodel":
        return set()
    if target == "pytorch":  # the .pt2's aten nodes that read the nudged parameter
        import torch

        module = torch.export.load(artifact).module()
        attrs = {n.name for n in module.graph.nodes if n.op == "get_attr" and n.target == weight}
        return {n.name for n in module.graph.nodes if n.op == "call_function"
                and any(getattr(a, "name", None) in attrs for a in n.args)}
    if target == "onnx":
        import onnx

        model = onnx.load(artifact, load_external_data=False)
        return {n.name for n in model.graph.node if weight in n.input}
    from modelport.validators.locate.graphs import from_tflite

    graph = from_tflite(artifact)
    from ai_edge_litert import schema_py_generated as schema

    with open(artifact, "rb") as f:
        model = schema.Model.GetRootAsModel(f.read(), 0)
    sg = model.Subgraphs(0)
    index = next(i for i in range(sg.TensorsLength()) if (sg.Tensors(i).Name() or b"").decode() == weight)
    ops = {k for k in range(sg.OperatorsLength()) if index in list(sg.Operators(k).InputsAsNumpy())}
    return {f"op {k}" for k in ops} & {t.producer for t in graph.tensors}


def sweep_one(case, target: str, out: str, timeout: float) -> dict:
    row = {"case": case.name, "target": target}
    folder = os.path.join(out, case.name)
    os.makedirs(folder, exist_ok=True)
    artifact = os.path.join(folder, case.name + SUFFIX[target])
    t0 = time.perf_counter()
    if not os.path.exists(artifact):
        via = ["--via", "onnx"] if target == "pytorch" else []  # a PyTorch source to PyTorch: the round trip
        rc, err = _run(["convert", case.source, "--to", target, *via, "-o", artifact, "--no-validate", *case.cli_args()],
                       timeout)
        if rc != 0:
            return {**row, "outcome": "conversion failed", "detail": err}
    row["convert_s"] = round(time.perf_counter() - t0, 1)
    report_path = os.path.join(folder, f"locate-{target}.json")
    t0 = time.perf_counter()
    rc, err = _run(["locate", case.source, artifact, "--json", report_path], timeout)
    row["locate_s"] = round(time.perf_counter() - t0, 1)
    if rc not in (0, 1):
        return {**row, "outcome": "locate failed", "detail": err}
    with open(report_path) as f:
        report = json.load(f)
    row["compared"] = sum(1 for t in report["tensors"] if t["passed"] is not None)
    row["graph"] = report["source_graph_size"]
    if rc == 1:
        first = next(t for t in report["tensors"] if t["source"] == report["first"])
        row.update(correct="false divergence", first=report["first"], detail=first["reason"][:200],
                   outputs_passed=report["outputs_passed"])
    else:
        row["correct"] = "silent"
    mutant = os.path.join(folder, "mutant_" + os.path.basename(artifact))
    if os.path.isdir(mutant):  # an earlier run's mutant: written anew (a SavedModel's is a folder)
        shutil.rmtree(mutant)
    elif os.path.exists(mutant):
        os.remove(mutant)
    weight = MUTATE[target](artifact, mutant)
    shutil.copy(artifact + ".modelport.json", mutant + ".modelport.json")
    readers = _readers(mutant, target, weight.rsplit(" [", 1)[0])
    mutant_report = os.path.join(folder, f"locate-{target}-mutant.json")
    rc, err = _run(["locate", case.source, mutant, "--mode", "local", "--json", mutant_report], timeout)
    row["mutated"] = weight
    if rc != 1:
        row["mutant"] = "missed" if rc == 0 else f"locate failed: {err}"
    else:
        with open(mutant_report) as f:
            m = json.load(f)
        first = next(t for t in m["tensors"] if t["source"] == m["first"])
        row["mutant_first"] = m["first"]
        layer = (first.get("local") or {}).get("layer") or []
        if not readers:
            row["mutant"] = "caught"
        elif first["candidate_node"] in readers or any(f"({r})" in op for op in layer for r in readers):
            row["mutant"] = "exact"
        else:
            order = [t["source"] for t in m["tensors"]]
            holds = [t["source"] for t in m["tensors"] if t["candidate_node"] in readers or
                     any(f"({r})" in op for op in (t.get("local") or {}).get("layer") or [] for r in readers)]
            row["mutant"] = "downstream" if holds else "located (no compared tensor's layer holds the nudged op)"
            if holds:
                row["distance"] = order.index(m["first"]) - order.index(holds[0])
    return {**row, "outcome": "done"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--models", nargs="*", default=["*"], help="name patterns (fnmatch)")
    parser.add_argument("--targets", default="onnx,tflite,savedmodel")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    chosen = [c for c in cases() if c.library != "keras" and any(fnmatch.fnmatch(c.name, p) for p in args.models)]
    rows = []
    targets = args.targets.split(",")
    if set(targets) - set(SUFFIX):
        parser.error(f"--targets: expected some of {', '.join(SUFFIX)}")
    for case in chosen:
        for target in targets:
            row = sweep_one(case, target, args.out, args.timeout)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump(rows, f, indent=1)
    done = [r for r in rows if r["outcome"] == "done"]
    silent = sum(r.get("correct") == "silent" for r in done)
    exact = sum(r.get("mutant") == "exact" for r in done)
    caught = sum(r.get("mutant") in ("exact", "caught", "downstream",
                                     "located (no compared tensor's layer holds the nudged op)") for r in done)
    print(f"{len(done)} cells located ({len(rows) - len(done)} not): correct artifacts silent {silent}/{len(done)}, "
          f"mutants caught {caught}/{len(done)}, first divergence at the nudged layer {exact}/{len(done)}")
    return 0 if silent == caught == len(done) else 1


if __name__ == "__main__":
    sys.exit(main())
