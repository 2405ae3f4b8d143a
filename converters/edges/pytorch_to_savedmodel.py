"""pytorch -> savedmodel through StableHLO: torch.export, litert-torch's lowering to StableHLO, and
TensorFlow's XlaCallModule op: the alternative to the route through ONNX and onnx2tf.

Why a second route: every SavedModel onnx2tf writes goes through one library, and on some
architectures all its strategies fail (measured on the corpus: edgenext_xx_small, sequencer2d_s and
skresnet18 stop at "Tensor is unbound during SavedModel export" in the flatbuffer_direct writer and
fail inside the tf_converter backend). StableHLO is the IR TensorFlow's own XLA compiler consumes,
and `XlaCallModule` is how jax2tf ships JAX models as SavedModels for TF Serving: the graph is one
op holding the whole program, fed the inputs and the weights. The planner tries this edge
when the planned route fails (converters/planner.py `alternative`), or when
`--route pytorch->savedmodel` asks for it.

It runs in the litert layer (modelport/layers.py), where litert-torch lives; TensorFlow there is the
pinned stack's, so the SavedModel is written by the same TensorFlow that validates it.

What it changes, and what a user must know: layouts are kept (NCHW stays NCHW); 64-bit inputs keep
their dtype in the signature and are narrowed to 32 bits inside (litert-torch lowers int64 to
int32); dynamic dims are fixed to the example sizes (litert-torch's lowering needs concrete shapes
where a view reads a dynamic one: pytorch_to_tflite.py says what was measured); the program is lowered for the CPU, and the
op is placed there even on a machine with a GPU. The weights are the SavedModel's variables. The
graph holds no TensorFlow ops but the call and its variables, so
TFLiteConverter, tf2onnx and TensorFlow.js cannot read it: it is a SavedModel for TensorFlow and TF
Serving, not a step towards another format.
"""

from __future__ import annotations

import os

import torch

from modelport.converters.job import EdgeJob, EdgeResult
from modelport.converters.pytorch_sources import export_examples
from modelport.converters.signatures import savedmodel_io
from modelport.errors import ConversionError, NotApplicable, UsageError
from modelport.layout import mapping_by_shape
from modelport.libraries import require
from modelport.torch_modules import output_names
from modelport.types import IOMap

_TF_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/")


def _tf_name(name: str, i: int) -> str:
    """A signature key TensorFlow accepts ([A-Za-z0-9.][A-Za-z0-9_.-/]*), kept as it is when it is one."""
    cleaned = "".join(c if c in _TF_NAME_OK else "_" for c in name)
    return cleaned if cleaned and cleaned[0] not in "_-/" else f"output_{i}"


def _lower(module, args: tuple):
    """torch.export, then litert-torch's lowering to StableHLO (an `MlirLowered`). The parameters and
    buffers stay arguments of the program (not constants inlined in it), so they become the
    SavedModel's variables, in its checkpoint as in any other SavedModel."""
    from litert_torch.backend import export as lowering

    program = torch.export.export(module, args, strict=False)
    return lowering.exported_program_to_mlir(program, inline_constants=False)


def _serving_function(lowered, inputs, out_keys: list[str], out_dtypes: list):
    """A tf.function taking the model's named inputs and returning {key: tensor}.

    The call itself is litert-torch's own TensorFlow integration (`_wrap_as_tf_func`): it is the one
    piece that knows the lowered module's calling convention (user inputs and parameters in the
    lowered signature's order, the dialects XlaCallModule accepts). It is private, so it is called
    in one place and the written SavedModel is loaded back and run before this edge reports success.
    """
    import tensorflow as tf
    from litert_torch.backend import tf_integration

    state = tf_integration._build_tf_state_dict(lowered)
    call = tf_integration._wrap_as_tf_func(lowered, state)
    lowered_in = sorted((s for s in lowered.input_signature if s.input_spec.is_user_input),
                        key=lambda s: s.input_spec.i)
    narrow = [tf_integration.torch_dtype_to_tf(s.dtype) for s in lowered_in]
    specs = [tf.TensorSpec(ex, getattr(tf, spec.dtype), name=spec.name) for spec, ex in inputs]

    @tf.function(input_signature=specs)
    def serve(*args):
        with tf.device("/CPU:0"):  # the module is lowered for the CPU platform only
            cast = [tf.cast(a, d) if a.dtype != d else a for a, d in zip(args, narrow)]
            outs = call(*cast)
        return {k: tf.cast(o, d) if o.dtype != d else o for k, o, d in zip(out_keys, outs, out_dtypes)}

    # An AutoTrackable, as Keras' own export uses, rather than a tf.Module: its `variables` is a plain
    # attribute, so the loaded SavedModel exposes `.variables` as a Keras export does.
    from tensorflow.python.trackable.autotrackable import AutoTrackable

    holder = AutoTrackable()
    holder.variables = list(state.values())  # tracked, so the variables are saved with the function
    holder.serve = serve
    return holder, serve


def convert(job: EdgeJob) -> EdgeResult:
    litert_torch = require("litert_torch", "converting PyTorch to a SavedModel through StableHLO")
    tf = require("tensorflow", "writing a SavedModel")
    model, module, inputs, args, outs = export_examples(job, "torch.export")
    if not all(isinstance(o, torch.Tensor) for o in outs):
        raise NotApplicable("the model returns something other than tensors; this route writes tensor outputs only")
    out_names = job.options.output_names or output_names(model, len(outs))
    out_keys = [_tf_name(n, i) for i, n in enumerate(out_names)]
    if len(set(out_keys)) != len(out_keys):
        out_keys = [f"output_{i}" for i in range(len(outs))]
    out_dtypes = [getattr(tf, str(o.dtype).removeprefix("torch.")) for o in outs]
    try:
        lowered = _lower(module, args)
        holder, serve = _serving_function(lowered, inputs, out_keys, out_dtypes)
        tf.saved_model.save(holder, job.output, signatures={"serving_default": serve.get_concrete_function()})
        # Loaded back and run here, where a failure still means "try another route".
        loaded = tf.saved_model.load(job.output).signatures["serving_default"]
        got = loaded(**{s.name: tf.constant(a.numpy()) for (s, _), a in zip(inputs, args)})
    except (NotApplicable, UsageError):
        raise
    except Exception as e:  # torch.export, the lowering and XLA raise many types: each is "this route fails"
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise ConversionError(f"StableHLO route failed: {type(e).__name__}: {first}") from None
    if sorted(got) != sorted(out_keys):
        raise ConversionError(f"the SavedModel's outputs {sorted(got)} are not the model's {out_keys}")
    dst = savedmodel_io(job.output, fn=loaded)  # the signature just loaded and run, not a second load
    dst_in = {t.name: t for t in dst.inputs}
    dst_out = {t.name: t for t in dst.outputs}
    missing = [s.name for s, _ in inputs if s.name not in dst_in]
    if missing:
        raise ConversionError(f"the SavedModel's signature lacks the inputs {missing}")
    how = "XlaCallModule signature"
    io_map = IOMap(
        [mapping_by_shape(s.name, ex, s.name, list(dst_in[s.name].shape), how) for s, ex in inputs],
        [mapping_by_shape(name, list(o.shape), key, list(dst_out[key].shape), how)
         for name, key, o in zip(out_names, out_keys, outs)],
    )
    notes = ["converted through StableHLO (torch.export, litert-torch's lowering, one XlaCallModule op); "
             "layout kept; runs in TensorFlow and TF Serving on the CPU; TFLiteConverter, tf2onnx and "
             "TensorFlow.js cannot read it"]
    narrowed = [s.name for s, _ in inputs if s.dtype in ("int64", "float64")]
    if narrowed:
        notes.append(f"64-bit inputs are narrowed to 32 bits inside the program: {', '.join(narrowed)}")
    fixed = [f"{s.name}={ex}" for s, ex in inputs if s.dynamic_dims]
    if fixed:
        notes.append(f"dynamic dims fixed for TensorFlow: {', '.join(fixed)} (litert-torch's StableHLO lowering needs "
                     "concrete shapes; the route through ONNX keeps them where running proves them)")
    details = {"example_shapes": {s.name: ex for s, ex in inputs}, "converter": "litert-torch stablehlo",
               "tensorflow": tf.__version__, "xla_platforms": ["CPU"]}
    version = getattr(litert_torch, "__version__", "?")
    if not os.path.isdir(job.output):
        raise ConversionError("the StableHLO route reported success but wrote no SavedModel")
    return EdgeResult(io_map, f"litert-torch {version} (StableHLO, XlaCallModule)", details, notes)
