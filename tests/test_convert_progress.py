"""convert's live step lines (issue 14): the pipeline tells each step as it starts and ends, and
the CLI draws one line per step with its clock on a terminal, and nothing off one."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess

import pytest

from modelport.api import ConvertOptions, convert
from modelport.errors import ConversionError
from modelport.pipeline.progress import StepEvent
from conftest import BAD, FIXTURES, MODELPORT, shape_args


def _pairs(events: list[StepEvent]) -> list[tuple[str, str, str]]:
    """(label, outcome, seconds > 0) per step, after checking each start has its end."""
    started = {e.key: e for e in events if e.kind == "started"}
    finished = [e for e in events if e.kind == "finished"]
    assert sorted(started) == sorted(e.key for e in finished), events
    for e in finished:
        assert started[e.key].label == e.label and e.seconds > 0, e
    return [(e.label, e.outcome) for e in finished]


def test_convert_reports_each_step_and_its_verdict_as_they_run(tmp_path):
    """The step's worker validates its artifact: one step, whose outcome carries the verdict."""
    events: list[StepEvent] = []
    convert(f"{FIXTURES}/models.py:mlp", "onnx", str(tmp_path / "mlp.onnx"),
            ConvertOptions(input_shapes=("features:batch,20",)), progress=events.append)
    assert _pairs(events) == [("step 1 pytorch->onnx (dynamo)", "converted, passed")]
    assert [e.kind for e in events] == ["started", "finished"]


def test_each_strategy_tried_is_a_step_of_its_own_with_its_outcome(tmp_path):
    """A module that aborts its process when run fails both exporters: two steps, both failed,
    and no validation (nothing converted)."""
    events: list[StepEvent] = []
    with pytest.raises(ConversionError):
        convert(f"{BAD}/aborts.py:build", "onnx", str(tmp_path / "a.onnx"), ConvertOptions(input_shapes=("x:1,4",)),
                progress=events.append)
    steps = _pairs(events)
    assert [outcome for _, outcome in steps] == ["failed", "failed"], steps
    assert steps[0][0] == "step 1 pytorch->onnx (dynamo)" and steps[1][0].startswith("step 1 pytorch->onnx ("), steps
    assert steps[0][0] != steps[1][0]


def _run_with_terminal_stderr(args: list[str], cwd: str) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal (as a user's shell has it); return its exit code
    and everything written to the terminal."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(MODELPORT + args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave,
                            cwd=cwd, env={**os.environ, "COLUMNS": "120", "TERM": "xterm"})
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=600)
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_the_cli_draws_live_step_lines_on_a_terminal_and_none_in_a_log(tmp_path):
    args = ["convert", f"{FIXTURES}/models.py:mlp", "--to", "onnx", *shape_args("mlp")]
    code, screen = _run_with_terminal_stderr(args + ["-o", str(tmp_path / "a.onnx")], str(tmp_path))
    assert code == 0, screen
    assert "step 1 pytorch->onnx (dynamo)" in screen and "converted, passed" in screen, screen
    assert "0:00:" in screen, screen  # the step's clock

    piped = subprocess.run(MODELPORT + args + ["-o", str(tmp_path / "b.onnx")], capture_output=True, text=True,
                           cwd=tmp_path, stdin=subprocess.DEVNULL, timeout=600)
    assert piped.returncode == 0, piped.stderr
    assert "converted, passed" not in piped.stderr + piped.stdout  # a CI log gets the report only


def test_step_lines_show_the_outcome_and_stop_the_clock():
    from rich.console import Console

    from modelport.cli.convert_progress import StepLines

    out = io.StringIO()
    lines = StepLines(Console(file=out, force_terminal=True, width=100))
    with lines.progress:
        lines(StepEvent("started", "1", "step 1 onnx->tflite (flatbuffer_direct)"))
        lines(StepEvent("finished", "1", "step 1 onnx->tflite (flatbuffer_direct)", "failed", 3.0))
        lines(StepEvent("started", "2", "step 1 onnx->tflite (tf_converter)"))
        lines.progress.refresh()
        task = lines.progress.tasks[0]
        assert task.stop_time is not None and lines.progress.tasks[1].stop_time is None
        assert "failed" in task.description and "tf_converter" in lines.progress.tasks[1].description
    assert "flatbuffer_direct" in out.getvalue()
