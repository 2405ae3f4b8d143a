// modelport's TensorFlow.js runner: one Node process per loaded model, driven by
// validators/runtimes/tfjs_runner.py over stdin/stdout, one JSON object per line.
//
//   node tfjs_runner.js MODEL_DIR BACKEND      (BACKEND: cpu | wasm)
//   -> {"ok": true, "inputs": [...], "outputs": [...], "backend", "version", "load_ms"}   once loaded
//   {"cmd": "run", "inputs": {KEY: TENSOR}}                  -> {"outputs": {KEY: TENSOR}}
//   {"cmd": "time", "inputs": {...}, "min_runs", "min_seconds", "max_seconds"}
//                                                           -> {"latencies_ns": [...]}
//   {"cmd": "stats"}                                        -> {"peak_rss_bytes": N}   (this process's)
//   TENSOR = {"shape": [...], "dtype": "float32" | "int32" | "bool", "b64": little-endian bytes}
// Any failure answers {"error": "one line"}. Names are the model's signature keys (model.json's
// "signature"), which the graph executor maps to its node names itself.
//
// Why the timing loop lives here and not in Python: a call through the pipe copies the inputs and
// outputs and costs a round trip, more than a small model's inference. `modelport bench` asks this
// process to time its own calls (execute, then the outputs read back with dataSync, as a page
// would), so its figures are the runtime's, not the pipe's.
//
// The model is untrusted: its files are read with fs by a custom IO handler (no fetch, no network),
// and a weight shard named outside the model's folder is refused. The process runs inside the
// worker's sandbox (modelport/workers/sandbox.py), whatever this script checks.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const util = require('util');

// TF.js and its backends print notices with console.*: keep stdout for the protocol.
const toStderr = (...args) => process.stderr.write(util.format(...args) + '\n');
console.log = console.info = console.warn = console.debug = toStderr;

const protocol = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const firstLine = (e) => String((e && e.message) || e).split('\n')[0].slice(0, 300);

const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const converter = require('@tensorflow/tfjs-converter');

const ARRAYS = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

function readModel(dir) {
  const modelJson = path.join(dir, 'model.json');
  const spec = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  if (spec.format !== 'graph-model' || !spec.modelTopology) {
    throw new Error(`${modelJson}: not a TensorFlow.js graph model (format ${JSON.stringify(spec.format)})`);
  }
  const root = fs.realpathSync(dir);
  const weightSpecs = [];
  const buffers = [];
  for (const group of spec.weightsManifest || []) {
    for (const p of group.paths) {
      // Named inside the folder, and still inside once links are followed.
      const inside = (file) => !path.relative(root, file).startsWith('..') && !path.isAbsolute(path.relative(root, file));
      const named = path.resolve(root, p);
      if (!inside(named) || !inside(fs.realpathSync(named))) {
        throw new Error(`weight shard ${p} is outside the model's folder`);
      }
      buffers.push(fs.readFileSync(named));
    }
    weightSpecs.push(...group.weights);
  }
  const all = Buffer.concat(buffers);
  return {
    modelTopology: spec.modelTopology,
    weightSpecs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
    format: spec.format,
    generatedBy: spec.generatedBy,
    convertedBy: spec.convertedBy,
    signature: spec.signature,
    userDefinedMetadata: spec.userDefinedMetadata,
    modelInitializer: spec.modelInitializer,
    initializerSignature: spec.initializerSignature,
  };
}

function describe(infos) {
  return infos.map((t) => ({ name: t.name, shape: t.shape == null ? null : t.shape, dtype: t.dtype }));
}

function toTensor(t) {
  const Array_ = ARRAYS[t.dtype];
  if (!Array_) throw new Error(`input dtype ${t.dtype} is not one TensorFlow.js takes (float32, int32, bool)`);
  const bytes = Buffer.from(t.b64, 'base64');
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return tf.tensor(new Array_(copy.buffer), t.shape, t.dtype);
}

function fromTensor(x) {
  const data = x.dataSync();
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return { shape: x.shape, dtype: x.dtype, b64: bytes.toString('base64') };
}

class Session {
  constructor(model) {
    this.model = model;
    const sig = model.signature || {};
    // Signature keys when the model has a signature (what the converter named them), else node names.
    this.inputKeys = sig.inputs ? Object.keys(sig.inputs) : model.inputs.map((t) => t.name);
    this.outputKeys = sig.outputs ? Object.keys(sig.outputs) : model.outputs.map((t) => t.name);
  }

  feed(inputs) {
    const out = {};
    for (const [k, v] of Object.entries(inputs)) out[k] = toTensor(v);
    return out;
  }

  execute(feed) {
    const got = this.model.execute(feed, this.outputKeys);
    return Array.isArray(got) ? got : [got];
  }

  run(msg) {
    const feed = this.feed(msg.inputs);
    try {
      const got = this.execute(feed);
      const outputs = {};
      got.forEach((x, i) => { outputs[this.outputKeys[i]] = fromTensor(x); x.dispose(); });
      return { outputs };
    } finally {
      Object.values(feed).forEach((x) => x.dispose());
    }
  }

  time(msg) {
    // The loop of validators/bench/timing.py: until min_runs AND min_seconds, or max_seconds.
    const feed = this.feed(msg.inputs);
    const latencies = [];
    const start = process.hrtime.bigint();
    const minEnd = start + BigInt(Math.round((msg.min_seconds || 0) * 1e9));
    const maxEnd = msg.max_seconds ? start + BigInt(Math.round(msg.max_seconds * 1e9)) : null;
    if ((msg.min_runs || 0) > 0 || (msg.min_seconds || 0) > 0) {
      for (;;) {
        const t0 = process.hrtime.bigint();
        const got = this.execute(feed);
        for (const x of got) { x.dataSync(); x.dispose(); }
        const t1 = process.hrtime.bigint();
        latencies.push(Number(t1 - t0));
        if (latencies.length >= msg.min_runs && t1 >= minEnd) break;
        if (maxEnd !== null && t1 >= maxEnd) break;
      }
    }
    Object.values(feed).forEach((x) => x.dispose());
    return { latencies_ns: latencies };
  }
}

async function main() {
  const [dir, backend] = process.argv.slice(2);
  if (backend === 'wasm') {
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    // Node reads the .wasm binaries from the package's own folder (fs, not fetch).
    wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), path.sep));
  } else if (backend !== 'cpu') {
    throw new Error(`backend ${backend}: expected cpu or wasm`);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`the ${backend} backend did not initialise`);
  await tf.ready();
  const t0 = process.hrtime.bigint();
  const artifacts = readModel(dir);
  const model = await converter.loadGraphModel({ load: async () => artifacts });
  const session = new Session(model);
  const sig = model.signature || {};
  const spec = (entries, infos) => entries
    ? Object.entries(entries).map(([k, v]) => ({
      name: k,
      shape: v.tensorShape && v.tensorShape.dim ? v.tensorShape.dim.map((d) => Number(d.size)) : null,
      dtype: v.dtype,
    }))
    : describe(infos);
  protocol({
    ok: true,
    inputs: spec(sig.inputs, model.inputs),
    outputs: spec(sig.outputs, model.outputs),
    backend: tf.getBackend(),
    version: tf.version_core,
    load_ms: Number(process.hrtime.bigint() - t0) / 1e6,
  });
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let reply;
    try {
      const msg = JSON.parse(line);
      if (msg.cmd === 'run') reply = session.run(msg);
      else if (msg.cmd === 'time') reply = session.time(msg);
      else if (msg.cmd === 'stats') reply = { peak_rss_bytes: process.resourceUsage().maxRSS * 1024 };
      else if (msg.cmd === 'close') break;
      else reply = { error: `unknown command ${msg.cmd}` };
    } catch (e) {
      reply = { error: firstLine(e) };
    }
    protocol(reply);
  }
}

main().catch((e) => { protocol({ error: firstLine(e) }); process.exitCode = 3; });
