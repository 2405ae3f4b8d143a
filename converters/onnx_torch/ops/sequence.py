"""Sequence and Optional operators: SequenceConstruct, SequenceEmpty, SequenceAt, SequenceInsert,
SequenceErase, SequenceLength, ConcatFromSequence, SplitToSequence (all opset 11; SplitToSequence-24
only adds element types), Optional (15), OptionalHasElement and OptionalGetElement (15 and 18).

Run-time representation, as the rest of the converter and the conformance harness use it: an ONNX
sequence is a Python list of tensors, an ONNX optional is its value or None. Every helper returns a
new list (a sequence value may be read again after an insert or erase elsewhere in the graph) and
never changes its input list.

Versions: OptionalHasElement-18 lets the input be omitted (then it has no element) and, like
OptionalGetElement-18, accept a plain tensor or sequence (a present value). One converter per op
covers both versions, since an omitted input reaches it as None and a present value as itself.

Positions (SequenceAt, SequenceInsert, SequenceErase) and SplitToSequence's `split` are Python
constants when static, and read from the tensor at run time otherwise. SequenceLength's result is
on the device of the sequence's tensors; for an empty sequence (no tensor to ask) on the default
device, a 0-d integer tensor that torch also accepts beside tensors on another device.

Not here: SequenceMap, which runs a subgraph per element (ops/control_flow.py), and ReverseSequence,
a tensor op (ops/indexing.py).
"""

from __future__ import annotations

import operator

import torch

from modelport.converters.onnx_torch.ops._args import _ints
from modelport.converters.onnx_torch.registry import register


def _static_int(b, node, i):
    """Input i as a Python int when known at conversion time, else None."""
    s = b.static(node, i)
    return None if s is None else int(s.reshape(-1)[0])


# -- SequenceConstruct, SequenceEmpty, SequenceLength -----------------------------------------------
def sequence_construct(tensors):
    return list(tensors)


@register("SequenceConstruct", since=11)
def _sequence_construct(b, node, x, attrs):
    return b.call(sequence_construct, [t for t in x if t is not None])


def sequence_empty():
    """An empty sequence (the `dtype` attribute types its elements; a list needs none)."""
    return []


@register("SequenceEmpty", since=11)
def _sequence_empty(b, node, x, attrs):
    return b.call(sequence_empty)


def sequence_length(seq):
    return torch.tensor(len(seq), dtype=torch.int64, device=seq[0].device if len(seq) else None)


@register("SequenceLength", since=11)
def _sequence_length(b, node, x, attrs):
    return b.call(sequence_length, x[0])


# -- SequenceAt, SequenceInsert, SequenceErase ----------------------------------------------------
def _position(position, n, allow_end):
    """A position in [-n, n - 1] (or [-n, n] where the end is allowed) as an index in [0, n]."""
    p = int(position)
    if not -n <= p <= (n if allow_end else n - 1):
        raise IndexError(f"sequence position {p} is out of range for a sequence of {n}")
    return p + n if p < 0 else p


def sequence_at(seq, position):
    return seq[_position(position, len(seq), False)]


@register("SequenceAt", since=11)
def _sequence_at(b, node, x, attrs):
    p = _static_int(b, node, 1)
    if p is not None:
        return b.call(operator.getitem, x[0], p)
    return b.call(sequence_at, x[0], x[1])


def sequence_insert(seq, tensor, position=None):
    """A new list: `tensor` inserted before `position` (at the end when None)."""
    out = list(seq)
    if position is None:
        out.append(tensor)
    else:
        out.insert(_position(position, len(out), True), tensor)
    return out


@register("SequenceInsert", since=11)
def _sequence_insert(b, node, x, attrs):
    position = x[2] if len(x) > 2 else None
    p = _static_int(b, node, 2)
    return b.call(sequence_insert, x[0], x[1], p if p is not None else position)


def sequence_erase(seq, position=-1):
    """A new list without the element at `position` (the last one by default)."""
    out = list(seq)
    del out[_position(position, len(out), False)]
    return out


@register("SequenceErase", since=11)
def _sequence_erase(b, node, x, attrs):
    position = x[1] if len(x) > 1 and x[1] is not None else -1
    p = _static_int(b, node, 1)
    return b.call(sequence_erase, x[0], p if p is not None else position)


# -- ConcatFromSequence, SplitToSequence -----------------------------------------------------------
@register("ConcatFromSequence", since=11)
def _concat_from_sequence(b, node, x, attrs):
    # new_axis=1 stacks: axis then ranges over [-r - 1, r] of the rank-(r + 1) result, as torch.stack's dim.
    if attrs.get("new_axis", 0):
        return b.call(torch.stack, x[0], dim=attrs["axis"])
    return b.call(torch.cat, x[0], dim=attrs["axis"])


def split_to_sequence(x, split=None, axis=0, keepdims=1):
    """Without `split`, every index of `axis` (kept as a size-1 axis if keepdims); with a scalar
    `split`, chunks of that length (the last one shorter); with a 1-D one, chunks of those lengths."""
    if axis < 0:
        axis += x.dim()
    if split is None:
        parts = x.unbind(axis)
        return [p.unsqueeze(axis) for p in parts] if keepdims else list(parts)
    if isinstance(split, int) or (isinstance(split, torch.Tensor) and split.dim() == 0):
        if x.shape[axis] == 0:
            return []
        return list(torch.split(x, int(split), dim=axis))
    return list(torch.split(x, _ints(split), dim=axis))


@register("SplitToSequence", since=11)
def _split_to_sequence(b, node, x, attrs):
    split = x[1] if len(x) > 1 else None
    s = b.static(node, 1)
    if s is not None:  # a 0-d split is a chunk length, a 1-D one the chunks' lengths
        split = int(s) if s.ndim == 0 else [int(v) for v in s.reshape(-1)]
    return b.call(split_to_sequence, x[0], split, attrs.get("axis", 0), attrs.get("keepdims", 1))


# -- Optional, OptionalHasElement, OptionalGetElement ----------------------------------------------
def optional_empty():
    """An optional without a value (the `type` attribute says of what; None needs no type)."""
    return None


@register("Optional", since=15)
def _optional(b, node, x, attrs):
    if x and x[0] is not None:
        return x[0]
    return b.call(optional_empty)


def optional_has_element(x=None):
    if isinstance(x, torch.Tensor):
        device = x.device
    elif isinstance(x, (list, tuple)) and len(x):
        device = x[0].device
    else:
        device = None
    return torch.tensor(x is not None, dtype=torch.bool, device=device)


@register("OptionalHasElement", since=15)
def _optional_has_element(b, node, x, attrs):
    return b.call(optional_has_element, x[0] if x else None)


def optional_get_element(x):
    if x is None:
        raise ValueError("OptionalGetElement: the optional input has no value")
    return x


@register("OptionalGetElement", since=15)
def _optional_get_element(b, node, x, attrs):
    return b.call(optional_get_element, x[0])
