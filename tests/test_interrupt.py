"""Ctrl-C in the middle of a conversion: exit 130, and nothing half-written left behind."""

from __future__ import annotations

import signal
import subprocess
import time

from conftest import FIXTURES, MODELPORT, shape_args


def test_ctrl_c_leaves_nothing_behind(tmp_path):
    out = tmp_path / "cnn.tflite"
    proc = subprocess.Popen(MODELPORT + ["convert", f"{FIXTURES}/models.py:cnn", "--to", "tflite", "-o", str(out),
                                         *shape_args("cnn")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            # A shell running us in the background (as CI may) ignores SIGINT, and an
                            # ignored signal stays ignored across exec: give the CLI a terminal's default.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Wait until the worker is busy: the scratch folder appears when the first step starts.
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".modelport-tmp") for p in tmp_path.iterdir()):
        time.sleep(0.1)
    time.sleep(1.0)
    # A terminal's Ctrl-C signals the whole foreground process group: the CLI and its worker.
    import os

    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, stdout, stderr)
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []
