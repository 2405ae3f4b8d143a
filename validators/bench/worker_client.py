"""The parent's side of a bench worker (validators/bench/worker.py): start it, talk its line protocol.

A death or a hang of the worker becomes an error reply, never an exception: one artifact that
crashes its runtime is a row of the report, and the other artifacts are still measured.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys

from modelport.workers import memory_limit, sandbox
from modelport.workers.environment import worker_env
from modelport.workers.exits import describe_exit

LOG_TAIL_LINES = 20


class Worker:
    """One bench worker process and its line protocol; a death or a hang becomes an error reply."""

    def __init__(self, log_dir: str, index: int, device: str, reads: list[str] = ()):
        """`reads`: the paths the worker must read (its model, weights, inputs); it is confined to
        them and to a folder of its own (modelport/workers/sandbox.py)."""
        scratch = os.path.join(log_dir, f"job{index}")
        os.makedirs(scratch, exist_ok=True)
        self.log_path = os.path.join(scratch, "worker.log")
        with open(self.log_path, "w"):
            pass
        argv = [sys.executable, "-m", "modelport.validators.bench.worker", self.log_path]
        self.confined = sandbox.active()
        if self.confined:
            argv = sandbox.wrap(argv, scratch=scratch, reads=list(reads), gpu=device != "cpu")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=worker_env(gpu=device != "cpu"), text=True, bufsize=1, cwd=scratch)
        self.watch = memory_limit.MemoryWatch(self.proc.pid, memory_limit.limit())

    def request(self, msg: dict, timeout: float) -> dict:
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._died(msg["cmd"])
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.kill()
            return {"error": {"kind": "ConversionError", "message": f"no answer in {timeout:.0f} s; the process was killed"}}
        line = self.proc.stdout.readline()
        if not line:
            return self._died(msg["cmd"])
        return json.loads(line)

    def _died(self, phase: str) -> dict:
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        during = {"load": "while loading and warming up", "measure": "while measuring"}.get(phase, "at the end")
        if self.watch.exceeded:
            return {"error": {"kind": "ConversionError", "message": f"{self.watch.message('benchmark')} {during}"}}
        how = describe_exit(sandbox.child_returncode(code) if self.confined else code)
        return {"error": {"kind": "ConversionError", "message": f"the benchmark process died ({how}) {during}"}}

    def log_tail(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return "\n".join(f.read().rstrip().splitlines()[-LOG_TAIL_LINES:])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        self.watch.stop()
