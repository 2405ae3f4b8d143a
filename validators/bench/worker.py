"""Benchmark one artifact at one batch size in a process of its own (`modelport bench` starts it).

A fresh process per artifact and batch size keeps one runtime's imports, threads and memory out
of another's figures, makes peak RSS that artifact's own, and contains a runtime that crashes.
The parent drives it over stdin/stdout with one JSON object per line, so it can interleave the
measured rounds of several live workers (--order interleaved):

    {"cmd": "load", ...job}            -> import, load, build the feed, first inference, warm-up
    {"cmd": "measure", "runs", "seconds", "max_seconds"}  -> {"latencies_ns": [...]}
    {"cmd": "finish"}                  -> {"peak_rss_bytes", "gpu_peak_bytes"}, then exit

Everything the libraries print goes to the log file named on the command line; the protocol uses
a private copy of the original stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time

# The module whose import a runtime's figures start with.
RUNTIME_MODULES = {"onnx": "onnxruntime", "tflite": "ai_edge_litert.interpreter", "savedmodel": "tensorflow",
                   "keras": "tensorflow", "pytorch": "torch",
                   "tfjs": "modelport.node_runtime"}  # TF.js: Node starts in load(), timed there
VERSION_OF = {"onnx": "onnxruntime", "tflite": "ai_edge_litert", "savedmodel": "tensorflow", "keras": "keras",
              "pytorch": "torch"}


class Session:
    """The state of one worker between commands."""

    def __init__(self):
        self.runner = None
        self.call = None

    def load(self, job: dict) -> dict:
        from modelport.formats import detect
        from modelport.manifest import load as load_manifest
        from modelport.libraries import require
        from modelport.types import Format, IOMap
        from modelport.validators.bench.feed import FeedRequest, Skip, build_feed
        from modelport.validators.runtimes import runner_for

        detected = detect(job["path"], thorough=False)
        fmt = detected.format.value
        t0 = time.perf_counter()
        require(RUNTIME_MODULES[fmt], f"benchmarking {fmt} models")
        import_seconds = time.perf_counter() - t0
        kwargs = {k: job[k] for k in ("weights", "task") if job.get(k) and detected.format == Format.PYTORCH}
        if detected.format == Format.TFJS:
            kwargs["backend"] = job.get("backend") or "wasm"
        self.runner = runner_for(job["path"], detected.format, detected.flavor, device=job["device"],
                                 threads=job.get("threads"), **kwargs).load()
        runner = self.runner
        version = getattr(runner, "version", None) if fmt == "tfjs" else _version(VERSION_OF[fmt])
        reply = {"format": fmt, "runtime": runner.runtime, "runtime_version": version,
                 "device": runner.device_used, "device_note": runner.device_note, "import_seconds": import_seconds,
                 "load_seconds": runner.load_seconds}
        if runner.runtime == "torch" and runner.device_used == "cuda":
            reply["gpu"] = runner.torch.cuda.get_device_name()
        record = load_manifest(job["path"])
        io_map = IOMap.from_dict(record["io_map"]) if record and record.get("io_map") else None
        req = FeedRequest(batch_size=job.get("batch_size"), shapes=job.get("shapes") or {}, dtypes=job.get("dtypes") or {},
                          value_ranges={k: tuple(v) for k, v in (job.get("value_ranges") or {}).items()},
                          seed=job.get("seed", 0), inputs=_load_inputs(job.get("inputs")))
        try:
            feed = build_feed(runner.input_specs(), io_map, req)
        except Skip as e:
            return {**reply, "skip": str(e)}
        reply["input_shapes"] = {k: list(v.shape) for k, v in feed.items()}
        self.call = runner.prepare(feed)
        t0 = time.perf_counter()
        try:
            self.call()
        except Exception as e:  # the runtime refusing this input: a verdict on the artifact
            from modelport.errors import ConversionError

            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConversionError(f"{type(e).__name__} on the first inference: {first[:300]}") from None
        reply["first_inference_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm = _timed(self.call, min_runs=job["warmup"], min_seconds=job["min_warmup_seconds"],
                      max_seconds=job.get("max_seconds"))
        reply.update(warmup_runs=len(warm), warmup_seconds=time.perf_counter() - t0)
        return reply

    def measure(self, msg: dict) -> dict:
        latencies = _timed(self.call, min_runs=msg["runs"], min_seconds=msg["seconds"], max_seconds=msg.get("max_seconds"))
        return {"latencies_ns": latencies}

    def finish(self, _msg: dict) -> dict:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        runtime_rss = getattr(self.runner, "peak_rss_bytes", None)  # a runtime in a process of its own (Node)
        if runtime_rss is not None and (value := runtime_rss()) is not None:
            return {"peak_rss_bytes": value, "gpu_peak_bytes": None}
        gpu = None
        if self.runner is not None and self.runner.runtime == "torch" and self.runner.device_used == "cuda":
            gpu = int(self.runner.torch.cuda.max_memory_allocated())
        return {"peak_rss_bytes": rss if sys.platform == "darwin" else rss * 1024, "gpu_peak_bytes": gpu}


def _timed(call, *, min_runs: int, min_seconds: float, max_seconds: float | None) -> list[int]:
    """The timing loop (validators/bench/timing.py), run where the runtime is: in this process, or
    in the runtime's own for a call that times itself (a TF.js model in Node, SelfTimedCall)."""
    from modelport.validators.bench.timing import timed_calls
    from modelport.validators.runtimes.base import SelfTimedCall

    if isinstance(call, SelfTimedCall):
        if min_runs <= 0 and min_seconds <= 0:
            return []
        return call.timed(min_runs, min_seconds, max_seconds)
    return timed_calls(call, min_runs=min_runs, min_seconds=min_seconds, max_seconds=max_seconds)


def _version(module: str) -> str | None:
    """Read from the imported module: importlib.metadata would cost more than a small model's run."""
    return str(getattr(sys.modules.get(module), "__version__", "")) or None


def _load_inputs(path: str | None):
    if not path:
        return None
    from modelport.validators.inputs import load

    return load(path)


def main(log_path: str) -> int:
    from modelport.workers.environment import quiet_python_loggers
    from modelport.workers.offline import block_network
    from modelport.workers.shell import error_payload

    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    sys.stdout = sys.stderr = os.fdopen(log_fd, "w", buffering=1)
    block_network()
    quiet_python_loggers()
    session = Session()
    handlers = {"load": session.load, "measure": session.measure, "finish": session.finish}
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            reply = handlers[msg["cmd"]](msg)
        except BaseException as e:
            reply = {"error": error_payload(e)}
        protocol.write(json.dumps(reply) + "\n")
        if msg["cmd"] == "finish" or "error" in reply:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
