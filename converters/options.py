"""What a conversion edge is asked to do, as one small typed object, built from the user's options.

`build_options` checks the loose values a user gives (the CLI's strings, `modelport.api.ConvertOptions`)
once, before any work, and turns them into `EdgeOptions`, which travels to every edge's worker as
JSON. The `--input-shape` / `--input-dtype` grammar itself is shared (modelport/input_overrides.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from modelport.errors import UsageError
from modelport.input_overrides import InputOverride, parse_input_dtype, parse_input_shape
from modelport.types import QUANTIZE_PRESET

PYTORCH_FORMATS = ("exported_program", "torchscript", "package")
QUANTIZE_MODES = tuple(QUANTIZE_PRESET)
# What --quantize means for each format that has a quantizing step (checked by the planner).
INT8_ACTIVATIONS = ("uint8", "int8")  # --int8-activations: ONNX Runtime's U8S8 (default) or S8S8
QUANTIZE_BY_TARGET = {"tflite": ("fp16", "dynamic-int8", "int8"), "onnx": ("fp16", "dynamic-int8", "int8"),
                      "tfjs": ("fp16", "uint8", "uint16")}


@dataclass
class EdgeOptions:
    """What every conversion edge is told, parsed and checked (plain JSON-able data for its worker)."""

    opset: int | None = None
    quantize: str | None = None
    calibration_data: str | None = None
    # ONNX node names left in float by --quantize (an ONNX output: ONNX Runtime's nodes_to_exclude)
    quantize_exclude: list[str] = field(default_factory=list)
    fp16_io: bool = False  # --quantize fp16 to ONNX: float16 inputs and outputs too (default: kept float32)
    # --quantize int8 to ONNX: the activations' type, uint8 or int8 (None: uint8; onnx_quantize says why)
    int8_activations: str | None = None
    weights: str | None = None
    inputs: list[InputOverride] = field(default_factory=list)
    output_names: list[str] | None = None
    pytorch_format: str | None = None  # onnx->pytorch: exported_program (default), torchscript or package
    task: str | None = None  # a Hugging Face folder source's --task (modelport/hf_folders.py)
    # NAME -> [lo, hi): the range an integer (or float) input is drawn from in the smoke run, as in
    # the validation (--value-range; a Hugging Face folder's ids within its vocabulary)
    value_ranges: dict[str, list[float]] = field(default_factory=dict)

    def input(self, name: str) -> InputOverride | None:
        return next((i for i in self.inputs if i.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EdgeOptions":
        d = dict(d)
        d["inputs"] = [InputOverride(**i) for i in d.get("inputs", [])]
        return cls(**d)


def build_options(
    *,
    input_shapes: tuple[str, ...] | list[str] = (),
    input_dtypes: tuple[str, ...] | list[str] = (),
    opset: int | None = None,
    quantize: str | None = None,
    calibration_data: str | None = None,
    quantize_exclude: tuple[str, ...] | list[str] = (),
    fp16_io: bool = False,
    int8_activations: str | None = None,
    weights: str | None = None,
    output_names: list[str] | None = None,
    pytorch_format: str | None = None,
    value_ranges: dict[str, tuple[float, float]] | None = None,
    task: str | None = None,
) -> EdgeOptions:
    """Validate and merge the CLI's loose strings into EdgeOptions (UsageError on any mistake)."""
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
    if quantize_exclude and quantize is None:
        raise UsageError("--quantize-exclude names nodes to keep in float when quantizing: give --quantize too")
    if fp16_io and quantize != "fp16":
        raise UsageError("--fp16-io makes an fp16 ONNX model's inputs and outputs float16: give --quantize fp16 too")
    if int8_activations is not None:
        if int8_activations not in INT8_ACTIVATIONS:
            raise UsageError(f"--int8-activations {int8_activations}: expected one of {', '.join(INT8_ACTIVATIONS)}")
        if quantize != "int8":
            raise UsageError("--int8-activations chooses a static int8 ONNX model's activation type: give --quantize int8 too")
    if any(not n.strip() for n in quantize_exclude):
        raise UsageError("--quantize-exclude: a node name is empty")
    if quantize == "int8" and calibration_data is None:
        raise UsageError(
            "--quantize int8 needs --calibration-data FILE.npz (representative inputs, one array per input name); "
            "use --quantize dynamic-int8 to quantize weights only"
        )
    if pytorch_format is not None and pytorch_format not in PYTORCH_FORMATS:
        raise UsageError(f"--pytorch-format {pytorch_format}: expected one of {', '.join(PYTORCH_FORMATS)}")
    if weights is not None and not os.path.isfile(weights):
        raise UsageError(f"--weights {weights}: no such file")
    return EdgeOptions(
        opset=opset,
        quantize=quantize,
        calibration_data=os.path.abspath(calibration_data) if calibration_data else None,
        quantize_exclude=list(dict.fromkeys(quantize_exclude)),
        fp16_io=fp16_io,
        int8_activations=int8_activations,
        weights=os.path.abspath(weights) if weights else None,
        inputs=list(by_name.values()),
        output_names=output_names,
        pytorch_format=pytorch_format,
        value_ranges={k: [float(lo), float(hi)] for k, (lo, hi) in (value_ranges or {}).items()},
        task=task,
    )
