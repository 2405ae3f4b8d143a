"""Shared test helpers: fixture paths, a CLI runner in a real subprocess, and a conversion cache.

Tests call the real converters and runtimes. Conversions are slow (seconds each), so artifacts
that several tests read are produced once per session by `converted(...)`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelport.workers.import_order import import_torch_before_tensorflow

# Each test worker runs TensorFlow (parity checks) and torch (torch.export, torch.optim) in-process:
# torch's compiler stack must come first, or its later import crashes the worker (modelport/workers/import_order.py).
import_torch_before_tensorflow()

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
BAD = FIXTURES / "bad"
MODELPORT = [sys.executable, "-m", "modelport.cli"]

# Input shapes to pass for PyTorch sources without shape information (TorchScript, callables).
TORCH_SHAPES = {
    "cnn": ["image:batch,3,32,32"],
    "mlp": ["features:batch,20"],
    "encoder": ["input_ids:1,seq=16", "--input-dtype", "input_ids:int64"],
    "two_io": ["a:2,8", "b:2,4"],
}


def shape_args(name: str) -> list[str]:
    out: list[str] = []
    items = TORCH_SHAPES[name]
    i = 0
    while i < len(items):
        if items[i].startswith("--"):
            out += [items[i], items[i + 1]]
            i += 2
        else:
            out += ["--input-shape", items[i]]
            i += 1
    return out


def pytest_addoption(parser):
    parser.addoption("--full-zoo", action="store_true",
                     help="also run the tests marked full_zoo (every light model-zoo network; `make bench`)")


def pytest_collection_modifyitems(config, items):
    """Tests marked full_zoo are deselected unless --full-zoo is given: they are a benchmark's worth
    of conversions, and `make test` has a time budget."""
    if config.getoption("--full-zoo"):
        return
    dropped = [item for item in items if item.get_closest_marker("full_zoo")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("full_zoo")]


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: str | os.PathLike | None = None, timeout: int = 600,
            env: dict[str, str] | None = None) -> CliResult:
    """The CLI as a user runs it; `env` adds to (or overrides) this process's environment."""
    proc = subprocess.run(MODELPORT + [str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, stdin=subprocess.DEVNULL, env={**os.environ, **env} if env else None)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(result: CliResult, code: int, *fragments: str) -> None:
    """Bad input: the documented exit code, one 'modelport: error:' line, no traceback."""
    assert result.code == code, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("modelport: error:")]
    assert len(errors) == 1, result.stderr
    for f in fragments:
        assert f in errors[0], (f, errors[0])


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    """A session-wide cache: converted(source, to, *extra) converts once and returns the path."""
    base = tmp_path_factory.mktemp("artifacts")
    cache: dict[tuple, Path] = {}

    def converted(source: str, to: str, *extra: str, name: str | None = None) -> Path:
        key = (source, to, extra)
        if key not in cache:
            stem = name or (Path(source.split(":")[-1]).stem.replace(".", "_") + "_" + "_".join(
                e.strip("-").replace(":", "").replace(",", "") for e in extra if e.startswith("--")))
            out = base / (stem.rstrip("_") + {"onnx": ".onnx", "tflite": ".tflite", "savedmodel": "_sm", "pytorch": ".pt2", "tfjs": "_tfjs"}[to])
            result = run_cli("convert", source, "--to", to, "-o", out, *extra)
            assert result.code == 0, f"convert {source} --to {to} failed:\n{result.stdout}\n{result.stderr}"
            cache[key] = out
        return cache[key]

    return converted
