"""Benchmarks for modelport: CLI start-up, orchestration overhead and peak memory.

Run:  .venv/bin/python benchmarks/bench_convert.py [--quick] [--repeat N] [--json PATH]

Every measured command runs as a cold process (a fresh interpreter), because that is how users
run modelport and because modelport's own cost (CLI start, worker process, smoke run) only shows
against a cold baseline. Each modelport command is paired with a baseline that calls the
converter library directly; the pairs run in alternating order and we report medians, so a
machine that slows down (other work, thermal) biases neither side. See benchmarks/README.md.

Nothing is written into fixtures/; generated models and outputs live in one temp dir that is
removed at the end (also on failure or Ctrl-C).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from typing import Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
FIXTURE_CNN_ONNX = os.path.join(REPO, "fixtures", "onnx", "cnn.onnx")
FIXTURE_MODELS_PY = os.path.join(REPO, "fixtures", "models.py")

# Targets (the ratio is modelport / baseline; lower is better).
TARGET_HELP_SECONDS = 0.5
TARGET_OVERHEAD_RATIO = 1.15
TARGET_MEMORY_RATIO = 1.2
HEAVY_MODULES = ("torch", "tensorflow", "onnx2tf", "onnxruntime", "tf2onnx", "keras", "onnx", "numpy")

# Size of the generated large model: LAYERS Gemm layers of WIDTH x WIDTH float32 weights.
BIG_WIDTH = 2048
BIG_LAYERS = 6  # 6 * 2048 * 2048 * 4 B = 100.7 MB (96 MiB)

# Runs a command (argv[2:]) and writes {wall_s, cpu_s, rc, ru_maxrss_kb, tree_peak_kb} to argv[1].
# Why a wrapper: RUSAGE_CHILDREN must be read in a process whose only child is the measured
# command, so that earlier benchmarks do not leak into the number. ru_maxrss is the largest RSS of
# any single waited-for descendant (modelport's worker included); tree_peak_kb samples the sum of
# RSS over the whole process tree every 20 ms, which also counts the parent and the worker
# together while both are alive. cpu_s (user + sys of all descendants) is reported beside wall
# time because it is far less disturbed than wall time when other work shares the machine.
# Workers confined by the sandbox run in a PID namespace of their own, out of RUSAGE_CHILDREN's
# sight: modelport reports what they used in MODELPORT_USAGE_FILE (modelport/workers/usage.py),
# added here to cpu_s and ru_maxrss_kb.
WRAPPER = textwrap.dedent("""
    import json, os, resource, subprocess, sys, time
    import psutil
    out_path, cmd = sys.argv[1], sys.argv[2:]
    usage_path = out_path + ".usage.json"
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, "MODELPORT_USAGE_FILE": usage_path})
    peak = 0
    try:
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            total = 0
            try:
                for p in [root] + root.children(recursive=True):
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            peak = max(peak, total)
            time.sleep(0.02)
    except psutil.Error:
        pass
    rc = proc.wait()
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    hidden = {"cpu_seconds": 0.0, "max_rss_bytes": 0, "workers": 0}
    if os.path.exists(usage_path):
        with open(usage_path) as f:
            hidden.update(json.load(f))
        os.remove(usage_path)
    with open(out_path, "w") as f:
        json.dump({"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime + hidden["cpu_seconds"], "rc": rc,
                   "ru_maxrss_kb": max(ru.ru_maxrss, hidden["max_rss_bytes"] // 1024),
                   "confined_workers": hidden["workers"], "tree_peak_kb": peak // 1024}, f)
""")

# Which heavy modules does `modelport --help` import? Run in a fresh interpreter.
HELP_IMPORTS = textwrap.dedent("""
    import contextlib, io, json, sys
    from modelport.cli.main import cli
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            cli.main(["--help"], prog_name="modelport", standalone_mode=False)
        except SystemExit:
            pass
    print(json.dumps(sorted(m for m in HEAVY if m in sys.modules)))
""")

# Baseline for onnx -> tflite: onnx2tf alone, as a user would call it.
ONNX2TF_DIRECT = textwrap.dedent("""
    import sys
    import onnx2tf
    onnx2tf.convert(input_onnx_file_path=sys.argv[1], output_folder_path=sys.argv[2],
                    non_verbose=True, tflite_backend="flatbuffer_direct")
""")

# Baseline for pytorch -> onnx: torch.onnx.export alone; models.py imported by file path, as
# modelport imports `file.py:callable` sources.
TORCH_EXPORT_DIRECT = textwrap.dedent("""
    import importlib.util, sys
    import torch
    spec = importlib.util.spec_from_file_location("bench_models", sys.argv[1])
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    torch.onnx.export(models.cnn(), (torch.randn(1, 3, 32, 32),), sys.argv[2], dynamo=True,
                      input_names=["image"], output_names=["output"], opset_version=18, external_data=False)
""")

# Setup (not measured): fixtures/models.py:cnn exported with static shapes, batch 1.
STATIC_CNN_EXPORT = textwrap.dedent("""
    import contextlib, importlib.util, io, sys
    import torch
    spec = importlib.util.spec_from_file_location("bench_models", sys.argv[1])
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    with contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(models.cnn(), (torch.randn(1, 3, 32, 32),), sys.argv[2], dynamo=True,
                          input_names=["image"], output_names=["output"], external_data=False)
""")


# ---------------------------------------------------------------------------------------------
# Running commands
# ---------------------------------------------------------------------------------------------

def modelport_cmd(*args: str) -> list[str]:
    """The installed console script when there is one (what users run), else `python -m`."""
    script = os.path.join(os.path.dirname(PY), "modelport")
    return ([script] if os.path.exists(script) else [PY, "-m", "modelport.cli"]) + list(args)


def measure(cmd: list[str], work: str) -> dict:
    """Run `cmd` as a cold process under WRAPPER; return wall time and peak RSS.

    Raises with the log's tail when the command fails: a benchmark of a failed conversion would
    report a meaningless (short) time.
    """
    result_path = os.path.join(work, "measure.json")
    log_path = os.path.join(work, "measure.log")
    with open(log_path, "w") as log:
        subprocess.run([PY, "-c", WRAPPER, result_path, *cmd], stdout=log, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, cwd=REPO, check=False)
    with open(result_path) as f:
        res = json.load(f)
    os.remove(result_path)
    res["loadavg_1m"] = os.getloadavg()[0]  # kept in the raw numbers to explain noisy runs
    if res["rc"] != 0:
        with open(log_path, errors="replace") as f:
            tail = "\n".join(f.read().splitlines()[-20:])
        raise RuntimeError(f"command failed (exit {res['rc']}): {' '.join(cmd)}\n{tail}")
    return res


def fresh_dir(work: str, name: str) -> str:
    """An empty output folder, so that no run sees the previous run's files."""
    path = os.path.join(work, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def worker_seconds(artifact: str) -> float | None:
    """Sum of the per-edge worker times modelport records in its manifest (parent overhead = wall - this)."""
    try:
        with open(artifact + ".modelport.json") as f:
            return sum(s["seconds"] for s in json.load(f)["steps"])
    except (OSError, KeyError, ValueError):
        return None


def run_pair(name: str, modelport: Callable[[], dict], baseline: Callable[[], dict], repeat: int, warmup: bool) -> dict:
    """Run modelport and its baseline `repeat` times each, alternating which goes first.

    Alternating order stops a slow or fast phase of the machine from landing on one side only;
    an untimed warm-up pair fills the OS page cache with the libraries for both sides alike.
    """
    if warmup:
        modelport()
        baseline()
    runs = {"modelport": [], "baseline": []}
    for i in range(repeat):
        order = [("modelport", modelport), ("baseline", baseline)]
        for side, fn in order if i % 2 == 0 else order[::-1]:
            runs[side].append(fn())
        print(f"  {name} run {i + 1}/{repeat}: modelport {runs['modelport'][-1]['wall_s']:.2f} s, "
              f"baseline {runs['baseline'][-1]['wall_s']:.2f} s", flush=True)
    return runs


def median_of(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------------------------
# Model generation (setup, not measured)
# ---------------------------------------------------------------------------------------------

def make_static_cnn(work: str) -> str:
    """cnn exported at batch 1 without dynamic dims, so modelport skips its onnxsim step.

    The fixture cnn.onnx has a dynamic batch, which modelport fixes with onnxsim before onnx2tf
    and onnx2tf-direct does not: this model makes the comparison like for like.
    """
    path = os.path.join(work, "cnn_static.onnx")
    subprocess.run([PY, "-c", STATIC_CNN_EXPORT, FIXTURE_MODELS_PY, path], check=True, cwd=work,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if os.path.exists(path + ".data"):
        raise RuntimeError("static cnn export wrote external data")
    return path


def make_big_mlp(work: str) -> str:
    """An MLP of BIG_LAYERS Gemm layers (WIDTH x WIDTH float32, ~100 MB), static shapes, one file.

    Built with onnx.helper (no torch) so that setup is quick; Gemm + Relu is a graph onnx2tf's
    flatbuffer_direct backend converts. Weights are seeded and scaled so activations stay finite.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits = [], []
    prev = "input"
    for i in range(BIG_LAYERS):
        w = (rng.standard_normal((BIG_WIDTH, BIG_WIDTH), dtype=np.float32) / np.sqrt(BIG_WIDTH)).astype(np.float32)
        b = np.zeros(BIG_WIDTH, dtype=np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = "output" if i == BIG_LAYERS - 1 else f"h{i}"
        gemm_out = out if i == BIG_LAYERS - 1 else f"g{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [gemm_out], transB=1))
        if i < BIG_LAYERS - 1:
            nodes.append(helper.make_node("Relu", [gemm_out], [out]))
        prev = out
    graph = helper.make_graph(
        nodes, "big_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, BIG_WIDTH])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, BIG_WIDTH])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    onnx.checker.check_model(model)
    path = os.path.join(work, "big_mlp.onnx")
    onnx.save(model, path)
    return path


# ---------------------------------------------------------------------------------------------
# Benchmarks
# ---------------------------------------------------------------------------------------------

def bench_help(work: str, repeat: int) -> dict:
    """`modelport --help` wall time (cold), and which heavy libraries that path imports.

    A CLI that imports torch or TensorFlow for --help costs seconds on every typo; the target is
    under 0.5 s with none of them imported.
    """
    walls = [measure(modelport_cmd("--help"), work)["wall_s"] for _ in range(repeat)]
    code = f"HEAVY = {HEAVY_MODULES!r}\n" + HELP_IMPORTS
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    imported = json.loads(out.strip().splitlines()[-1])
    return {"wall_s": walls, "median_s": statistics.median(walls), "imported": imported,
            "heavy_imported": [m for m in imported if m in ("torch", "tensorflow")]}


def bench_onnx_to_tflite(work: str, model: str, repeat: int, warmup: bool, label: str) -> dict:
    """modelport onnx -> tflite against onnx2tf.convert called directly on the same file."""
    def mp():
        out = os.path.join(fresh_dir(work, "mp_out"), "model.tflite")
        # --no-validate: the baseline does not check numbers; the check's cost is measured by bench_validate.py
        res = measure(modelport_cmd("convert", model, "--to", "tflite", "-o", out, "--force", "--no-validate"), work)
        res["worker_s"] = worker_seconds(out)
        return res

    def base():
        out = fresh_dir(work, "base_out")
        res = measure([PY, "-c", ONNX2TF_DIRECT, model, out], work)
        if not any(n.endswith("_float32.tflite") for n in os.listdir(out)):
            raise RuntimeError(f"onnx2tf direct wrote no *_float32.tflite for {model}")
        return res

    return run_pair(label, mp, base, repeat, warmup)


def bench_pytorch_to_onnx(work: str, repeat: int, warmup: bool) -> dict:
    """modelport pytorch -> onnx against torch.onnx.export(dynamo=True) called directly."""
    def mp():
        out = os.path.join(fresh_dir(work, "mp_out"), "cnn.onnx")
        res = measure(modelport_cmd("convert", f"{FIXTURE_MODELS_PY}:cnn", "--to", "onnx",
                                    "--input-shape", "image:1,3,32,32", "-o", out, "--force", "--no-validate"), work)
        res["worker_s"] = worker_seconds(out)
        return res

    def base():
        out = os.path.join(fresh_dir(work, "base_out"), "cnn.onnx")
        res = measure([PY, "-c", TORCH_EXPORT_DIRECT, FIXTURE_MODELS_PY, out], work)
        if not os.path.exists(out):
            raise RuntimeError("torch.onnx.export direct wrote nothing")
        return res

    return run_pair("pytorch->onnx cnn", mp, base, repeat, warmup)


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

def summary_rows(results: dict) -> list[dict]:
    """One row per metric: modelport, baseline, ratio, target, pass/fail."""
    rows = []
    h = results["help"]
    rows.append({"metric": "modelport --help wall (s)", "modelport": h["median_s"], "baseline": None, "ratio": None,
                 "target": f"< {TARGET_HELP_SECONDS} s", "ok": h["median_s"] < TARGET_HELP_SECONDS})
    rows.append({"metric": "--help imports torch/tensorflow", "modelport": ",".join(h["heavy_imported"]) or "none",
                 "baseline": None, "ratio": None, "target": "none", "ok": not h["heavy_imported"]})

    def pair(metric, runs, key, unit, target, scale=1.0):
        m, b = median_of(runs["modelport"], key), median_of(runs["baseline"], key)
        ratio = m / b if m and b else None
        rows.append({"metric": f"{metric} ({unit})", "modelport": m * scale, "baseline": b * scale, "ratio": ratio,
                     "target": f"<= {target}" if target else "report",
                     "ok": (ratio is not None and ratio <= target) if target else None})

    pair("onnx->tflite cnn.onnx (dynamic batch) wall", results["onnx_tflite_dynamic"], "wall_s", "s", TARGET_OVERHEAD_RATIO)
    pair("onnx->tflite cnn.onnx (dynamic batch) CPU", results["onnx_tflite_dynamic"], "cpu_s", "s", None)
    pair("onnx->tflite cnn static wall", results["onnx_tflite_static"], "wall_s", "s", TARGET_OVERHEAD_RATIO)
    pair("onnx->tflite cnn static CPU", results["onnx_tflite_static"], "cpu_s", "s", None)
    pair("pytorch->onnx cnn wall", results["pytorch_onnx"], "wall_s", "s", None)
    pair("pytorch->onnx cnn CPU", results["pytorch_onnx"], "cpu_s", "s", None)
    big = results["big_memory"]
    pair(f"onnx->tflite big MLP {results['big_model_mb']:.0f} MB peak RSS, max process", big, "ru_maxrss_kb", "MB",
         TARGET_MEMORY_RATIO, 1 / 1024)
    pair("onnx->tflite big MLP peak RSS, process tree sum", big, "tree_peak_kb", "MB", TARGET_MEMORY_RATIO, 1 / 1024)
    pair("onnx->tflite big MLP wall", big, "wall_s", "s", None)
    pair("onnx->tflite big MLP CPU", big, "cpu_s", "s", None)
    return rows


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if v < 10 else f"{v:.1f}"
    return str(v)


def print_table(rows: list[dict]) -> None:
    """A fixed-width table; `ok` None means the row is reported without a target."""
    headers = ["metric", "modelport", "baseline", "ratio", "target", "result"]
    table = [[r["metric"], fmt(r["modelport"]), fmt(r["baseline"]), fmt(r["ratio"]), r["target"],
              "-" if r["ok"] is None else ("PASS" if r["ok"] else "FAIL")] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in table:
        print(line(row))


def print_breakdown(results: dict) -> None:
    """Where modelport's extra time goes: worker process wall vs parent (CLI, planning, placing)."""
    print("\nmodelport time split (medians): wall = parent (CLI, plan, manifest) + worker (convert + smoke run)")
    for key, label in (("onnx_tflite_dynamic", "onnx->tflite cnn.onnx"), ("onnx_tflite_static", "onnx->tflite cnn static"),
                       ("pytorch_onnx", "pytorch->onnx cnn"), ("big_memory", "onnx->tflite big MLP")):
        runs = results[key]
        wall, worker = median_of(runs["modelport"], "wall_s"), median_of(runs["modelport"], "worker_s")
        base = median_of(runs["baseline"], "wall_s")
        if worker is not None:
            print(f"  {label:<26} wall {wall:6.2f} s  worker {worker:6.2f} s  parent {wall - worker:5.2f} s  "
                  f"worker - baseline {worker - base:+6.2f} s")


def environment() -> dict:
    """What the numbers depend on, so results from different machines are not confused."""
    return {"date": datetime.date.today().isoformat(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "loadavg_start": os.getloadavg()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 repeat per measurement, no warm-up")
    ap.add_argument("--repeat", type=int, default=3, help="repeats of each conversion pair (default 3)")
    ap.add_argument("--help-repeat", type=int, default=5, help="repeats of `modelport --help` (default 5)")
    ap.add_argument("--json", dest="json_path", help="write all raw numbers to this file")
    args = ap.parse_args()
    repeat = 1 if args.quick else args.repeat
    help_repeat = 1 if args.quick else args.help_repeat
    warmup = not args.quick

    results: dict = {"environment": environment(), "repeat": repeat}
    if results["environment"]["loadavg_start"][0] > 0.5:
        print(f"note: load average {results['environment']['loadavg_start'][0]:.2f} at start; timings may be noisy")
    work = tempfile.mkdtemp(prefix="modelport-bench-")
    try:
        print("[1/4] modelport --help", flush=True)
        results["help"] = bench_help(work, help_repeat)
        print("[2/4] onnx->tflite, orchestration overhead", flush=True)
        results["onnx_tflite_dynamic"] = bench_onnx_to_tflite(work, FIXTURE_CNN_ONNX, repeat, warmup, "cnn.onnx (dynamic)")
        static = make_static_cnn(work)
        results["onnx_tflite_static"] = bench_onnx_to_tflite(work, static, repeat, warmup, "cnn static")
        print("[3/4] pytorch->onnx, orchestration overhead", flush=True)
        results["pytorch_onnx"] = bench_pytorch_to_onnx(work, repeat, warmup)
        print("[4/4] onnx->tflite on a ~100 MB model, peak memory", flush=True)
        big = make_big_mlp(work)
        results["big_model_mb"] = os.path.getsize(big) / 1e6
        results["big_memory"] = bench_onnx_to_tflite(work, big, repeat, False, "big MLP")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["environment"]["loadavg_end"] = os.getloadavg()

    rows = summary_rows(results)
    results["summary"] = rows
    print(f"\nmodelport benchmarks, {results['environment']['date']}, {os.cpu_count()} CPUs, "
          f"median of {repeat} (--help: {help_repeat}); ratio = modelport / baseline")
    print_table(rows)
    print_breakdown(results)
    print(f"\n--help imported: {', '.join(results['help']['imported']) or 'none of ' + ', '.join(HEAVY_MODULES)}")
    print(f"load average start {results['environment']['loadavg_start'][0]:.2f}, "
          f"end {results['environment']['loadavg_end'][0]:.2f}")
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(results, f, indent=2)
        print(f"raw numbers: {args.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
