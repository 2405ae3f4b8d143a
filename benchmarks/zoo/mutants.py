"""Mutants of the corpus's converted artifacts: does `modelport validate` catch a small wrong weight?

A validator that passes every artifact it is shown looks the same, on a corpus of correct
conversions, as one that works. So for every cell that a corpus run (`run.py`) found valid, this
script writes a mutant of the artifact modelport wrote: the float weight tensor with the most
elements gets every element nudged by 1e-2 with a seeded random sign (a dense +-1e-2 nudge, so no
normalisation after it can cancel it, as a uniform shift before a LayerNorm would), in the
artifact's own format, then judges it with `modelport validate SOURCE MUTANT` exactly as the
corpus runner judges the anchors. The mutant must fail parity (exit 1). Exit 0 is a missed
mutant: a wrong verdict.

    python benchmarks/zoo/mutants.py --out /tmp/zoo [--models PATTERN...] [--targets onnx,tflite] [--json FILE]

Format by format (each writes a copy; the corpus's artifact is untouched):
  onnx        the initializer (or Constant value) rewritten with onnx's numpy_helper;
  tflite      the buffer's bytes patched in a copy of the flatbuffer (tflite schema from LiteRT),
              located through the tensor that names it, so the file's layout stays as written;
  savedmodel  a Const node's tensor in the function library of saved_model.pb (onnx2tf writes its
              weights as constants), or, when the model holds variables, the variable re-saved;
  pytorch     the ExportedProgram's parameter, buffer or constant, saved with torch.export.save.
Exit status: 0 when every mutant judged was caught, 1 when one was missed, 2 for bad options.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from benchmarks.zoo import report  # noqa: E402
from benchmarks.zoo.models import cases  # noqa: E402

NUDGE = 1e-2
SEED = 0
MODELPORT = [sys.executable, "-m", "modelport.cli"]


def _noise(shape, dtype) -> np.ndarray:
    return (NUDGE * np.random.default_rng(SEED).choice([-1.0, 1.0], size=shape)).astype(dtype)


# ---------------------------------------------------------------------------------- one per format

def mutate_onnx(src: str, dst: str) -> str:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(src)
    tensors = list(model.graph.initializer)
    tensors += [a.t for n in model.graph.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"]
    best = max((t for t in tensors if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)),
               key=lambda t: int(np.prod(t.dims)) if len(t.dims) else 1)
    value = numpy_helper.to_array(best)
    best.CopyFrom(numpy_helper.from_array(value + _noise(value.shape, value.dtype), best.name))
    onnx.save(model, dst)
    return f"{best.name} {list(value.shape)}"


def mutate_tflite(src: str, dst: str) -> str:
    from ai_edge_litert import schema_py_generated as schema  # the tflite flatbuffer schema, shipped by LiteRT

    data = bytearray(open(src, "rb").read())
    model = schema.Model.GetRootAsModel(data, 0)
    best = None
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            if tensor.Type() != schema.TensorType.FLOAT32 or tensor.Buffer() <= 0:
                continue
            buffer = model.Buffers(tensor.Buffer())
            if buffer.DataLength() == 0 and not buffer.Offset():
                continue
            size = buffer.DataLength() or buffer.Size()
            if best is None or size > best[0]:
                best = (size, tensor, buffer)
    if best is None:
        raise RuntimeError("no float32 constant tensor in the flatbuffer")
    size, tensor, buffer = best
    if buffer.DataLength():  # the bytes live inside the flatbuffer: a writable view into `data`
        start = buffer._tab.Vector(buffer._tab.Offset(4))
    else:  # a large model's buffers after the flatbuffer, at an absolute offset
        start = buffer.Offset()
    view = np.frombuffer(data, dtype=np.float32, count=size // 4, offset=start)
    patched = view + _noise(view.shape, np.float32)
    data[start:start + size] = patched.tobytes()
    with open(dst, "wb") as f:
        f.write(data)
    return f"{tensor.Name().decode()} {tensor.ShapeAsNumpy().tolist()}"


def mutate_savedmodel(src: str, dst: str) -> str:
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework import tensor_util

    shutil.copytree(src, dst)
    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(src, "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    best = None
    for graph in [mg.graph_def for mg in sm.meta_graphs]:
        nodes = list(graph.node) + [n for fn in graph.library.function for n in fn.node_def]
        for node in nodes:
            if node.op != "Const" or node.attr["dtype"].type != 1:  # DT_FLOAT
                continue
            shape = [d.size for d in node.attr["value"].tensor.tensor_shape.dim]
            size = int(np.prod(shape)) if shape else 1
            if best is None or size > best[0]:
                best = (size, node)
    if best is None or best[0] < 2:  # the weights are variables (a Keras export), not constants
        return _mutate_variables(src, dst)
    _, node = best
    value = tensor_util.MakeNdarray(node.attr["value"].tensor)
    node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(value + _noise(value.shape, value.dtype)))
    with open(os.path.join(dst, "saved_model.pb"), "wb") as f:
        f.write(sm.SerializeToString())
    return f"{node.name} {list(value.shape)}"


def _reachable_variables(obj) -> list:
    """Every tf.Variable the loaded object holds, under whatever attribute its writer used (Keras:
    `.variables`; modelport's StableHLO SavedModels of an earlier commit: `.weights`)."""
    import tensorflow as tf

    found, seen, pending = [], set(), [obj]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, tf.Variable):
            found.append(item)
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        elif hasattr(item, "__dict__") and not callable(item):
            pending.extend(v for k, v in vars(item).items() if not k.startswith("_"))
    return found


def _mutate_variables(src: str, dst: str) -> str:
    import tensorflow as tf

    shutil.rmtree(dst)
    obj = tf.saved_model.load(src)
    variables = [v for v in _reachable_variables(obj) if v.dtype == tf.float32]
    if not variables:
        raise RuntimeError("variables on disk but none reachable from the loaded object")
    best = max(variables, key=lambda v: int(np.prod(v.shape)))
    best.assign(best.numpy() + _noise(tuple(best.shape), np.float32))
    tf.saved_model.save(obj, dst, signatures=dict(obj.signatures))
    return f"{best.name} {list(best.shape)}"


def mutate_pytorch(src: str, dst: str) -> str:
    import torch

    ep = torch.export.load(src)
    pools = [ep.state_dict, ep.constants]
    name, pool = max(((n, p) for p in pools for n, t in p.items() if isinstance(t, torch.Tensor) and t.is_floating_point()),
                     key=lambda item: item[1][item[0]].numel())
    tensor = pool[name]
    with torch.no_grad():
        tensor.add_(torch.from_numpy(_noise(tuple(tensor.shape), np.float32)).to(tensor.dtype))
    torch.export.save(ep, dst)
    return f"{name} {list(tensor.shape)}"


MUTATORS = {"onnx": mutate_onnx, "tflite": mutate_tflite, "savedmodel": mutate_savedmodel, "pytorch": mutate_pytorch}


def _mutant_path(artifact: str, target: str) -> str:
    if target == "savedmodel":
        return artifact.rstrip("/") + "_mutant"
    stem, ext = os.path.splitext(artifact)
    return f"{stem}.mutant{ext}"


# ---------------------------------------------------------------------------------- the check

def judge(record: dict, case, timeout: float, samples: int) -> dict:
    """Write the mutant of one valid cell's artifact (in a child process: the libraries stay out of
    this one) and validate it against the cell's source."""
    target, artifact = record["target"], record["artifact"]
    mutant = _mutant_path(artifact, target)
    if os.path.isdir(mutant):
        shutil.rmtree(mutant)
    elif os.path.exists(mutant):
        os.remove(mutant)
    out = {"row": record["row"], "target": target, "artifact": artifact, "mutant": mutant}
    made = subprocess.run([sys.executable, os.path.abspath(__file__), "--write-one", target, artifact, mutant],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if made.returncode != 0:
        out.update(verdict="not written", detail=(made.stderr.strip().splitlines() or ["?"])[-1][:300])
        return out
    out["nudged"] = made.stdout.strip().splitlines()[-1]
    source = record["source"]
    args = case.cli_args() if record.get("source_kind") == "callable" else []
    report_path = mutant + ".validate.json"
    cmd = MODELPORT + ["validate", source, mutant] + args + ["--samples", str(samples), "--json", report_path]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"))
    out["exit_code"] = proc.returncode
    try:
        data = json.load(open(report_path))
        worst = max((o.get("max_abs") or 0.0 for c in data.get("candidates", []) for o in c.get("outputs", [])),
                    default=None)
        out["max_abs"] = worst
    except (OSError, ValueError):
        pass
    out["verdict"] = {1: "caught", 0: "MISSED"}.get(proc.returncode, "error")
    if out["verdict"] == "error":
        out["detail"] = (proc.stderr.strip().splitlines() or ["?"])[-1][:300]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "out", "zoo"), help="the corpus run's folder")
    parser.add_argument("--models", nargs="*", help="glob patterns on the model name (default: every valid cell)")
    parser.add_argument("--targets", default="onnx,tflite,savedmodel,pytorch")
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json", help="write the verdicts here")
    parser.add_argument("--write-one", nargs=3, metavar=("TARGET", "ARTIFACT", "MUTANT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_one:
        target, artifact, mutant = args.write_one
        print(MUTATORS[target](artifact, mutant))
        return 0
    targets = [t for t in args.targets.split(",") if t]
    if any(t not in MUTATORS for t in targets):
        parser.error(f"--targets: choose from {', '.join(MUTATORS)}")
    by_name = {c.name: c for c in cases()}
    records = report.load(os.path.join(args.out, "results.jsonl"))
    chosen = [r for (row, target, column), r in sorted(records.items())
              if column == "modelport" and target in targets and r.get("status") == "valid"
              and (not args.models or any(fnmatch.fnmatch(r["model"], p) for p in args.models))]
    if not chosen:
        print("no valid modelport cell matches", file=sys.stderr)
        return 2
    verdicts = []
    for i, record in enumerate(chosen, 1):
        v = judge(record, by_name[record["model"]], args.timeout, args.samples)
        verdicts.append(v)
        print(f"[{i}/{len(chosen)}] {v['row']:34s} {v['target']:10s} {v['verdict']:11s} "
              f"{v.get('nudged', '')}  max abs {v.get('max_abs')}  {v.get('detail', '')}", flush=True)
    counts = {k: sum(v["verdict"] == k for v in verdicts) for k in ("caught", "MISSED", "error", "not written")}
    print("mutants: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"nudge": NUDGE, "seed": SEED, "verdicts": verdicts, "counts": counts}, f, indent=1)
    return 1 if counts["MISSED"] else 0


if __name__ == "__main__":
    sys.exit(main())
