"""The serve-check worker: one confined process that starts TorchServe, asks it, and stops it.

`modelport package --for torchserve --serve-check` starts it (modelport/serving/serve_check.py)
with modelport/workers/spawn.py, inside bubblewrap: the namespace has loopback only, so TorchServe
and the HTTP client share a private 127.0.0.1, and nothing outside can reach the server. The job
names the model store (in the scratch folder), the archives, the port (0: pick a free one here)
and an .npz of requests (SAMPLE/input/NAME per model); the outputs come back in an .npz beside it
(MODEL/SAMPLE/NAME), the timings in the JSON result.
"""

from __future__ import annotations

import os
import sys
import time


def serve_job(job: dict) -> dict:
    import numpy as np

    from modelport.errors import UsageError
    from modelport.serving.requests import torchserve_body, from_tensor_json
    from modelport.serving.torchserve_server import ServeError, TorchServe, free_port, port_in_use

    folder = job["folder"]
    port = job["port"] or free_port()
    if job["port"] and port_in_use(port):
        raise UsageError(f"--port {port}: the port is in use; pick another or leave --port out for a free one")
    feeds = np.load(job["requests"], allow_pickle=False)
    server = TorchServe(folder, job["store"], job["models"], port, job["torchserve"])
    t0 = time.perf_counter()
    answers: dict[str, np.ndarray] = {}
    try:
        server.start()
        ready = server.wait_ready(job.get("ready_timeout") or 120.0)
        t_req = time.perf_counter()
        for name in job["models"]:
            samples = sorted({k.split("/")[1] for k in feeds.files if k.startswith(name + "/")}, key=int)
            for s in samples:
                prefix = f"{name}/{s}/"
                feed = {k[len(prefix):]: feeds[k] for k in feeds.files if k.startswith(prefix)}
                answer = server.predict(name, torchserve_body(feed))
                for out_name, value in (answer.get("outputs") or {}).items():
                    answers[f"{name}/{s}/{out_name}"] = from_tensor_json(value)
        requests_s = time.perf_counter() - t_req
    except ServeError as e:
        from modelport.errors import ConversionError

        print(f"--- TorchServe's logs (last lines) ---\n{server.log_tail(60)}", flush=True)  # --verbose shows them
        raise ConversionError(f"TorchServe: {e}") from None
    finally:
        server.stop()
    out_path = os.path.join(folder, "answers.npz")
    np.savez(out_path, **answers)
    return {"answers": out_path, "port": port, "ready_seconds": round(ready, 3), "requests_seconds": round(requests_s, 3),
            "total_seconds": round(time.perf_counter() - t0, 3), "torchserve": _version()}


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("torchserve")
    except Exception:
        return "?"


def main(job_path: str, result_path: str) -> int:
    from modelport.workers.shell import run_job

    return run_job(job_path, result_path, serve_job)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
