"""The wheel installs one top-level package, `modelport`, with the folders mapped into it."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from conftest import ROOT


def test_wheel_has_only_the_modelport_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("modelport-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"modelport", next(t for t in top if t.endswith(".dist-info"))}, top
    for module in ("modelport/cli/main.py", "modelport/converters/planner.py", "modelport/validators/runtimes/__init__.py",
                   "modelport/converters/edges/onnx_to_tf.py", "modelport/constraints.txt",
                   "modelport/constraints-tfjs.txt", "modelport/js/tfjs_runner.js", "modelport/js/package-lock.json",
                   "modelport/serving/mar_handler.py"):
        assert module in names, module
