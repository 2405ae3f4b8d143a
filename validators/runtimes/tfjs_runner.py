"""TensorFlow.js graph models, run in Node.js (the cpu or the wasm backend) by modelport/js/tfjs_runner.js.

One Node process per loaded model, started by `load()` and driven over its stdin/stdout with one
JSON object per line (the script's header says the protocol); tensors travel as base64 bytes. The
process is this runner's child: inside a confined worker it is confined too (the sandbox binds
the npm packages read-only, modelport/workers/sandbox.py), and `close()` or the worker's end
stops it. `prepare()` hands the bench harness a call that Node times itself, so `modelport bench`
measures TF.js, not the pipe (validators/bench/worker.py).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile

import numpy as np

from modelport.errors import ConversionError, UsageError
from modelport.specs import from_tfjs
from modelport.validators.runtimes.base import Runner, SelfTimedCall
from modelport.validators.validate_options import TFJS_BACKENDS

class TFJSRunner(Runner):
    runtime = "tfjs"

    def __init__(self, path: str, device: str = "cpu", threads: int | None = None, backend: str = "wasm"):
        super().__init__(path, device, threads)
        if backend not in TFJS_BACKENDS:
            raise UsageError(f"--tfjs-backend {backend}: expected one of {', '.join(TFJS_BACKENDS)}")
        self.backend = backend
        self.runtime = f"tfjs-{backend}"
        self.proc: subprocess.Popen | None = None
        self.version: str | None = None

    def _load(self):
        from modelport.formats import tfjs_model_json
        from modelport.node_runtime import RUNNER_SCRIPT, node_binary, node_modules

        self.device_used = self._pick_device(False, "TensorFlow.js in Node runs on the CPU (the cpu and wasm "
                                                    "backends; tfjs-node-gpu cannot be installed here)")
        tfjs_model_json(self.path)  # a damaged model.json is bad input, said before Node starts
        node, modules = node_binary(), node_modules()
        self._log = tempfile.TemporaryFile(mode="w+b")
        env = {k: v for k, v in os.environ.items() if not k.startswith("NODE_")}
        env["NODE_PATH"] = modules
        self.proc = subprocess.Popen([node, RUNNER_SCRIPT, os.path.abspath(self.path), self.backend],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env)
        header = self._reply(loading=True)
        self.version = header.get("version")
        if self.threads and self.threads > 1:  # measured: WASM_HAS_MULTITHREAD_SUPPORT is false in Node 20
            self.device_note = (f"{self.runtime} runs on one thread in Node (TF.js has no multithreaded wasm "
                                f"there); --threads {self.threads} does not apply to it")
        self._inputs = [from_tfjs(t["name"], t.get("shape"), t.get("dtype")) for t in header["inputs"]]
        self._outputs = [from_tfjs(t["name"], t.get("shape"), t.get("dtype")) for t in header["outputs"]]

    def _reply(self, loading: bool = False) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise ConversionError(f"{self.path}: the TF.js runner (Node, {self.backend} backend) ended with exit code "
                                  f"{code}{self._stderr_tail()}")
        reply = json.loads(line)
        if "error" in reply:
            if loading:
                self.close()
                raise UsageError(f"{self.path}: not a model TensorFlow.js ({self.backend} backend) can load: "
                                 f"{reply['error']}")
            raise RuntimeError(reply["error"])
        return reply

    def _stderr_tail(self) -> str:
        self._log.seek(0)
        lines = [ln for ln in self._log.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        return f": {lines[-1][:300]}" if lines else ""

    def _send(self, msg: dict) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            raise ConversionError(f"{self.path}: the TF.js runner is not running")
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()
        return self._reply()

    def input_specs(self):
        return list(self._inputs)

    def output_specs(self):
        return list(self._outputs)

    def _encode(self, feed: dict[str, np.ndarray]) -> dict:
        out = {}
        dtypes = {s.name: s.dtype for s in self._inputs}
        for name, x in feed.items():
            x = np.asarray(x)
            want = dtypes.get(name) or ("float32" if x.dtype.kind == "f" else "int32" if x.dtype.kind in "iu" else x.dtype.name)
            if want not in ("float32", "int32", "bool"):
                raise UsageError(f"input {name!r}: dtype {want} is not one TensorFlow.js takes (float32, int32, bool)")
            x = np.ascontiguousarray(x, dtype=np.uint8 if want == "bool" else want)
            out[name] = {"shape": list(x.shape), "dtype": want, "b64": base64.b64encode(x.tobytes()).decode("ascii")}
        return out

    @staticmethod
    def _decode(t: dict) -> np.ndarray:
        dtype = {"float32": np.float32, "int32": np.int32, "bool": np.uint8}.get(t["dtype"])
        if dtype is None:
            raise RuntimeError(f"an output of dtype {t['dtype']} (modelport reads float32, int32 and bool)")
        x = np.frombuffer(base64.b64decode(t["b64"]), dtype=dtype).reshape(t["shape"])
        return x.astype(bool) if t["dtype"] == "bool" else x.copy()

    def run(self, feed):
        reply = self._send({"cmd": "run", "inputs": self._encode(feed)})
        return {k: self._decode(v) for k, v in reply["outputs"].items()}

    def prepare(self, feed):
        """One inference through the pipe; the harness's timing loop runs in Node (SelfTimedCall)."""
        encoded = self._encode(feed)

        def timed(min_runs: int, min_seconds: float, max_seconds: float | None) -> list[int]:
            return self._send({"cmd": "time", "inputs": encoded, "min_runs": min_runs, "min_seconds": min_seconds,
                               "max_seconds": max_seconds})["latencies_ns"]

        return SelfTimedCall(lambda: self.run(feed), timed)

    def peak_rss_bytes(self) -> int | None:
        """Node's own peak resident memory: the runtime's, which the bench row reports."""
        try:
            return int(self._send({"cmd": "stats"})["peak_rss_bytes"])
        except Exception:
            return None

    def close(self):
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.stdin.write(b'{"cmd": "close"}\n')
                proc.stdin.flush()
                proc.stdin.close()
                proc.wait(timeout=10)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            self._log.close()

    def __del__(self):  # a runner dropped without close() must not leave Node behind
        try:
            self.close()
        except Exception:
            pass
