"""onnx -> onnx, quantized: `--quantize dynamic-int8|int8|fp16` for an ONNX output.

The libraries are ONNX Runtime's own, because ONNX Runtime is what runs the result:
- dynamic-int8: `quantize_dynamic`, weights int8, activations quantized at run time (what ONNX
  Runtime recommends for transformers and RNNs);
- int8: `quantize_static` in the QDQ format, int8 weights per channel and uint8 activations (int8
  with --int8-activations int8; ACTIVATIONS says why uint8), calibrated (MinMax) on
  `--calibration-data`, the same .npz the TFLite route takes;
- fp16: ONNX Runtime's float16 converter (`onnxruntime.transformers.float16`, the same code as
  onnxconverter-common's, shipped with the pinned runtime), inputs and outputs kept float32 so the
  artifact is a drop-in replacement (float16 with --fp16-io).
The integer modes first run ONNX Runtime's `quant_pre_process` (shape inference and basic graph
optimisation), as its documentation asks.

Decided by running, not assumed: a dynamic-int8 model that ONNX Runtime cannot run with int8
weights (a kernel it lacks for that type) is quantized again with uint8 weights, and the note says so; an fp16 model is checked for values float16 cannot hold: the float model is run
on 4 seeded inputs with every intermediate tensor fetched, and the nodes that write or read a
tensor within 4x of float16's largest value (65504) are kept in float32, named in the notes; then
the converted model is run on the same inputs, and where float16 rounding makes a NaN or inf the
float model does not, float32 grows upstream from there (_nonfinite_culprits). A source with
external data is read whole into a one-file copy first (_inlined); one past protobuf's 2 GB is
copied with its data files instead and worked on by path, its weights never serialized whole
(converters/onnx_large.py), and the artifact is one file when its weights fit one (an int8 of a
2.7 GB model is), else the model and `<file>.data` beside it. The artifact is then judged
against the float source with the int8 / fp16 tolerance presets (the manifest records the mode).
"""

from __future__ import annotations

import os

import numpy as np

from modelport.converters import onnx_large
from modelport.converters.calibration_data import representative_samples
from modelport.converters.job import EdgeJob, EdgeResult
from modelport.converters.signatures import load_onnx, onnx_io
from modelport.errors import ConversionError, UsageError
from modelport.onnx_external_data import external_files
from modelport.types import IOMap, IOSpec, TensorMapping

FP16_MAX = 65504.0
HEADROOM = 4.0  # a tensor within 4x of float16's largest value on the probe's samples stays float32
PROBE_SAMPLES = 4
WIDEN_ROUNDS = 4  # times the float32 region grows upstream from a NaN or inf float16 writes (_nonfinite_culprits)
_NP_OF_ONNX = {1: np.float32, 10: np.float16, 11: np.float64, 6: np.int32, 7: np.int64, 9: np.bool_,
               2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16}


def _example_feed(model, src_io: IOSpec, job: EdgeJob, seed: int = 0) -> dict:
    """Seeded inputs at the model's sizes (--input-shape for dynamic dims, else 1), as the smoke run
    draws them: normal floats, integers in [0, 10)."""
    given = {o.name: (o.example or o.shape) for o in job.options.inputs if o.example or o.shape}
    rng = np.random.default_rng(seed)
    feed = {}
    for value in model.graph.input:
        if value.name not in {t.name for t in src_io.inputs}:
            continue  # an initializer listed as an input
        tensor_type = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else 1 for d in tensor_type.shape.dim]
        sizes = given.get(value.name) or dims
        shape = [g if isinstance(g, int) else d for g, d in zip(sizes, dims)] if len(sizes) == len(dims) else dims
        dtype = _NP_OF_ONNX.get(tensor_type.elem_type, np.float32)
        lo, hi = job.options.value_ranges.get(value.name, (0, 10))
        if np.issubdtype(dtype, np.floating):
            feed[value.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype == np.bool_:
            feed[value.name] = rng.integers(0, 2, shape).astype(dtype)
        else:
            feed[value.name] = rng.integers(int(lo), int(hi), shape).astype(dtype)
    return feed


def _session(path_or_bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(path_or_bytes, options, providers=["CPUExecutionProvider"])


def _float_probe(model, feeds: list[dict], at: str | None = None) -> tuple[list[str], list[set[str]] | None]:
    """One run of the float model per feed with every tensor fetched, read for two things:

    - the nodes that must stay float32: those writing a float tensor that comes within HEADROOM of
      65504 on any of `feeds`, and those reading one, graph inputs included (a float16 input would
      already be inf). Other inputs than the probe's scale a tensor too, hence the headroom:
      measured on a MatMul by 1e5, one seeded sample peaked at 64,042, just under the limit, and
      the next at 2.3e5;
    - per feed, the tensors the float model itself writes NaN or inf (not float16's doing, for
      _nonfinite_culprits); None when the model's tensors cannot all be fetched.
    The probe is advice: such a model is converted as it is. `at`: _every_tensor's."""
    hot: set[str] = set()
    nonfinite: list[set[str]] = []
    try:
        for feed, values in zip(feeds, _every_tensor(model, feeds, at)):
            own: set[str] = set()
            for name, value in {**feed, **values}.items():
                if not _float_array(value):
                    continue
                if not np.isfinite(value).all():
                    own.add(name)
                if float(np.nanmax(np.abs(value))) > FP16_MAX / HEADROOM:
                    hot.add(name)
            nonfinite.append(own)
    except Exception:  # the probe is advice: a model whose tensors cannot all be fetched is converted as it is
        return [], None
    return [n.name for n in model.graph.node if hot & (set(n.output) | set(n.input))], nonfinite


def _float_array(value) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind == "f" and bool(value.size)


def _every_tensor(model, feeds: list[dict], at: str | None = None):
    """Every node output of `model` on each of `feeds`, one dict per feed, from one session (outputs
    added to a copy of the graph, as Polygraphy marks them; ONNX Runtime needs no type for an
    output), each feed cast to the model's input types. `at`: the file of a model past 2 GB, its
    weights in external data beside it; only its graph is copied, written beside it, and ONNX
    Runtime reads the weights from disk (a model that large cannot be serialized in memory)."""
    import onnx

    probe = onnx.ModelProto()
    if at:
        probe = onnx.load(at, load_external_data=False)
    else:
        probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    for node in probe.graph.node:
        for out in node.output:
            if out and out not in known:
                known.add(out)
                probe.graph.output.append(onnx.ValueInfoProto(name=out))
    if at:
        path = os.path.join(os.path.dirname(os.path.abspath(at)), "every_tensor.onnx")
        onnx.save(probe, path)
        session = _session(path)
    else:
        session = _session(probe.SerializeToString())
    types = {i.name: i.type for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]
    for feed in feeds:
        cast = {k: v.astype(np.float16) if types.get(k) == "tensor(float16)" and v.dtype.kind == "f" else v
                for k, v in feed.items() if k in types}
        yield dict(zip(names, session.run(names, cast)))


def _nonfinite_culprits(float_nodes: set[str], converted, feeds: list[dict], float_nonfinite: list[set[str]],
                        kept: set[str], at: str | None = None) -> tuple[list[str], str]:
    """(nodes to keep in float32 too, the node that showed it): where the float16 model writes a
    NaN or inf that the float model does not (`float_nonfinite`, per feed: _float_probe), on the
    probe's inputs. Rounding, not overflow, can do that: a constant 1.0001 is 1 in float16, so
    x + 1.0001 - (x + 1) is 0 and a division by it inf, while no float32 value comes near 65504.
    The culprit is the first node (in graph order) whose output goes non-finite while its inputs
    are finite; where it is kept already, the nodes that feed it are widened too, since its inputs
    arrived already rounded. ([], "") when all is finite. `at`: _every_tensor's."""
    producer = {o: n for n in converted.graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in converted.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def nonfinite(values: dict, name: str) -> bool:
        value = values.get(name)
        return _float_array(value) and not np.isfinite(value).all()

    for float_bad, got in zip(float_nonfinite, _every_tensor(converted, feeds, at)):
        for node in converted.graph.node:
            bad = [o for o in node.output if nonfinite(got, o) and o not in float_bad]
            if not bad or any(nonfinite(got, i) for i in node.input if i):
                continue
            # an inserted Cast (to float16) is the converter's: the nodes it feeds are the ones to keep
            culprits = [node] if node.name in float_nodes else [c for c in consumers.get(node.output[0], [])
                                                                 if c.name in float_nodes]
            names = [c.name for c in culprits if c.name not in kept]
            if not names:  # kept already: its inputs came rounded; widen to the nodes that feed it
                names = [n for c in culprits for n in _feeding(c, producer, float_nodes, kept)]
            return list(dict.fromkeys(names)), (culprits[0].name if culprits else node.name)
    return [], ""


def _fp16(job: EdgeJob, model, src_io: IOSpec) -> tuple[dict, list[str]]:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    # a model past 2 GB is held as its graph and read whole from `at` once per conversion round
    at = _large_float_model(job) if onnx_large.is_large(model) else None
    model = onnx.load(at, load_external_data=False) if at else model
    _name_anonymous_nodes(model)
    feeds = [_example_feed(model, src_io, job, seed) for seed in range(PROBE_SAMPLES)]
    hot, float_nonfinite = _float_probe(model, feeds, at)
    float_nodes = {n.name for n in model.graph.node}
    kept = list(dict.fromkeys([*hot, *job.options.quantize_exclude]))
    float16_io = job.options.fp16_io
    widened: list[str] = []
    first_seen = ""
    for _ in range(WIDEN_ROUNDS + 1):
        copy = onnx.ModelProto()
        if at:
            copy = onnx.load(at)
        else:
            copy.CopyFrom(model)
        converted = convert_float_to_float16(copy, keep_io_types=not float16_io, node_block_list=kept or None,
                                             disable_shape_infer=bool(at))  # `at` has its shapes inferred
        if kept:
            _drop_float16_round_trips(converted)
        _unique_node_names(converted)
        written = onnx_large.is_large(converted)
        if written:  # the check runs it from the file (a model this large cannot be serialized in memory)
            onnx_large.save(converted, job.output)
        try:
            more, seen = ([], "") if float_nonfinite is None else \
                _nonfinite_culprits(float_nodes, converted, feeds, float_nonfinite, set(kept),
                                    job.output if written else None)
        except Exception:  # the check is advice, as the probe is: validation judges the result
            more, seen = [], ""
        if not more:
            break
        first_seen = first_seen or seen
        widened += more
        kept += more
    notes = ["fp16: weights, activations, inputs and outputs float16 (--fp16-io)" if float16_io else
             "fp16: weights and activations float16, inputs and outputs kept float32"]
    if hot:
        notes.append(f"kept in float32, they write or read values within {HEADROOM:g}x of float16's 65504 on "
                     f"{PROBE_SAMPLES} seeded inputs: {', '.join(hot)}")
    if widened:
        notes.append(f"kept in float32, float16 rounding made NaN or inf there (first at {first_seen}) where the float model "
                     f"is finite on {PROBE_SAMPLES} seeded inputs: {', '.join(widened)}")
    if more:
        notes.append(f"still NaN or inf in float16 at {seen} after widening float32 {WIDEN_ROUNDS} times: "
                     "validation judges it; --quantize-exclude keeps named nodes in float32")
    if not written:
        onnx_large.save(converted, job.output)
    return {"kept_float32": hot + widened, "io_types": "float16" if float16_io else "float32"}, notes


def _name_anonymous_nodes(model) -> None:
    """node_block_list names nodes: the anonymous ones get `<op>_<index>`, in place."""
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"


def _large_float_model(job: EdgeJob) -> str:
    """The file of the large source (in the edge's scratch folder, beside its data files) with
    onnx's inferred shapes (value_info) and its nodes named: what the float16 converter would do
    itself, but its shape inference serializes the model, so it is done here by path
    (infer_shapes_path handles external data); only the graph is rewritten."""
    import onnx

    inferred = os.path.join(os.path.dirname(os.path.abspath(job.source)), "source_inferred.onnx")
    onnx.shape_inference.infer_shapes_path(job.source, inferred)
    graph = onnx.load(inferred, load_external_data=False)
    _name_anonymous_nodes(graph)
    onnx.save(graph, inferred)
    return inferred


def _unique_node_names(model) -> None:
    """Drop repeated identical nodes and rename repeated node names, in place. ONNX Runtime's float16
    converter (1.26) puts a Cast named `<input>_cast_to_fp32_node`, writing `<input>_cast_to_fp32`,
    before each kept-float32 reader of a float16 graph input, so two such readers made a model ONNX
    Runtime refuses ("two nodes with same node name", then "Duplicate definition of name";
    measured with --fp16-io on an input read by two kept nodes)."""
    written: dict[str, object] = {}
    unique = []
    for node in model.graph.node:
        twin = next((written[o] for o in node.output if o in written), None)
        if twin is not None and twin.SerializeToString() == node.SerializeToString():
            continue  # the same Cast again: its output is already there
        written.update({o: node for o in node.output if o})
        unique.append(node)
    if len(unique) < len(model.graph.node):
        del model.graph.node[:]
        model.graph.node.extend(unique)
    seen: dict[str, int] = {}
    for node in model.graph.node:
        if node.name in seen:
            seen[node.name] += 1
            node.name = f"{node.name}_{seen[node.name]}"
        else:
            seen[node.name] = 0


def _feeding(node, producer: dict, originals: set[str], kept: set[str]) -> list[str]:
    """The nearest of the float model's nodes upstream of `node` not kept in float32 yet, level by
    level (through the converter's inserted Casts and through nodes kept already)."""
    out, level, seen = [], [node], set()
    while level and not out:
        upper = []
        for n in level:
            for name in n.input:
                p = producer.get(name)
                while p is not None and p.name not in originals and p.op_type == "Cast" and p.input:
                    p = producer.get(p.input[0])
                if p is None or p.name in seen:
                    continue
                seen.add(p.name)
                if p.name in originals and p.name not in kept:
                    out.append(p.name)
                else:
                    upper.append(p)
        level = upper
    return out


def _drop_float16_round_trips(model) -> None:
    """Remove Cast(to float16) -> Cast(to float32) pairs, in place.

    ONNX Runtime's converter (1.26) casts every tensor between two kept-float32 nodes down to
    float16 and back up: measured on a MatMul by 1e5 feeding a Mul by 1e-5, both kept, the tensor
    between them still went through float16 and came out inf. Reading the float32 tensor directly
    removes a rounding and changes nothing else."""
    from onnx import TensorProto

    def to(node):
        return next((a.i for a in node.attribute if a.name == "to"), None)

    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    outputs = {o.name for o in graph.output}
    rewired = {}
    for node in graph.node:
        if node.op_type != "Cast" or to(node) != TensorProto.FLOAT:
            continue
        down = producer.get(node.input[0])
        if down is not None and down.op_type == "Cast" and to(down) == TensorProto.FLOAT16:
            rewired[node.output[0]] = down.input[0]
    if not rewired:
        return
    keep = [n for n in graph.node if not (n.op_type == "Cast" and n.output[0] in rewired and n.output[0] not in outputs)]
    for node in keep:
        for i, name in enumerate(node.input):
            if name in rewired:
                node.input[i] = rewired[name]
        if node.op_type == "Cast" and node.output[0] in rewired and node.output[0] in outputs:
            node.input[0] = rewired[node.output[0]]  # a graph output read unrounded (the Cast stays: it names it)
    used = {i for n in keep for i in n.input} | outputs
    keep = [n for n in keep if not (n.op_type == "Cast" and to(n) == TensorProto.FLOAT16 and n.output[0] not in used)]
    del graph.node[:]
    graph.node.extend(keep)


def _preprocessed(job: EdgeJob, source: str, notes: list[str], large: bool) -> str:
    """ONNX Runtime's pre-processing, as its documentation asks: graph optimization (_optimized),
    then quant_pre_process's shape inference. Its symbolic shape inference (written for
    transformers) gives up on some graphs ("Incomplete symbolic shape inference", measured on the
    fixture CNN with a dynamic batch), so it is tried without that part, then not at all. `large`:
    past 2 GB, written with external data."""
    from onnxruntime.quantization import quant_pre_process

    folder = os.path.dirname(job.output)
    try:
        source = _optimized(source, folder, large)
    except Exception as e:
        notes.append(f"ONNX Runtime's graph optimization failed ({_first_line(e)}); quantized without it")
    out = os.path.join(folder, "preprocessed.onnx")
    why = ""
    for skip_symbolic in (False, True):
        try:
            quant_pre_process(source, out, skip_symbolic_shape=skip_symbolic, skip_optimization=True,
                              save_as_external_data=large, all_tensors_to_one_file=True,
                              external_data_location="preprocessed.onnx.data")
            return out
        except Exception as e:
            why = _first_line(e)
    notes.append(f"ONNX Runtime's pre-processing failed ({why}); quantized without it")
    return source


def _optimized(source: str, folder: str, large: bool) -> str:
    """The model after ONNX Runtime's basic graph optimizations (constant folding, batch-norm into
    Conv...), the step quant_pre_process runs, less one: MatMulAddFusion. It turns MatMul + Add (a
    transformer's Linear, a residual sum) into Gemm, which ONNX Runtime's CPU kernels do not run
    quantized from QDQ: the weight is dequantized on every run. Measured by benchmarks/large_onnx.py
    (static int8 of a 2.7 GB residual MLP, `modelport bench` beside the float model, batch 1, 2
    threads): 5.76x float's latency with the fusion, 0.28x without it. The other optimizations still
    pay on convnets (a trained ResNet-50's int8: 2.2 ms with them, 2.9 ms with none)."""
    import onnxruntime as ort

    path = os.path.join(folder, "optimized.onnx")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = path
    if large:  # ONNX Runtime writes the optimized model's weights beside it
        options.add_session_config_entry("session.optimized_model_external_initializers_file_name", "optimized.onnx.data")
        options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    ort.InferenceSession(source, options, providers=["CPUExecutionProvider"], disabled_optimizers=["MatMulAddFusion"])
    _list_initializers_as_inputs(path)
    return path


def _list_initializers_as_inputs(path: str) -> None:
    """Below IR version 4 every initializer must also be a graph input, and ONNX Runtime writes the
    optimized model at the source's IR version without listing the initializers its fusions make
    (`ConvBnFusion_W_...`). onnx's version converter, which quantize_dynamic runs on an opset-9 model,
    then stops on the first ("Input ConvBnFusion_W_gpu_0/conv1_w_0 is undefined!", the ONNX model
    zoo's light ResNet-50, IR 3). They are listed, keeping IR 3: raising the IR version instead would
    turn every listed initializer into an overridable input, which the quantizers leave in float."""
    import onnx
    from onnx import helper

    model = onnx.load(path, load_external_data=False)
    if model.ir_version >= 4:
        return
    listed = {i.name for i in model.graph.input}
    missing = [t for t in model.graph.initializer if t.name not in listed]
    if missing:
        model.graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in missing)
        onnx.save(model, path)


# --quantize int8's activation type. ONNX Runtime's documentation names S8S8 (int8 activations) its
# first choice, but on x86-64 its CPU kernels run U8S8 (uint8 activations, int8 weights: what
# VPMADDUBSW and VNNI's VPDPBUSD multiply) and S8S8 QDQ slower than float. Measured here (Xeon with
# AVX-512 VNNI, ONNX Runtime 1.26, 2 threads, batch 1, same calibration): a trained ResNet-50 at
# 64 px, float 5.3 ms, S8S8 6.8 ms, U8S8 1.9 ms, top-1 agreement 90.6% both; a 4096x16384 MLP
# block, float 21 ms, S8S8 122 ms, U8S8 5.7 ms. So uint8 by default; int8 (ARM's fast path, and
# free of U8S8's saturation on CPUs without VNNI) on request. Validation judges either.
ACTIVATIONS = {"uint8": "QUInt8", "int8": "QInt8"}
PER_CHANNEL_OPSET = 13  # DequantizeLinear's `axis` (one scale per channel) exists from opset 13


def _per_channel_source(job: EdgeJob, model, notes: list[str]) -> tuple[str, bool]:
    """The model to quantize per channel, and whether per channel is possible. Below opset 13, ONNX
    Runtime's quantize_static still writes per-channel DequantizeLinear nodes with an `axis` that
    opset does not have: the model it writes is invalid (measured on the ONNX model zoo's light
    ResNet-50, opset 11: "Unrecognized attribute: axis for operator DequantizeLinear"). So the
    model is upgraded to opset 13 by onnx's version converter first; where that fails, it is
    quantized per tensor, and the note says so."""
    import onnx
    from onnx import version_converter

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), PER_CHANNEL_OPSET)
    if opset >= PER_CHANNEL_OPSET:
        return job.source, True
    if onnx_large.is_large(model):  # the version converter works on one serialized protobuf
        notes.append(f"opset {opset} has no per-channel DequantizeLinear and a model over 2 GB cannot be upgraded "
                     f"to {PER_CHANNEL_OPSET} by onnx's version converter: quantized per tensor")
        return job.source, False
    try:
        upgraded = version_converter.convert_version(onnx.load(job.source), PER_CHANNEL_OPSET)
    except Exception as e:
        notes.append(f"opset {opset} has no per-channel DequantizeLinear and upgrading it to {PER_CHANNEL_OPSET} "
                     f"failed ({type(e).__name__}): quantized per tensor")
        return job.source, False
    path = os.path.join(os.path.dirname(job.output), "opset13.onnx")
    onnx.save(upgraded, path)
    notes.append(f"opset upgraded from {opset} to {PER_CHANNEL_OPSET} (per-channel DequantizeLinear needs its axis)")
    return path, True


def _runs(path: str, feed: dict) -> str | None:
    """None when ONNX Runtime loads the file and runs it on `feed`, else why not."""
    try:
        session = _session(path)
        session.run(None, feed)
        return None
    except Exception as e:
        return _first_line(e)


def _dynamic_int8(job: EdgeJob, model, src_io: IOSpec) -> tuple[dict, list[str]]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    notes: list[str] = []
    large = onnx_large.is_large(model)
    source = _preprocessed(job, job.source, notes, large)
    feed = _example_feed(model, src_io, job)
    excluded = _dynamic_exclusions(model, job.options.quantize_exclude)
    failures = []
    for weight_type in (QuantType.QInt8, QuantType.QUInt8):
        quantize_dynamic(source, job.output, weight_type=weight_type,
                         nodes_to_exclude=excluded or None, use_external_data_format=large)
        why = _runs(job.output, feed)
        if why is None:
            if large:
                onnx_large.as_one_file_if_it_fits(job.output)
            name = "int8" if weight_type == QuantType.QInt8 else "uint8"
            notes.insert(0, f"dynamic-int8: {name} weights, activations quantized at run time")
            if failures:
                notes.append(f"int8 weights did not run in ONNX Runtime ({failures[0]}); uint8 weights do")
            return {"weight_type": name, "activations": "dynamic"}, notes
        failures.append(why)
    raise ConversionError(f"ONNX Runtime cannot run the dynamically quantized model: {failures[-1]}")


def _dynamic_exclusions(model, names) -> list[str]:
    """The node names to give quantize_dynamic for `--quantize-exclude names`. Before it quantizes,
    ONNX Runtime's dynamic quantizer rewrites each Gemm as MatMul `<name>_MatMul` + Add `<name>_Add`
    (onnx_model.replace_gemm_with_matmul) and only then matches nodes_to_exclude: an excluded Gemm
    was quantized anyway (measured on the fixture CNN's classifier, while the manifest said it was
    kept in float). So an excluded Gemm's MatMul is named too. (Names are the main graph's:
    _check_excluded refuses a node inside an If/Loop body.)"""
    gemms = {n.name for n in model.graph.node if n.op_type == "Gemm"}
    return list(dict.fromkeys([*names, *(_gemm_as_matmul(n) for n in names if n in gemms)]))


def _gemm_as_matmul(name: str) -> str:
    """The name ONNX Runtime's dynamic quantizer gives the MatMul it makes of Gemm `name`."""
    return f"{name}_MatMul"


class _Reader:
    """onnxruntime.quantization's CalibrationDataReader protocol over the user's samples."""

    def __init__(self, generator):
        self._it = iter(generator())

    def get_next(self):
        return next(self._it, None)


def _static_int8(job: EdgeJob, model, src_io: IOSpec) -> tuple[dict, list[str]]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not job.options.calibration_data:
        raise UsageError("--quantize int8 needs --calibration-data FILE.npz (representative inputs, one array per input name)")
    generator, count = representative_samples(job.options.calibration_data, src_io)
    notes: list[str] = []
    large = onnx_large.is_large(model)
    source, per_channel = _per_channel_source(job, model, notes)
    source = _preprocessed(job, source, notes, large)
    activations = job.options.int8_activations or "uint8"
    quantize_static(source, job.output, _Reader(generator), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                    activation_type=getattr(QuantType, ACTIVATIONS[activations]), weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    nodes_to_exclude=list(job.options.quantize_exclude) or None, use_external_data_format=large)
    if large:
        onnx_large.as_one_file_if_it_fits(job.output)
    notes.insert(0, f"int8: static QDQ, int8 weights per {'channel' if per_channel else 'tensor'} and {activations} "
                    f"activations, calibrated on {count} sample(s)")
    details = {"format": "QDQ", "per_channel": per_channel, "activation_type": activations, "weight_type": "int8",
               "calibration": "MinMax", "calibration_samples": count}
    return details, notes


MODES = {"fp16": _fp16, "dynamic-int8": _dynamic_int8, "int8": _static_int8}


def _inlined(job: EdgeJob):
    """(the job reading a one-file copy of its source, that copy): a model whose weights are in
    external data files (as exporters and Optimum write it beside model.onnx) is read whole and
    written again as one file in the edge's scratch folder, so that every quantizer (and the
    float16 probe, which runs the model) sees its weights. Up to protobuf's 2 GB: _large_copy
    takes a larger one."""
    import onnx

    try:
        whole = onnx.load(job.source)  # external data resolved beside the model, as ONNX Runtime does
    except Exception as e:
        raise UsageError(f"{job.source}: its external data cannot be read ({_first_line(e)})") from None
    return _reading(job, whole, "source_one_file.onnx")


def _large_copy(job: EdgeJob, model):
    """(the job reading a copy of its source past 2 GB, that copy parsed without its weights): the
    model file and its external data files copied byte for byte into the edge's scratch folder,
    where ONNX Runtime's quantizers may write their files beside it (onnx_large.copy_with_external_data)."""
    import dataclasses

    import onnx

    copy = os.path.join(os.path.dirname(job.output), "source_large.onnx")
    try:
        onnx_large.copy_with_external_data(job.source, model, copy)
    except (OSError, ValueError) as e:
        raise UsageError(f"{job.source}: its external data cannot be read ({_first_line(e)})") from None
    return dataclasses.replace(job, source=copy), onnx.load(copy, load_external_data=False)


def _first_line(e: Exception) -> str:
    return f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"


def _without_value_info(job: EdgeJob, model):
    """(the job reading a copy of its source without value_info, that copy). The value_info a
    converter writes is optional shape annotation, and ONNX Runtime's dynamic quantizer (1.26)
    can contradict it after its own rewrites: measured on the fixture CNN exported by the dynamo
    exporter with a dynamic batch, quantize_dynamic failed with "[ShapeInferenceError] Inferred
    shape and existing shape differ in dimension 0: (16) vs (10)", and without the annotations
    (shape inference recomputes them) it quantizes and passes the int8 preset. Tried only after
    such a failure: a graph whose types only value_info gives (custom ops) keeps them otherwise."""
    import onnx

    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    del bare.graph.value_info[:]
    return _reading(job, bare, "source_without_value_info.onnx")


def _reading(job: EdgeJob, model, name: str):
    """(the job reading `model`, written as `name` in the edge's scratch folder, and `model`): the
    quantizers take a path."""
    import dataclasses

    import onnx

    path = os.path.join(os.path.dirname(job.output), name)
    onnx.save(model, path)
    return dataclasses.replace(job, source=path), model


def _bodies_of(node):
    """The If/Loop/Scan bodies a node holds."""
    for attr in node.attribute:
        yield from ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)


def _body_names(node) -> set[str]:
    """Names of the nodes inside `node`'s bodies, at any depth."""
    names: set[str] = set()
    for body in _bodies_of(node):
        for inner in body.node:
            names |= {inner.name} | _body_names(inner)
    return names


def _check_excluded(model, names: list[str]) -> None:
    """--quantize-exclude names nodes of the ONNX being quantized (the route's ONNX: `modelport
    locate` shows them); a name that is none of them is exit 2, listing a few that are. A node
    inside an If/Loop body cannot be kept alone: ONNX Runtime's float16 converter (1.26) then
    writes a model ONNX Runtime refuses (measured: "Node input 'then_big' is not a graph input"),
    while naming the If or Loop keeps its whole body in float32; so the error names that node."""
    nodes = {n.name for n in model.graph.node if n.name}
    unknown = [n for n in names if n not in nodes]
    for name in unknown:
        holder = next((n.name or n.op_type for n in model.graph.node if name in _body_names(n)), None)
        if holder:
            raise UsageError(f"--quantize-exclude {name}: a node inside the body of {holder!r}, which cannot be kept "
                             f"in float alone; --quantize-exclude {holder} keeps its whole body in float")
    if unknown:
        weighted = [n.name for n in model.graph.node if n.name and n.op_type in ("Conv", "Gemm", "MatMul")]
        raise UsageError(f"--quantize-exclude {', '.join(unknown)}: no node of that name in the ONNX being quantized "
                         f"(its weighted nodes: {', '.join(weighted[:6])}{', ...' if len(weighted) > 6 else ''})")


def _check_kept_float(model, names: list[str]) -> None:
    """Each --quantize-exclude node, read back from the written model (parsed without its external
    data): there under its name (or as
    the MatMul the dynamic quantizer makes of a Gemm) and reading no quantized or half weight. The
    quantizers take nodes_to_exclude as a hint they match by name after their own rewrites; ONNX
    Runtime's dynamic one once quantized an excluded Gemm while the manifest said it was kept."""
    from onnx import TensorProto

    weights = {i.name: i.data_type for i in model.graph.initializer}
    made_by = {out: node for node in model.graph.node for out in node.output}
    reduced = (TensorProto.INT8, TensorProto.UINT8, TensorProto.FLOAT16)
    for name in names:
        node = next((n for n in model.graph.node if n.name in (name, _gemm_as_matmul(name))), None)
        if node is None:
            raise ConversionError(f"--quantize-exclude {name}: the quantized model has no node of that name any more "
                                  "(ONNX Runtime quantized or merged it); it was not kept in float")
        for tensor in node.input:
            maker = made_by.get(tensor)
            dequantized = maker is not None and maker.op_type == "DequantizeLinear" and maker.input[0] in weights
            if weights.get(tensor) in reduced or dequantized:
                raise ConversionError(f"--quantize-exclude {name}: ONNX Runtime's quantizer did not keep it in float "
                                      f"(it reads {tensor}, a quantized or float16 weight)")


def convert(job: EdgeJob) -> EdgeResult:
    import onnxruntime

    q = job.options.quantize
    if q not in MODES:
        raise UsageError(f"--quantize {q!r} does not apply to an ONNX output (choose {', '.join(MODES)})")
    model = load_onnx(job.source)
    if onnx_large.is_large(model):
        job, model = _large_copy(job, model)
    elif external_files(model):
        job, model = _inlined(job)
    src_io = onnx_io(job.source, model)
    _check_excluded(model, job.options.quantize_exclude)
    try:
        try:
            details, notes = MODES[q](job, model, src_io)
        except Exception as e:
            if "ShapeInferenceError" not in str(e) or not model.graph.value_info:
                raise
            job, model = _without_value_info(job, model)
            details, notes = MODES[q](job, model, src_io)
            notes.append(f"quantized without the source's value_info (ONNX Runtime's shape inference contradicted "
                         f"it: {str(e).strip().splitlines()[0][:160]})")
    except (UsageError, ConversionError):
        raise
    except Exception as e:  # ONNX Runtime's quantizers raise many types on graphs they cannot handle
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise ConversionError(f"ONNX Runtime's {q} quantization failed: {type(e).__name__}: {first}") from None
    if not os.path.exists(job.output):
        raise ConversionError(f"ONNX Runtime's {q} quantization wrote no file")
    written = load_onnx(job.output)
    dst_io = onnx_io(job.output, written)
    dst_names = {t.name for t in dst_io.inputs + dst_io.outputs}
    lost = [t.name for t in src_io.inputs + src_io.outputs if t.name not in dst_names]
    if lost:
        raise ConversionError(f"the quantized model lost the inputs/outputs {lost}")
    if job.options.quantize_exclude:
        _check_kept_float(written, job.options.quantize_exclude)
        details["kept_float"] = list(job.options.quantize_exclude)
        notes.append(f"kept in float as asked (--quantize-exclude): {', '.join(job.options.quantize_exclude)}")
    io_map = IOMap([TensorMapping(t.name, t.name, None, "names kept by quantization") for t in src_io.inputs],
                   [TensorMapping(t.name, t.name, None, "names kept by quantization") for t in src_io.outputs])
    return EdgeResult(io_map, f"onnxruntime {onnxruntime.__version__}", {"quantize": q, **details}, notes)
