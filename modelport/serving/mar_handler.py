"""The TorchServe handler that `modelport package --for torchserve` puts inside every .mar.

It is copied into the archive as it is and runs inside TorchServe's Python backend, so it imports
nothing from modelport: only json, numpy and torch. It loads the archive's TorchScript
(`torch.jit.load`) or ExportedProgram (`torch.export.load(...).module()`) and reads the I/O map
that modelport wrote beside it (`modelport_io.json`: input names in call order, output names).

Request body (JSON), inputs by name; each either a tensor object or nested lists:

    {"inputs": {"image": {"shape": [1, 3, 32, 32], "dtype": "float32", "data": [0.1, ...]}}}
    {"inputs": {"image": [[[[0.1, ...]]]]}}          (nested lists: the I/O map's dtype)

Response body (JSON), outputs by name, always tensor objects with flat row-major data:

    {"outputs": {"output": {"shape": [1, 10], "dtype": "float32", "data": [...]}}}

float32 values written as JSON numbers come back bit-exact (every float32 is a float64, and
Python writes a float64 so that it reads back the same). A request that does not fit answers an
error body {"error": "..."} instead of an output, with the reason.
"""

import json
import os

IO_FILE = "modelport_io.json"

_state = {}


def _load(context):
    import torch

    model_dir = context.system_properties.get("model_dir")
    with open(os.path.join(model_dir, IO_FILE)) as f:
        io = json.load(f)
    path = os.path.join(model_dir, io["model_file"])
    if io["flavor"] == "exported_program":
        model = torch.export.load(path).module()
    else:
        model = torch.jit.load(path, map_location="cpu").eval()
    _state.update(model=model, io=io, torch=torch)


def _tensor(name, value, spec):
    import numpy as np

    if isinstance(value, dict):
        dtype = np.dtype(value.get("dtype") or spec.get("dtype") or "float32")
        array = np.asarray(value["data"], dtype=dtype)
        if "shape" in value:
            array = array.reshape(value["shape"])
    else:
        array = np.asarray(value, dtype=np.dtype(spec.get("dtype") or "float32"))
    return _state["torch"].from_numpy(np.ascontiguousarray(array))


def _answer(body):
    torch, io = _state["torch"], _state["io"]
    if isinstance(body, (bytes, bytearray)):
        body = json.loads(body.decode("utf-8"))
    elif isinstance(body, str):
        body = json.loads(body)
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), dict):
        raise ValueError('expected a JSON object {"inputs": {NAME: tensor, ...}}')
    given = body["inputs"]
    names = [s["name"] for s in io["inputs"]]
    missing = [n for n in names if n not in given]
    unknown = [n for n in given if n not in names]
    if missing or unknown:
        raise ValueError(f"inputs are {names}; missing {missing}, unknown {unknown}")
    args = [_tensor(s["name"], given[s["name"]], s) for s in io["inputs"]]
    with torch.no_grad():
        out = _state["model"](*args)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    out_names = io["outputs"] if len(io["outputs"]) == len(outs) else (
        ["output"] if len(outs) == 1 else [f"output_{i}" for i in range(len(outs))])
    answer = {}
    for name, t in zip(out_names, outs):
        a = t.detach().cpu().numpy()
        answer[name] = {"shape": list(a.shape), "dtype": a.dtype.name, "data": a.reshape(-1).tolist()}
    return {"outputs": answer}


def handle(data, context):
    """TorchServe's entry point: a batch of requests in, one answer per request out."""
    if "model" not in _state:
        _load(context)
    if data is None:
        return None
    answers = []
    for row in data:
        body = row.get("body") if row.get("body") is not None else row.get("data")
        try:
            answers.append(_answer(body))
        except Exception as e:  # the client gets the reason, the worker stays up
            answers.append({"error": f"{type(e).__name__}: {str(e).strip()[:300]}"})
    return answers
