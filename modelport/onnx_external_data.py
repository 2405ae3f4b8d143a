"""The external data files an ONNX model names, read and renamed without loading the weights.

Why here, in the package root: the sandbox (workers) must let a worker read the data files beside
an ONNX source, placement (core) renames them when it moves an artifact into place, and the large-model
quantizer (converters) copies them; the layers allow each of them to import the root, not each other.
"""

from __future__ import annotations


def external_files(model) -> list[str]:
    """The relative locations of the external data files `model` names (parsed without them), in
    the order first named."""
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    found = []
    for tensor in _get_all_tensors(model):
        if uses_external_data(tensor):
            location = next((e.value for e in tensor.external_data if e.key == "location"), None)
            if location and location not in found:
                found.append(location)
    return found


def rename_location(model, old: str, new: str) -> None:
    """Point every tensor of `model` that names external data file `old` at `new` instead."""
    from onnx.external_data_helper import _get_all_tensors

    for tensor in _get_all_tensors(model):
        for entry in tensor.external_data:
            if entry.key == "location" and entry.value == old:
                entry.value = new
