"""Recurrent layers: LSTM, GRU and RNN (ONNX opsets 1, 3, 7, 14 and 22; one converter each, since
the versions differ only in ways a converter need not branch on: `layout` arrived in 14 and
defaults to 0, opset 22 added bfloat16, and opset 1's `output_sequence` only says whether Y may be
omitted, which an omitted output already says).

Covered: directions forward, reverse and bidirectional; the optional inputs B, sequence_lens,
initial_h, initial_c and P (peepholes); every activation the specification lists (Relu, Tanh,
Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus,
names in any case) with activation_alpha / activation_beta; clip; input_forget (LSTM);
linear_before_reset (GRU); layout 0 and 1; any of the outputs Y, Y_h, Y_c omitted.

The recurrence is written out in torch, one Python loop over the time steps, rather than mapped
onto torch.nn.LSTM / GRU / RNN: those order the gates differently (ifgo and rzn, not ONNX's iofc
and zrh), have no peepholes, clip, input_forget or other activations, and torch.nn.GRU computes
only linear_before_reset=1. The input projection of every step is one matmul before the loop.

Semantics the specification leaves open follow onnxruntime, the reference runtime in practice,
except where it departs from the specification's text:
- LSTM and GRU: activation_alpha / activation_beta are consumed in order only by the activations
  that take them (Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu), across
  directions. RNN (one activation per direction): the i-th value belongs to the i-th activation,
  as onnxruntime and the onnx reference implementation read it.
- An activation left without a value gets the default of the ONNX operator of that name, as the
  specification says (LeakyRelu 0.01, ThresholdedRelu 1.0, HardSigmoid 0.2 / 0.5, Elu 1.0,
  Affine 1.0 / 0.0; ScaledTanh, whose operator had none, 1.0 / 1.0). onnxruntime differs here:
  its RNN defaults every value to 0, its LSTM / GRU Affine, ThresholdedRelu and ScaledTanh too.
- clip bounds the input of every gate activation (after bias and peephole terms), not the cell
  state that h() reads.
- input_forget=1 couples the gates as f = 1 - i.
- With sequence_lens, a sequence stops at its length: Y is zero past it, Y_h / Y_c are the states
  at its last step (for reverse, its first), and zero for a sequence of length 0.
- Given activations for one direction only, a bidirectional layer uses them for both.

Not covered: a sequence of length 0 along the time axis (no step to stack). The loop runs over the
time steps of the tensor it is given, so torch.export / tracing unrolls it for the sequence length
of the example input.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F

from modelport.converters.onnx_torch.registry import register
from modelport.errors import ConversionError


# -- activations ------------------------------------------------------------------------------------
# Each takes (x, alpha, beta), so that one call shape serves all; names are ONNX's, lower-cased.
def _relu(x, alpha, beta):
    return torch.relu(x)


def _tanh(x, alpha, beta):
    return torch.tanh(x)


def _sigmoid(x, alpha, beta):
    return torch.sigmoid(x)


def _affine(x, alpha, beta):
    return x * alpha + beta


def _leaky_relu(x, alpha, beta):
    return torch.where(x >= 0, x, x * alpha)


def _thresholded_relu(x, alpha, beta):
    """x >= alpha, as the recurrent operators' specification writes it."""
    return torch.where(x >= alpha, x, torch.zeros_like(x))


def _scaled_tanh(x, alpha, beta):
    return alpha * torch.tanh(beta * x)


def _hard_sigmoid(x, alpha, beta):
    return torch.clamp(x * alpha + beta, 0.0, 1.0)


def _elu(x, alpha, beta):
    return torch.where(x >= 0, x, alpha * torch.expm1(x))


def _softsign(x, alpha, beta):
    return x / (1 + torch.abs(x))


def _softplus(x, alpha, beta):
    return F.softplus(x)


# The package writer puts a constant that names functions after their definitions (inline.py).
_ACTIVATIONS = {
    "relu": _relu, "tanh": _tanh, "sigmoid": _sigmoid, "affine": _affine, "leakyrelu": _leaky_relu,
    "thresholdedrelu": _thresholded_relu, "scaledtanh": _scaled_tanh, "hardsigmoid": _hard_sigmoid,
    "elu": _elu, "softsign": _softsign, "softplus": _softplus,
}


# (takes alpha, takes beta, default alpha, default beta) of the activations with parameters.
_PARAMETERS = {
    "affine": (True, True, 1.0, 0.0), "leakyrelu": (True, False, 0.01, 0.0),
    "thresholdedrelu": (True, False, 1.0, 0.0), "scaledtanh": (True, True, 1.0, 1.0),
    "hardsigmoid": (True, True, 0.2, 0.5), "elu": (True, False, 1.0, 0.0),
}


def _activate(x, act, clip):
    """act(clip(x)), act being (name, alpha, beta) as resolved at conversion time."""
    if clip is not None:
        x = torch.clamp(x, -clip, clip)
    return _ACTIVATIONS[act[0]](x, act[1], act[2])


# -- one time step of each cell ----------------------------------------------------------------------
def _lstm_cell(xw, state, r, peepholes, acts, clip, input_forget):
    """ONNX LSTM step: xw is x_t W^T + Wb + Rb; gates in iofc order; acts are (f, g, h)."""
    h, c = state
    i, o, f, g = (xw + h @ r.t()).chunk(4, -1)
    if peepholes is not None:
        i = i + peepholes[0] * c
        f = f + peepholes[2] * c
    i = _activate(i, acts[0], clip)
    f = 1 - i if input_forget else _activate(f, acts[0], clip)
    c = f * c + i * _activate(g, acts[1], clip)
    if peepholes is not None:
        o = o + peepholes[1] * c  # the output gate peeks at the new cell state
    o = _activate(o, acts[0], clip)
    return o * _activate(c, acts[2], None), c


def _gru_cell(xw, state, r, rb, acts, clip, linear_before_reset):
    """ONNX GRU step: xw is x_t W^T + Wb; gates in zrh order; acts are (f, g). The reset gate
    applies after (linear_before_reset) or before the recurrent matmul of the hidden gate."""
    (h,) = state
    hidden = h.shape[-1]
    xz, xr, xh = xw.chunk(3, -1)
    hzr = h @ r[:2 * hidden].t() + rb[:2 * hidden]
    z = _activate(xz + hzr[..., :hidden], acts[0], clip)
    reset = _activate(xr + hzr[..., hidden:], acts[0], clip)
    rh = r[2 * hidden:].t()
    if linear_before_reset:
        candidate = xh + reset * (h @ rh + rb[2 * hidden:])
    else:
        candidate = xh + (reset * h) @ rh + rb[2 * hidden:]
    candidate = _activate(candidate, acts[1], clip)
    return ((1 - z) * candidate + z * h,)


def _rnn_cell(xw, state, r, acts, clip):
    """ONNX RNN step: xw is x_t W^T + Wb + Rb; acts is (f,)."""
    (h,) = state
    return (_activate(xw + h @ r.t(), acts[0], clip),)


# -- the time loop and layouts -----------------------------------------------------------------------
def _recur(cell, xw, lengths, reverse, state, args):
    """Run `cell` over the steps of xw (seq, batch, gates), backwards for reverse. A sequence past
    its length keeps its state and outputs zeros, so its last valid step holds the final state
    either way (reverse starts at the step just before its length). Returns (outputs stacked on
    time in input order, final state tuple); state[0] is the hidden state, the output."""
    steps = xw.shape[0]
    outputs = [None] * steps
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    for t in order:
        new = cell(xw[t], state, *args)
        if lengths is not None:
            valid = (t < lengths).unsqueeze(-1)
            new = tuple([torch.where(valid, n, s) for n, s in zip(new, state)])
            outputs[t] = torch.where(valid, new[0], torch.zeros_like(new[0]))
        else:
            outputs[t] = new[0]
        state = new
    return torch.stack(outputs), state


def _seq_major(x, layout):
    """X (and initial states) as layout 0 has them: time (or direction) first, batch second."""
    return x if x is None or layout == 0 else x.transpose(0, 1)


def _initial(states, d, batch, hidden, like):
    """Direction d's initial state (batch, hidden): given, or zeros on like's device."""
    if states is not None:
        return states[d]
    return torch.zeros(batch, hidden, dtype=like.dtype, device=like.device)


def _finish(ys, finals, lengths, layout):
    """(Y, then one final-state tensor per entry of finals) from per-direction lists, zeroing the
    final states of sequences of length 0 (as onnxruntime does) and applying the layout."""
    y = torch.stack(ys, 1)  # seq, directions, batch, hidden
    outs = []
    for states in finals:
        state = torch.stack(states, 0)  # directions, batch, hidden
        if lengths is not None:
            state = torch.where((lengths == 0).reshape(1, -1, 1), torch.zeros_like(state), state)
        outs.append(state)
    if layout != 0:
        y = y.permute(2, 0, 1, 3)
        outs = [s.transpose(0, 1) for s in outs]
    return (y, *outs)


def _project(x, w, bias):
    """x W^T (+ bias) for every step at once: one matmul instead of one per step."""
    xw = x @ w.t()
    return xw if bias is None else xw + bias


# -- the operators, as run-time helpers -------------------------------------------------------------
def lstm(x, w, r, b, sequence_lens, initial_h, initial_c, p, directions, activations, clip, input_forget, layout):
    """(Y, Y_h, Y_c) of ONNX LSTM; directions is ('forward',), ('reverse',) or both, activations
    one (f, g, h) triple of (name, alpha, beta) per direction."""
    x, initial_h, initial_c = _seq_major(x, layout), _seq_major(initial_h, layout), _seq_major(initial_c, layout)
    hidden, batch = r.shape[-1], x.shape[1]
    ys, hs, cs = [], [], []
    for d, direction in enumerate(directions):
        bias = None if b is None else b[d][:4 * hidden] + b[d][4 * hidden:]
        peepholes = None if p is None else p[d].chunk(3)
        state = (_initial(initial_h, d, batch, hidden, x), _initial(initial_c, d, batch, hidden, x))
        y, (h, c) = _recur(_lstm_cell, _project(x, w[d], bias), sequence_lens, direction == "reverse", state,
                           (r[d], peepholes, activations[d], clip, input_forget))
        ys.append(y)
        hs.append(h)
        cs.append(c)
    return _finish(ys, [hs, cs], sequence_lens, layout)


def gru(x, w, r, b, sequence_lens, initial_h, directions, activations, clip, linear_before_reset, layout):
    """(Y, Y_h) of ONNX GRU; activations one (f, g) pair of (name, alpha, beta) per direction."""
    x, initial_h = _seq_major(x, layout), _seq_major(initial_h, layout)
    hidden, batch = r.shape[-1], x.shape[1]
    ys, hs = [], []
    for d, direction in enumerate(directions):
        if b is None:
            wb, rb = None, torch.zeros(3 * hidden, dtype=x.dtype, device=x.device)
        else:
            wb, rb = b[d][:3 * hidden], b[d][3 * hidden:]
        state = (_initial(initial_h, d, batch, hidden, x),)
        y, (h,) = _recur(_gru_cell, _project(x, w[d], wb), sequence_lens, direction == "reverse", state,
                         (r[d], rb, activations[d], clip, linear_before_reset))
        ys.append(y)
        hs.append(h)
    return _finish(ys, [hs], sequence_lens, layout)


def rnn(x, w, r, b, sequence_lens, initial_h, directions, activations, clip, layout):
    """(Y, Y_h) of ONNX RNN; activations one (f,) of (name, alpha, beta) per direction."""
    x, initial_h = _seq_major(x, layout), _seq_major(initial_h, layout)
    hidden, batch = r.shape[-1], x.shape[1]
    ys, hs = [], []
    for d, direction in enumerate(directions):
        bias = None if b is None else b[d][:hidden] + b[d][hidden:]
        state = (_initial(initial_h, d, batch, hidden, x),)
        y, (h,) = _recur(_rnn_cell, _project(x, w[d], bias), sequence_lens, direction == "reverse", state,
                         (r[d], activations[d], clip))
        ys.append(y)
        hs.append(h)
    return _finish(ys, [hs], sequence_lens, layout)


# -- conversion-time attribute handling --------------------------------------------------------------
def _directions(attrs) -> tuple[str, ...]:
    direction = attrs.get("direction", "forward")
    if direction in ("forward", "foward"):  # GRU-1's schema spells its default "foward"
        return ("forward",)
    if direction == "reverse":
        return ("reverse",)
    if direction == "bidirectional":
        return ("forward", "reverse")
    raise ConversionError(f"recurrent layer direction {direction!r} is not forward, reverse or bidirectional")


def _activations(attrs, defaults: tuple[str, ...], count: int, positional: bool) -> tuple:
    """One tuple of (name, alpha, beta) per direction, names lower-cased and checked. alpha and beta
    are read by position (RNN: the i-th value is the i-th activation's) or consumed in order by the
    activations that take them (LSTM, GRU); see the module docstring."""
    k = len(defaults)
    names = [str(n).lower() for n in attrs.get("activations", defaults)]
    if len(names) == k and count == 2:
        names = names * 2
    if len(names) < k * count:
        raise ConversionError(f"recurrent layer wants {k * count} activations, got {len(names)}")
    names = names[:k * count]  # RNN's schema default lists two even for one direction
    alphas, betas = list(attrs.get("activation_alpha", [])), list(attrs.get("activation_beta", []))
    resolved = []
    for i, name in enumerate(names):
        if name not in _ACTIVATIONS:
            raise ConversionError(f"recurrent layer activation {name!r} is not one ONNX defines")
        takes_alpha, takes_beta, alpha, beta = _PARAMETERS.get(name, (False, False, 0.0, 0.0))
        if positional:
            alpha = alphas[i] if takes_alpha and i < len(alphas) else alpha
            beta = betas[i] if takes_beta and i < len(betas) else beta
        else:
            alpha = alphas.pop(0) if takes_alpha and alphas else alpha
            beta = betas.pop(0) if takes_beta and betas else beta
        resolved.append((name, float(alpha), float(beta)))
    return tuple(tuple(resolved[d * k:(d + 1) * k]) for d in range(count))


def _settings(attrs, defaults, positional=False):
    """(directions, activations, clip, layout): the attributes every recurrent layer shares."""
    directions = _directions(attrs)
    clip = attrs.get("clip")
    return directions, _activations(attrs, defaults, len(directions), positional), \
        (None if clip is None else float(clip)), int(attrs.get("layout", 0))


def _split(b, node, out):
    """One fx node per ONNX output (an omitted one included: the builder skips empty names)."""
    return tuple(b.call(operator.getitem, out, i) for i in range(len(node.output)))


def _padded(inputs, count):
    return list(inputs) + [None] * (count - len(inputs))


@register("LSTM")
def _lstm(b, node, inputs, attrs):
    directions, acts, clip, layout = _settings(attrs, ("Sigmoid", "Tanh", "Tanh"))
    out = b.call(lstm, *_padded(inputs, 8), directions=directions, activations=acts, clip=clip,
                 input_forget=bool(attrs.get("input_forget", 0)), layout=layout)
    return _split(b, node, out)


@register("GRU")
def _gru(b, node, inputs, attrs):
    directions, acts, clip, layout = _settings(attrs, ("Sigmoid", "Tanh"))
    out = b.call(gru, *_padded(inputs, 6), directions=directions, activations=acts, clip=clip,
                 linear_before_reset=bool(attrs.get("linear_before_reset", 0)), layout=layout)
    return _split(b, node, out)


@register("RNN")
def _rnn(b, node, inputs, attrs):
    directions, acts, clip, layout = _settings(attrs, ("Tanh",), positional=True)
    out = b.call(rnn, *_padded(inputs, 6), directions=directions, activations=acts, clip=clip, layout=layout)
    return _split(b, node, out)
