"""ONNX tensor element types as torch dtypes (Cast, ConstantOfShape, EyeLike, RandomNormal...)."""

from __future__ import annotations

import torch

# onnx.TensorProto.DataType values
TORCH_DTYPES = {
    1: torch.float32, 2: torch.uint8, 3: torch.int8, 4: torch.uint16, 5: torch.int16, 6: torch.int32, 7: torch.int64,
    9: torch.bool, 10: torch.float16, 11: torch.float64, 12: torch.uint32, 13: torch.uint64, 16: torch.bfloat16,
    17: torch.float8_e4m3fn, 18: torch.float8_e4m3fnuz, 19: torch.float8_e5m2, 20: torch.float8_e5m2fnuz,
}


def torch_dtype(onnx_type: int) -> torch.dtype:
    from modelport.errors import ConversionError

    try:
        return TORCH_DTYPES[onnx_type]
    except KeyError:
        raise ConversionError(f"ONNX element type {onnx_type} has no torch dtype") from None
