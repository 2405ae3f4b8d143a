"""`--serve-check`: serve the archives with TorchServe, ask it with the validation inputs over
HTTP, and judge the answers against the source like any runner's.

The server runs in one confined worker (modelport/serving/serve_worker.py): TorchServe, its Java
frontend and its Python backend all run inside the sandbox with the models, and the worker's HTTP
client reaches them on the namespace's own 127.0.0.1. The worker's process group is killed on
every way out, and the sandbox takes whatever is left when the worker ends; from the parent's side
a timeout or Ctrl-C kills the sandbox (modelport/workers/spawn.py).
"""

from __future__ import annotations

import os

import numpy as np

from modelport.serving import tools
from modelport.serving.reference import judge, report_for
from modelport.workers.spawn import run_worker

WORKER_TIMEOUT_S = 300.0


def serve_check(archives, store: str, opts, scratch: str):
    """(ValidationReport with one candidate per archive, the server's timings)."""
    requests = {}
    for a in archives:
        for i, feed in enumerate(a.golden.feeds):
            requests.update({f"{a.name}/{i}/{k}": v for k, v in feed.items()})
    folder = os.path.join(scratch, "serve")
    os.makedirs(folder)
    req_path = os.path.join(folder, "requests.npz")
    np.savez(req_path, **requests)
    java = tools.require_java()
    job = {"folder": folder, "store": os.path.abspath(store), "requests": req_path, "port": opts.port or 0,
           "models": {a.name: a.name + ".mar" for a in archives}, "torchserve": tools.torchserve(),
           "ready_timeout": opts.ready_timeout}
    reads = tools.java_reads(java) + [os.path.abspath(store)]
    payload, _ = run_worker("modelport.serving.serve_worker", "serve-check", "TorchServe", job, folder, None,
                            reads=reads, timeout=WORKER_TIMEOUT_S)
    data = np.load(payload["answers"], allow_pickle=False)
    candidates = []
    for a in archives:
        answers = []
        for i in range(len(a.golden.feeds)):
            prefix = f"{a.name}/{i}/"
            answers.append({k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)})
        runtime = f"torchserve {payload.get('torchserve', '?')}"
        candidates.append(judge(a.golden, answers, label=a.name + ".mar", fmt="torchserve", runtime=runtime,
                                options=opts.inputs))
    where = "inside the sandbox" if _confined() else "unconfined (--no-sandbox)"
    notes = [f"TorchServe served {len(archives)} archive(s) on 127.0.0.1:{payload['port']} {where}; ready in "
             f"{payload['ready_seconds']:.1f} s, answered in {payload['requests_seconds']:.2f} s; stopped"]
    sources = ", ".join(a.model for a in archives)
    report = report_for(sources, "pytorch", archives[0].golden, candidates, opts.inputs, notes,
                        {"torchserve": payload.get("torchserve", "?"),
                         "torch-model-archiver": tools.package_version("torch-model-archiver") or "?"})
    return report, payload


def _confined() -> bool:
    from modelport.workers import sandbox

    try:
        return sandbox.active()
    except Exception:
        return False
