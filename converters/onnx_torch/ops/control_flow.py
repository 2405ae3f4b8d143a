"""Control flow: If, Loop, Scan and SequenceMap, with their subgraphs as submodules.

Each subgraph becomes a module of its own (Builder.subgraph), called by a helper below with the
subgraph's inputs followed by the outer values it reads. The helpers run the control flow in
Python: exact, and fine in eager mode and in the Python package. torch.export can follow them
only where the decision is known when tracing (a trip count or condition given as a constant,
which the converters pass as Python values); a condition computed from the data stops it, and
the edge then points to the package format. TorchScript tracing would record one branch
silently, so the edge refuses it for models with control flow.

Loop-1's and Scan-8's forms (Scan-8 has a batch axis) are not converted: Loop is registered from
opset 1 with the semantics it has had since (they changed only in which types it carries), Scan
from opset 9.
"""

from __future__ import annotations

import operator

import torch

from modelport.converters.onnx_torch.ops._args import _scalar
from modelport.converters.onnx_torch.registry import register

CONTROL_FLOW = ("If", "Loop", "Scan", "SequenceMap")


# -- runtime helpers ---------------------------------------------------------------------------------
def if_(cond, then_branch, else_branch, n_then, *outer):
    """Run one branch; `outer` holds the then-branch's outer values, then the else-branch's."""
    if bool(cond):
        return then_branch(*outer[:n_then])
    return else_branch(*outer[n_then:])


def loop(max_trip, cond, body, n_state, n_scan, *args):
    """ONNX Loop: body(i, cond, *state, *outer) -> (cond, *state, *scan values), until the trip
    count or the condition stops it; scan values are stacked on a new first axis."""
    state, outer = list(args[:n_state]), args[n_state:]
    trips = None if max_trip is None else int(_scalar(max_trip))
    going = True if cond is None else bool(_scalar(cond))
    device = _device(max_trip, cond, *state)
    scans = [[] for _ in range(n_scan)]
    i = 0
    while going and (trips is None or i < trips):
        out = body(torch.tensor(i, dtype=torch.int64, device=device),
                   torch.tensor(going, dtype=torch.bool, device=device), *state, *outer)
        going = bool(out[0])
        state = list(out[1:1 + n_state])
        for acc, value in zip(scans, out[1 + n_state:]):
            acc.append(value)
        i += 1
    return (*state, *[_stack(acc, 0, device) for acc in scans])


def scan(body, n_state, n_inputs, in_axes, in_reverse, out_axes, out_reverse, *args):
    """ONNX Scan (opset 9+): body(*state, *slices, *outer) -> (*state, *scan values), once per
    position along each scan input's axis (backwards where `in_reverse`)."""
    state = list(args[:n_state])
    xs, outer = args[n_state:n_state + n_inputs], args[n_state + n_inputs:]
    axes = [a % x.dim() for a, x in zip(in_axes, xs)]
    steps = xs[0].shape[axes[0]] if xs else 0
    device = _device(*xs, *state)
    scans = None
    for t in range(steps):
        slices = [x.select(a, steps - 1 - t if rev else t) for x, a, rev in zip(xs, axes, in_reverse)]
        out = body(*state, *slices, *outer)
        state = list(out[:n_state])
        if scans is None:
            scans = [[] for _ in out[n_state:]]
        for acc, value in zip(scans, out[n_state:]):
            acc.append(value)
    scans = scans or [[] for _ in out_axes]
    stacked = []
    for acc, axis, rev in zip(scans, out_axes, out_reverse):
        values = acc[::-1] if rev else acc
        stacked.append(_stack(values, axis % (values[0].dim() + 1) if values else 0, device))
    return (*state, *stacked)


def sequence_map(body, n_inputs, n_outputs, *args):
    """ONNX SequenceMap: body(element i of each sequence input, each tensor input as is, *outer) for
    every position of the first sequence; each body output becomes a sequence."""
    inputs, outer = args[:n_inputs], args[n_inputs:]
    results = [[] for _ in range(n_outputs)]
    for i in range(len(inputs[0])):
        out = body(*[v[i] if isinstance(v, (list, tuple)) else v for v in inputs], *outer)
        for acc, value in zip(results, out):
            acc.append(value)
    return tuple(results)


def _stack(values, axis, device):
    if not values:  # no iteration ran: ONNX gives an empty tensor
        return torch.zeros((0,), device=device)
    return torch.stack(values, axis)


def _device(*values):
    for v in values:
        if isinstance(v, torch.Tensor):
            return v.device
    return None


# -- converters --------------------------------------------------------------------------------------
def _outputs(b, node, result):
    return tuple(b.call(operator.getitem, result, i) for i in range(len(node.output)))


def _constant(b, node, index, x, kind):
    """A Python value for an input known when converting (so torch.export can unroll), else the node."""
    value = b.static(node, index)
    if value is not None and value.size == 1:
        return kind(value.reshape(-1)[0])
    return x[index] if index < len(x) else None


@register("If", since=1)
def _if(b, node, x, attrs):
    then_mod, then_outer = b.subgraph(attrs["then_branch"], "then_branch")
    else_mod, else_outer = b.subgraph(attrs["else_branch"], "else_branch")
    result = b.call(if_, _constant(b, node, 0, x, bool), then_mod, else_mod, len(then_outer), *then_outer, *else_outer)
    return _outputs(b, node, result)


@register("Loop", since=1)
def _loop(b, node, x, attrs):
    body = attrs["body"]
    n_state = len(node.input) - 2
    n_scan = len(body.output) - 1 - n_state
    mod, outer = b.subgraph(body, "loop_body")
    result = b.call(loop, _constant(b, node, 0, x, int), _constant(b, node, 1, x, bool), mod, n_state, n_scan,
                    *x[2:], *outer)
    return _outputs(b, node, result)


@register("Scan", since=9)
def _scan(b, node, x, attrs):
    n_inputs = attrs["num_scan_inputs"]
    n_state = len(node.input) - n_inputs
    n_out = len(node.output) - n_state
    mod, outer = b.subgraph(attrs["body"], "scan_body")
    in_axes = list(attrs.get("scan_input_axes") or [0] * n_inputs)
    in_rev = [bool(d) for d in (attrs.get("scan_input_directions") or [0] * n_inputs)]
    out_axes = list(attrs.get("scan_output_axes") or [0] * n_out)
    out_rev = [bool(d) for d in (attrs.get("scan_output_directions") or [0] * n_out)]
    result = b.call(scan, mod, n_state, n_inputs, in_axes, in_rev, out_axes, out_rev, *x, *outer)
    return _outputs(b, node, result)


@register("SequenceMap", since=17)
def _sequence_map(b, node, x, attrs):
    mod, outer = b.subgraph(attrs["body"], "map_body")
    result = b.call(sequence_map, mod, len(node.input), len(node.output), *x, *outer)
    return _outputs(b, node, result)
