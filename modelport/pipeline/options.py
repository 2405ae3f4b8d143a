"""What to convert and how, as the Python API takes it (`modelport.api.ConvertOptions`).

The values are the ones a user types (`input_shapes=("image:batch,3,32,32",)`, `quantize="int8"`):
the CLI builds this object from its flags, a script builds it directly, and `convert()` checks it
once, before any work (converters/options.py turns it into the `EdgeOptions` every edge gets).
"""

from __future__ import annotations

from dataclasses import dataclass

from modelport.errors import UsageError


@dataclass(frozen=True)
class ConvertOptions:
    via: str | None = None  # force the route through this format (onnx, savedmodel, tflite)
    route: str | None = None  # the whole route, e.g. "pytorch->tflite" (litert-torch): only it is tried
    opset: int | None = None  # ONNX opset of ONNX outputs (default 18)
    quantize: str | None = None  # fp16, dynamic-int8 or int8 (a TFLite or ONNX output)
    calibration_data: str | None = None  # .npz of representative inputs, for quantize="int8"
    quantize_exclude: tuple[str, ...] = ()  # ONNX node names kept in float (an ONNX output; `locate` names them)
    fp16_io: bool = False  # with quantize="fp16" to ONNX: float16 inputs and outputs (default: kept float32)
    int8_activations: str | None = None  # with quantize="int8" to ONNX: uint8 (default) or int8 activations
    input_shapes: tuple[str, ...] = ()  # "NAME:D1,D2,...", a name marks a dynamic dim ("seq=16": example size)
    input_dtypes: tuple[str, ...] = ()  # "NAME:DTYPE"
    weights: str | None = None  # state_dict for a file.py:callable source or a PyTorch package
    task: str | None = None  # a Hugging Face folder's task (modelport/hf_folders.py TASKS; default: its config.json's)
    pytorch_format: str | None = None  # with to="pytorch": exported_program, torchscript or package
    keep_intermediates: bool = False  # keep the artifacts of intermediate steps beside the output
    strategies: tuple[str, ...] = ()  # "EDGE=NAME": force one of an edge's strategies (converters/strategies.py)
    fallback: bool = True  # False: each edge runs its first (or forced) strategy only, and only the planned route
    force: bool = False  # overwrite an existing output


# ValidateOptions fields that convert() cannot take: the conversion sets them, or only validate() has a use.
FIELDS_SET_BY_CONVERT = {
    "input_shapes": "give them in ConvertOptions: the conversion and its validation use the same inputs",
    "input_dtypes": "give them in ConvertOptions: the conversion and its validation use the same inputs",
    "weights": "give them in ConvertOptions: the conversion and its validation use the same weights",
    "task": "give it in ConvertOptions: the conversion and its validation build the same model",
    "save_outputs": "it applies to validate() only",
    "load_outputs": "convert() validates against its source; golden outputs apply to validate() only",
    "io_maps": "convert() sets it from the route",
    "precisions": "convert() sets it from the route",
}


def check_validation_fields(validation) -> None:
    """Refuse a ValidateOptions field that convert() would otherwise ignore (UsageError). Every
    such field is unset by default (None or empty), so an empty list counts as unset too."""
    for name, why in FIELDS_SET_BY_CONVERT.items():
        value = getattr(validation, name)
        if value is not None and not (isinstance(value, (tuple, list, dict)) and not value):
            raise UsageError(f"ValidateOptions.{name} cannot be given to convert(): {why}")
