"""TF.js in Node: `modelport bench`'s p50 against a raw `model.execute` loop, and TF.js beside the other runtimes.

1. Harness overhead. For each backend (cpu, wasm), alternately, ROUNDS times: `modelport bench
   MODEL_tfjs --tfjs-backend B --runs N --json` (the product path: a worker process, the runner's
   Node process, the timing loop inside Node) and a plain Node script that loads the same folder
   and times `model.execute(x)` + `dataSync()` N times in a loop (the raw figure a user would write),
   after the same warm-up as bench's defaults (5 calls and 0.5 s).
   Printed: each side's median p50 and their ratio (the goal: within 5%).
2. The runtimes side by side: `modelport bench` on the fixture CNN's ONNX, SavedModel, TFLite and
   TF.js (both backends), one command, batch 1 (the README's table).

    python benchmarks/bench_tfjs.py [--runs 300] [--rounds 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELPORT = [sys.executable, "-m", "modelport.cli"]
SOURCE = os.path.join(ROOT, "fixtures", "models.py") + ":cnn"
SHAPE = "image:batch,3,32,32"

RAW_LOOP = r"""
const tf = require('@tensorflow/tfjs-core'); require('@tensorflow/tfjs-backend-cpu');
const converter = require('@tensorflow/tfjs-converter');
const fs = require('fs'), path = require('path');
console.warn = console.log = () => {};
(async () => {
  const [dir, backend, runs, warmup] = [process.argv[2], process.argv[3], +process.argv[4], +process.argv[5]];
  if (backend === 'wasm') {
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), path.sep));
  }
  await tf.setBackend(backend); await tf.ready();
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'model.json')));
  const bufs = spec.weightsManifest.flatMap(g => g.paths.map(p => fs.readFileSync(path.join(dir, p))));
  const all = Buffer.concat(bufs);
  const model = await converter.loadGraphModel({load: async () => ({
    modelTopology: spec.modelTopology, weightSpecs: spec.weightsManifest.flatMap(g => g.weights),
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength), signature: spec.signature,
    format: spec.format})});
  const input = Object.entries(spec.signature.inputs)[0];
  const shape = input[1].tensorShape.dim.map(d => Math.max(1, Number(d.size)));
  const x = tf.randomUniform(shape);
  const feed = {[input[0]]: x};
  const once = () => {
    const t0 = process.hrtime.bigint();
    const y = model.execute(feed);
    (Array.isArray(y) ? y : [y]).forEach(t => { t.dataSync(); t.dispose(); });
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  // the same warm-up as bench's defaults: at least 5 calls and 0.5 s (V8 and wasm tier up meanwhile)
  const start = process.hrtime.bigint();
  for (let i = 0; i < warmup || Number(process.hrtime.bigint() - start) < 0.5e9; i++) once();
  const ms = [];
  for (let i = 0; i < runs; i++) ms.push(once());
  ms.sort((a, b) => a - b);
  const p50 = ms.length % 2 ? ms[(ms.length - 1) / 2] : (ms[ms.length / 2 - 1] + ms[ms.length / 2]) / 2;
  process.stdout.write(JSON.stringify({p50}) + '\n');
})();
"""


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, **kw)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def harness_p50(model: str, backend: str, runs: int, out: str) -> float:
    report = os.path.join(out, f"bench_{backend}.json")
    run(MODELPORT + ["bench", model, "--tfjs-backend", backend, "--runs", str(runs), "--json", report])
    with open(report) as f:
        return json.load(f)["results"][0]["latency_ms"]["p50"]


def raw_p50(model: str, backend: str, runs: int, script: str) -> float:
    from modelport.node_runtime import node_binary, node_modules

    env = {**os.environ, "NODE_PATH": node_modules()}
    proc = run([node_binary(), script, model, backend, str(runs), "5"], env=env)
    return json.loads(proc.stdout.strip().splitlines()[-1])["p50"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None, help="where to write the artifacts (default: a temporary folder)")
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="bench-tfjs-")
    os.makedirs(out, exist_ok=True)
    print(f"converting {SOURCE} to onnx, savedmodel, tflite and tfjs in {out}", flush=True)
    run(MODELPORT + ["convert", SOURCE, "--to", "onnx,savedmodel,tflite,tfjs", "-o", out, "--input-shape", SHAPE,
                     "--force"])
    tfjs = os.path.join(out, "cnn_tfjs")
    script = os.path.join(out, "raw_loop.js")
    with open(script, "w") as f:
        f.write(RAW_LOOP)

    print(f"\n1. harness p50 against a raw model.execute loop ({args.runs} runs, {args.rounds} alternating rounds)")
    for backend in ("cpu", "wasm"):
        harness, raw = [], []
        for _ in range(args.rounds):
            harness.append(harness_p50(tfjs, backend, args.runs, out))
            raw.append(raw_p50(tfjs, backend, args.runs, script))
        h, r = statistics.median(harness), statistics.median(raw)
        print(f"  {backend:5s} harness p50 {h:.4f} ms  raw loop p50 {r:.4f} ms  ratio {h / r:.3f}  "
              f"(rounds: harness {', '.join(f'{x:.4f}' for x in harness)}; raw {', '.join(f'{x:.4f}' for x in raw)})")

    print("\n2. the runtimes side by side (modelport bench, batch 1)")
    report = os.path.join(out, "bench_all.json")
    models = [os.path.join(out, n) for n in ("cnn.onnx", "cnn_savedmodel", "cnn.tflite", "cnn_tfjs")]
    run(MODELPORT + ["bench", *models, "--runs", str(args.runs), "--threads", "1", "--json", report])
    with open(report) as f:
        rows = json.load(f)["results"]
    print("| artifact | runtime | p50 ms | p90 ms | peak RSS MB |")
    print("|---|---|---|---|---|")
    for r in rows:
        lat = r["latency_ms"]
        print(f"| {r['label']} | {r['runtime']} {r.get('runtime_version') or ''} | {lat['p50']:.3f} | {lat['p90']:.3f} | "
              f"{r['peak_rss_bytes'] / 1e6:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
