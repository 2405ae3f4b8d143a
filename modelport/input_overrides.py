"""What the user says about a model's inputs: the `--input-shape` and `--input-dtype` grammar.

One grammar for every command (convert, validate, bench, batch manifests), so it lives in the
shared core. `--input-shape NAME:D1,D2,...` takes ints for fixed dims and `name` or `name=N` for a
dynamic dim (N is the example size used to trace the model; a bare name uses 2, because exporters
specialise dims traced at size 0 or 1). `--input-dtype NAME:int64` sets a dtype.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelport.errors import UsageError

DTYPES = ("float32", "float16", "float64", "bfloat16", "int8", "uint8", "int16", "int32", "int64", "bool")
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
    if not m or m.group(2) not in DTYPES:
        raise UsageError(f"--input-dtype {text!r}: expected NAME:DTYPE with DTYPE one of {', '.join(DTYPES)}")
    return m.group(1), m.group(2)
