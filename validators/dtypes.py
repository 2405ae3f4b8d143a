"""Map runtime type names to numpy dtype names."""

_ORT = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
        "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int16)": "int16", "tensor(int8)": "int8",
        "tensor(uint8)": "uint8", "tensor(bool)": "bool", "tensor(bfloat16)": "bfloat16"}


def ort_type_to_numpy(t: str) -> str:
    return _ORT.get(t, t)
