"""Where convert's artifacts go by default, and the names of its intermediate steps."""

from __future__ import annotations

import os

from modelport.converters.planner import Edge
from modelport.types import Format

EXTENSION = {Format.ONNX: ".onnx", Format.TFLITE: ".tflite", Format.SAVEDMODEL: "_savedmodel", Format.PYTORCH: ".pt2",
             Format.TFJS: "_tfjs"}


def default_output(source: str, target: Format, quantize: str | None = None, pytorch_format: str | None = None) -> str:
    """Beside the source: cnn.onnx -> cnn.tflite; models.py:cnn -> cnn.onnx next to models.py."""
    if ":" in source and not os.path.exists(source):
        file_part, attr = source.split(":", 1)
        folder = os.path.dirname(file_part) if file_part.endswith(".py") else "."
        stem = os.path.join(folder, attr.split(".")[-1])
    else:
        stem = os.path.splitext(source.rstrip("/"))[0]
    if quantize:
        stem += "_" + quantize.replace("-", "_")
    if target == Format.PYTORCH and pytorch_format == "torchscript":
        return stem + ".pt"
    if target == Format.PYTORCH and pytorch_format == "package":
        return stem + "_pytorch"
    return stem + EXTENSION[target]


def step_name(i: int, edge: Edge) -> str:
    """A step's artifact inside the scratch folder, e.g. step1_onnx.onnx."""
    return f"step{i + 1}_{edge.target.value}{EXTENSION[edge.target]}"


def kept_name(out: str, step: str) -> str:
    """Where --keep-intermediates puts a step's artifact: beside the output, e.g. cnn.step1_onnx.onnx."""
    return f"{os.path.splitext(out.rstrip('/'))[0]}.{step}"
