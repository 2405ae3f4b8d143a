"""Read a .tflite flatbuffer in Python, before any C++ touches it: list its custom operators, and
verify that it is whole (shared by converters' signatures and validators' TFLite runner).

The interpreter refuses a model with unresolved custom ops only at allocation time, with one
opaque message; reading the flatbuffer's operator codes names every custom op at once, which is
what the user needs (onnx2tf writes ONNX ops it cannot lower as custom `ONNX_*` ops: trap 9).
"""

from __future__ import annotations

_CUSTOM = 32  # BuiltinOperator.CUSTOM in the TFLite schema


def custom_op_names(path: str) -> list[str]:
    from ai_edge_litert import schema_py_generated as schema  # ships with the interpreter

    with open(path, "rb") as f:
        buf = f.read()
    model = schema.Model.GetRootAsModel(buf, 0)
    names = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == _CUSTOM and code.CustomCode():
            names.append(code.CustomCode().decode("utf-8", "replace"))
    return sorted(set(names))


def verify(path: str) -> None:
    """Walk the flatbuffer in Python and raise ValueError if it is truncated or malformed.

    The C++ interpreter trusts the file and can crash the process (SIGSEGV) on a truncated one;
    Python's flatbuffers reader raises instead, so reading every table first makes a damaged file
    an error message rather than a crash.
    """
    import os

    from ai_edge_litert import schema_py_generated as schema

    size = os.path.getsize(path)
    with open(path, "rb") as f:
        buf = f.read()
    try:
        model = schema.Model.GetRootAsModel(buf, 0)
        if model.Version() not in (3,):
            raise ValueError(f"unsupported schema version {model.Version()}")
        for i in range(model.OperatorCodesLength()):
            model.OperatorCodes(i).BuiltinCode()
        if model.SubgraphsLength() == 0:
            raise ValueError("no subgraphs")
        for s in range(model.SubgraphsLength()):
            g = model.Subgraphs(s)
            for t in range(g.TensorsLength()):
                tensor = g.Tensors(t)
                _text(tensor.Name(), "a tensor name")  # the interpreter decodes names as UTF-8 and raises
                tensor.ShapeAsNumpy() if tensor.ShapeLength() else None
                if tensor.Buffer() >= model.BuffersLength():
                    raise ValueError("tensor refers to a missing buffer")
            count = g.TensorsLength()
            for what, indices in (("a subgraph input", g.InputsAsNumpy() if g.InputsLength() else ()),
                                  ("a subgraph output", g.OutputsAsNumpy() if g.OutputsLength() else ())):
                _indices(indices, count, what, optional=False)
            for o in range(g.OperatorsLength()):
                op = g.Operators(o)
                if op.OpcodeIndex() >= model.OperatorCodesLength():
                    raise ValueError("operator refers to a missing operator code")
                # The interpreter indexes its tensor array with these unchecked: out of range, it crashes.
                _indices(op.InputsAsNumpy() if op.InputsLength() else (), count, "an operator input")
                _indices(op.OutputsAsNumpy() if op.OutputsLength() else (), count, "an operator output")
                _indices(op.IntermediatesAsNumpy() if op.IntermediatesLength() else (), count, "an operator intermediate")
        for i in range(model.SignatureDefsLength()):
            sig = model.SignatureDefs(i)
            _text(sig.SignatureKey(), "a signature name")
            for j in range(sig.InputsLength()):
                _text(sig.Inputs(j).Name(), "a signature input name")
            for j in range(sig.OutputsLength()):
                _text(sig.Outputs(j).Name(), "a signature output name")
        for b in range(model.BuffersLength()):
            buffer = model.Buffers(b)
            if buffer.DataLength():
                buffer.DataAsNumpy()
            if buffer.Offset() > 1 and buffer.Offset() + buffer.Size() > size:
                raise ValueError("a weight buffer lies past the end of the file")
    except ValueError:
        raise
    except Exception as e:  # struct.error / IndexError from reading past the end
        raise ValueError(f"{type(e).__name__} while reading the flatbuffer") from None


def _text(raw: bytes | None, what: str) -> None:
    if raw is not None:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{what} is not UTF-8 text") from None


def _indices(indices, count: int, what: str, optional: bool = True) -> None:
    """Tensor indices must name a tensor (-1 marks an omitted optional input)."""
    low = -1 if optional else 0
    for i in indices:
        if not low <= int(i) < count:
            raise ValueError(f"{what} refers to tensor {int(i)} of {count}")
