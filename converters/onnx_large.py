"""ONNX models past protobuf's 2 GB: sizes, copies and saves that do not serialize them whole.

Why: one protobuf message cannot be serialized past 2 GB, so a model that large keeps its weights in
external data files and every step that would call `ByteSize()` or `SerializeToString()` on it fails
("EncodeError: Failed to serialize proto", measured on a 2.7 GB MLP). onnx and ONNX Runtime handle
such models by path (external data beside the model): these helpers tell when a model is that
large without serializing it, copy one with its data files, and save one in the form that fits.
"""

from __future__ import annotations

import os
import shutil

import numpy as np

from modelport.onnx_external_data import external_files

SINGLE_FILE_BYTES = 1_800_000_000  # under protobuf's 2 GB: what one ONNX file can hold, with room for the graph


def tensor_bytes(tensor) -> int:
    """Bytes of one TensorProto's values, whether held in memory or named in external data."""
    from onnx import TensorProto, helper

    if tensor.data_type in (TensorProto.STRING, TensorProto.UNDEFINED):
        return tensor.ByteSize()
    count = int(np.prod(tensor.dims, dtype=np.int64)) if len(tensor.dims) else 1
    return count * np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize


def weights_bytes(model) -> int:
    """Bytes of every tensor of `model` (initializers, Constant attributes, subgraphs): what decides
    whether it fits one file. `model.ByteSize()` cannot tell: past 2 GB it raises."""
    from onnx.external_data_helper import _get_all_tensors

    return sum(tensor_bytes(t) for t in _get_all_tensors(model))


def is_large(model) -> bool:
    return weights_bytes(model) > SINGLE_FILE_BYTES


def copy_with_external_data(source: str, model, dest: str) -> None:
    """Copy the model file to `dest` and its external data files beside it, byte for byte (no
    parse of the weights, no memory for them). ONNX Runtime's quantizers write files beside the
    model they read (shape inference's `-inferred.onnx`), so a large source is worked on as such a
    copy in the step's scratch folder; the source's own folder may be read-only (the sandbox)."""
    folder, into = os.path.dirname(os.path.abspath(source)), os.path.dirname(os.path.abspath(dest))
    targets = {location: os.path.realpath(os.path.join(folder, location)) for location in external_files(model)}
    for location, target in targets.items():
        if not target.startswith(os.path.realpath(folder) + os.sep):  # as ONNX Runtime refuses it
            raise ValueError(f"external data {location!r} lies outside the model's folder")
    shutil.copyfile(source, dest)
    for location, target in targets.items():
        os.makedirs(os.path.dirname(os.path.join(into, location)) or into, exist_ok=True)
        shutil.copyfile(target, os.path.join(into, location))


def save(model, path: str) -> None:
    """Save as one file when the weights fit one, else with every tensor in `<file>.data` beside it
    (the name placement.place() moves with the model). A large `model` is left as its graph: onnx's
    external-data save moves its weights out (no second copy of gigabytes in memory)."""
    import onnx

    if not is_large(model):
        onnx.save(model, path)
        return
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location=os.path.basename(path) + ".data", size_threshold=1024)


def as_one_file_if_it_fits(path: str) -> None:
    """A model written with external data (ONNX Runtime's quantizers, asked to, write all of it so)
    becomes one file when its weights fit one: int8 of a 2.7 GB model is 0.7 GB, which a user
    expects as one .onnx. Decided by the written weights, not by an estimate."""
    import onnx

    bare = onnx.load(path, load_external_data=False)
    locations = external_files(bare)
    if not locations or is_large(bare):
        return
    whole = onnx.load(path)
    onnx.save(whole, path)
    folder = os.path.dirname(os.path.abspath(path))
    for location in locations:
        os.remove(os.path.join(folder, location))
