"""Conversion options as one small typed object, and the parsers for the CLI's spec strings.

`--input-shape NAME:D1,D2,...` takes ints for fixed dims and `name` or `name=N` for a dynamic dim
(N is the example size used to trace the model; a bare name uses 2, because exporters specialise
dims traced at size 0 or 1). `--input-dtype NAME:int64` sets a dtype.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from modelport.errors import UsageError

PYTORCH_FORMATS = ("exported_program", "torchscript", "package")
QUANTIZE_MODES = ("fp16", "dynamic-int8", "int8")
_DTYPES = ("float32", "float16", "float64", "bfloat16", "int8", "uint8", "int16", "int32", "int64", "bool")
_NAME = r"[A-Za-z_][A-Za-z0-9_.\-/]*"


@dataclass
class InputOverride:
    """What the user said about one input: its shape (with dynamic dims) and/or dtype."""

    name: str
    shape: list[int | str] | None = None  # ints, or names of dynamic dims
    # Sizes given with NAME=N (None where the user gave only a name): exporters trace with them,
    # and TF targets, which need static shapes, fix dynamic dims to them.
    example: list[int | None] | None = None
    dtype: str | None = None


@dataclass
class ConvertOptions:
    opset: int | None = None
    quantize: str | None = None
    calibration_data: str | None = None
    weights: str | None = None
    inputs: list[InputOverride] = field(default_factory=list)
    output_names: list[str] | None = None
    pytorch_format: str | None = None  # onnx->pytorch: exported_program (default), torchscript or package

    def input(self, name: str) -> InputOverride | None:
        return next((i for i in self.inputs if i.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ConvertOptions":
        d = dict(d)
        d["inputs"] = [InputOverride(**i) for i in d.get("inputs", [])]
        return cls(**d)


def parse_input_shape(text: str) -> InputOverride:
    """'x:1,3,224,224' or 'ids:batch=2,seq=16' or 'ids:batch,seq'."""
    m = re.fullmatch(rf"({_NAME}):(.+)", text.strip())
    if not m:
        raise UsageError(f"--input-shape {text!r}: expected NAME:D1,D2,... (e.g. x:1,3,224,224 or ids:batch=2,seq=16)")
    name, dims_text = m.groups()
    shape: list[int | str] = []
    example: list[int | None] = []
    for tok in dims_text.split(","):
        tok = tok.strip()
        if re.fullmatch(r"\d+", tok):
            if int(tok) <= 0:
                raise UsageError(f"--input-shape {text!r}: dimension sizes must be positive, got {tok}")
            shape.append(int(tok))
            example.append(int(tok))
        elif dm := re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:=(\d+))?", tok):
            sym, size = dm.group(1), dm.group(2)
            if size is not None and int(size) <= 0:
                raise UsageError(f"--input-shape {text!r}: example size of {sym} must be positive")
            shape.append(sym)
            example.append(int(size) if size else None)
        else:
            raise UsageError(f"--input-shape {text!r}: bad dimension {tok!r} (use an int, NAME or NAME=SIZE)")
    return InputOverride(name=name, shape=shape, example=example)


def parse_input_dtype(text: str) -> tuple[str, str]:
    m = re.fullmatch(rf"({_NAME}):([a-z0-9]+)", text.strip())
    if not m or m.group(2) not in _DTYPES:
        raise UsageError(f"--input-dtype {text!r}: expected NAME:DTYPE with DTYPE one of {', '.join(_DTYPES)}")
    return m.group(1), m.group(2)


def build_options(
    *,
    input_shapes: tuple[str, ...] | list[str] = (),
    input_dtypes: tuple[str, ...] | list[str] = (),
    opset: int | None = None,
    quantize: str | None = None,
    calibration_data: str | None = None,
    weights: str | None = None,
    output_names: list[str] | None = None,
    pytorch_format: str | None = None,
) -> ConvertOptions:
    """Validate and merge the CLI's loose strings into ConvertOptions (UsageError on any mistake)."""
    import os

    by_name: dict[str, InputOverride] = {}
    for text in input_shapes:
        o = parse_input_shape(text)
        if o.name in by_name:
            raise UsageError(f"--input-shape given twice for input {o.name!r}")
        by_name[o.name] = o
    for text in input_dtypes:
        name, dtype = parse_input_dtype(text)
        override = by_name.setdefault(name, InputOverride(name=name))
        if override.dtype is not None:
            raise UsageError(f"--input-dtype given twice for input {name!r}")
        override.dtype = dtype
    if opset is not None and not 7 <= opset <= 25:
        raise UsageError(f"--opset {opset}: expected an ONNX opset between 7 and 25")
    if quantize is not None and quantize not in QUANTIZE_MODES:
        raise UsageError(f"--quantize {quantize}: expected one of {', '.join(QUANTIZE_MODES)}")
    if calibration_data is not None:
        if quantize != "int8":
            raise UsageError("--calibration-data is only used with --quantize int8")
        if not os.path.isfile(calibration_data):
            raise UsageError(f"--calibration-data {calibration_data}: no such file")
    if quantize == "int8" and calibration_data is None:
        raise UsageError(
            "--quantize int8 needs --calibration-data FILE.npz (representative inputs, one array per input name); "
            "use --quantize dynamic-int8 to quantize weights only"
        )
    if pytorch_format is not None and pytorch_format not in PYTORCH_FORMATS:
        raise UsageError(f"--pytorch-format {pytorch_format}: expected one of {', '.join(PYTORCH_FORMATS)}")
    if weights is not None and not os.path.isfile(weights):
        raise UsageError(f"--weights {weights}: no such file")
    return ConvertOptions(
        opset=opset,
        quantize=quantize,
        calibration_data=os.path.abspath(calibration_data) if calibration_data else None,
        weights=os.path.abspath(weights) if weights else None,
        inputs=list(by_name.values()),
        output_names=output_names,
        pytorch_format=pytorch_format,
    )
