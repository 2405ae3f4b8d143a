"""TorchServe's life cycle inside the serve-check worker: start, wait until ready, ask, stop.

TorchServe is a Java frontend that starts Python backend workers. `torchserve --start --foreground`
runs the frontend as its own child and waits for it; it is started here in a session of its own
(its own process group), so that stopping kills the launcher, the JVM and every backend worker
at once, on every path out (an answer, an error, a timeout, Ctrl-C). Inside the sandbox the worker
is also the namespace's last ancestor: when it dies, the kernel ends every process left in it.

Everything TorchServe writes goes into the job's folder: its logs (LOG_LOCATION,
METRICS_LOCATION), its pid file (TMPDIR), its config (`--ncs`: no snapshots). It binds
127.0.0.1 only, with token auth off (the namespace has no other interface anyway).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

READY_TIMEOUT_S = 120.0
WATCHDOG = """import os, shutil, signal, sys, time
try:
    sys.stdin.buffer.read()
finally:
    try:
        os.killpg(int(sys.argv[1]), signal.SIGKILL)
    except OSError:
        pass
    time.sleep(0.5)  # the killed JVM's files close before its folder goes
    shutil.rmtree(sys.argv[2], ignore_errors=True)
"""
REQUEST_TIMEOUT_S = 60.0


class ServeError(Exception):
    """TorchServe did not start, did not load a model, or did not answer: one line, log path kept."""


def free_port() -> int:
    """A port nobody listens on now: bind port 0 on 127.0.0.1 and read what the kernel gave."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def write_config(folder: str, store: str, inference_port: int) -> str:
    """config.properties: every address on 127.0.0.1, one worker per model, no metrics collector."""
    management, metrics = free_port(), free_port()
    while management == inference_port or metrics in (inference_port, management):
        management, metrics = free_port(), free_port()
    lines = [
        f"inference_address=http://127.0.0.1:{inference_port}",
        f"management_address=http://127.0.0.1:{management}",
        f"metrics_address=http://127.0.0.1:{metrics}",
        f"model_store={store}",
        "default_workers_per_model=1",
        "disable_system_metrics=true",
        "install_py_dep_per_model=false",
        "enable_envvars_config=false",
        "default_response_timeout=120",
        "number_of_netty_threads=2",
        "job_queue_size=16",
    ]
    path = os.path.join(folder, "config.properties")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


class TorchServe:
    """One TorchServe process tree serving `models` ({name: file.mar in store}) on 127.0.0.1:port."""

    def __init__(self, folder: str, store: str, models: dict[str, str], port: int, torchserve: str):
        self.folder, self.store, self.models, self.port = folder, store, models, port
        self.torchserve = torchserve
        self.logs = os.path.join(folder, "ts-logs")
        self.proc: subprocess.Popen | None = None
        self.watchdog: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        os.makedirs(self.logs, exist_ok=True)
        # The backend's unix sockets live in java.io.tmpdir (TEMP), and a socket path has a 107-byte
        # limit: a short private folder under /tmp (the sandbox's own /tmp when confined).
        self.tmp = tempfile.mkdtemp(prefix="modelport-ts-", dir="/tmp" if os.path.isdir("/tmp") else None)
        tmp = self.tmp
        config = write_config(self.folder, self.store, self.port)
        env = {**os.environ, "LOG_LOCATION": self.logs, "METRICS_LOCATION": self.logs, "TMPDIR": tmp, "TEMP": tmp}
        env.pop("TS_CONFIG_FILE", None)
        argv = [self.torchserve, "--start", "--foreground", "--ncs", "--disable-token-auth", "--ts-config", config,
                "--model-store", self.store, "--models", *[f"{n}={m}" for n, m in self.models.items()]]
        self.out = open(os.path.join(self.logs, "torchserve.out"), "w")
        self.proc = subprocess.Popen(argv, cwd=self.folder, env=env, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        # The watchdog holds the read end of a pipe whose write end only this process holds: when
        # this process ends, however it ends (SIGKILL from a timeout or Ctrl-C in the parent
        # included), the watchdog reads EOF and kills TorchServe's process group. Inside the
        # sandbox the namespace would take it anyway; unconfined (--no-sandbox) this is what does.
        self.watchdog = subprocess.Popen([sys.executable, "-c", WATCHDOG, str(self.proc.pid), self.tmp], stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Poll until every model answers `GET /models/NAME`'s readiness (a worker READY), or fail
        when TorchServe exits or the deadline passes. Returns the seconds it took."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        pending = set(self.models)
        while pending:
            if self.proc.poll() is not None:
                raise ServeError(f"TorchServe exited during start-up (status {self.proc.returncode}): "
                                 f"{self.log_tail(1) or 'no log'}")
            for name in list(pending):
                if self._model_ready(name):
                    pending.discard(name)
            if not pending:
                break
            failed = self._load_failure()
            if failed:
                raise ServeError(f"TorchServe could not load the model: {failed}")
            if time.monotonic() > deadline:
                raise ServeError(f"TorchServe was not ready after {timeout:g} s (models not ready: "
                                 f"{', '.join(sorted(pending))})")
            time.sleep(0.2)
        return time.monotonic() - t0

    def _model_ready(self, name: str) -> bool:
        """A prediction endpoint answers only once a backend worker for it is up: ask ping first,
        then the model's own description."""
        try:
            with urllib.request.urlopen(f"{self.base}/ping", timeout=2) as r:
                if json.loads(r.read() or b"{}").get("status") != "Healthy":
                    return False
        except (OSError, ValueError):
            return False
        try:  # OPTIONS / predictions is not helpful; a worker status lives on the management API
            with urllib.request.urlopen(self._management(f"/models/{name}"), timeout=2) as r:
                described = json.loads(r.read())
        except (OSError, ValueError):
            return False
        workers = [w for d in described for w in d.get("workers", [])] if isinstance(described, list) else []
        return any(w.get("status") == "READY" for w in workers)

    def _management(self, path: str) -> str:
        with open(os.path.join(self.folder, "config.properties")) as f:
            address = next(ln.split("=", 1)[1].strip() for ln in f if ln.startswith("management_address="))
        return address + path

    def _load_failure(self) -> str | None:
        """A model that fails to load makes its backend worker die again and again: its log says why."""
        path = os.path.join(self.logs, "model_log.log")
        if not os.path.exists(path):
            return None
        with open(path, errors="replace") as f:
            text = f.read()
        for marker in ("RuntimeError:", "ModuleNotFoundError:", "ValueError:", "FileNotFoundError:", "Error:"):
            lines = [ln for ln in text.splitlines() if marker in ln]
            if lines and "Backend worker process died" in text:
                return lines[-1].split(" - ", 1)[-1].strip()[:300]
        return None

    def predict(self, name: str, body: dict) -> dict:
        data = json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}/predictions/{name}", data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT_S) as r:
                answer = json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise ServeError(f"POST /predictions/{name}: HTTP {e.code} {e.read()[:300].decode(errors='replace')}") from None
        except (OSError, ValueError) as e:
            raise ServeError(f"POST /predictions/{name}: {type(e).__name__}: {e}") from None
        if isinstance(answer, dict) and "error" in answer:
            raise ServeError(f"POST /predictions/{name}: the handler answered {answer['error']}")
        return answer

    def stop(self) -> None:
        """Kill the whole process group (launcher, JVM, backend workers) and reap the launcher."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        self.out.close()
        self.proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.watchdog is not None:
            self.watchdog.stdin.close()  # EOF: it kills the (already empty) group and exits
            try:
                self.watchdog.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.watchdog.kill()
            self.watchdog = None

    def log_tail(self, lines: int = 25) -> str:
        out = []
        for name in ("torchserve.out", "ts_log.log", "model_log.log"):
            path = os.path.join(self.logs, name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    out += [ln.rstrip() for ln in f if ln.strip()]
        return "\n".join(out[-lines:])

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
