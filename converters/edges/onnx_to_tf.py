"""onnx -> tflite / savedmodel (and tflite -> savedmodel) with onnx2tf, one strategy per run.

Strategies (converters/strategies.py): the flatbuffer_direct backend after a preparation of the
ONNX graph (onnxsim where needed, fold, decompose, onnxslim, ONNX Runtime's optimiser, none), or
onnx2tf's tf_converter backend, which is slower but has kernels flatbuffer_direct's SavedModel
writer lacks (trap 10).

onnx2tf writes many files into its output folder (trap 3), so it runs in a private folder and only
the requested artifact is moved out. Dynamic dims are kept where running proves them
(converters/dynamic_dims.py: onnxsim folds the dynamo exporter's shape arithmetic first, which the
flatbuffer_direct SavedModel writer fails on), else fixed to the example sizes (onnxsim with them).
Weights computed by constant nodes are folded the same way, or onnx2tf emits custom ops.
"""

from __future__ import annotations

import glob
import json
import os
import shutil

from modelport.errors import ConversionError, NotApplicable, UsageError
from modelport.types import IOMap, IOSpec, TensorMapping
from modelport.converters.job import EdgeJob, EdgeResult
from modelport.layout import alternatives_to, infer_perm
from modelport.converters.onnx_rewrites import expand_gelu, normalise_legacy_inputs
from modelport.converters.signatures import load_onnx, onnx_io, savedmodel_io, tflite_custom_ops, tflite_io

SAVEDMODEL_PARTS = ("saved_model.pb", "variables", "assets", "fingerprint.pb")


def _static_sizes(job: EdgeJob, src: IOSpec) -> dict[str, list[int]]:
    """Concrete shapes for inputs with dynamic dims: --input-shape sizes, else 1."""
    fixed = {}
    for t in src.inputs:
        if not t.shape or not any(isinstance(d, str) for d in t.shape):
            continue
        o = job.options.input(t.name)
        given = o.example if o and o.example and len(o.example) == len(t.shape) else [None] * len(t.shape)
        fixed[t.name] = [d if isinstance(d, int) else (g or 1) for d, g in zip(t.shape, given)]
    return fixed


def _foldable_constants(model) -> bool:
    """Weights stored as ConstantOfShape nodes (as in the ONNX "light" model zoo) must be folded
    into initializers first: onnx2tf lowers a Conv only when its weights are constant tensors."""
    inits = {i.name for i in model.graph.initializer}
    return any(n.op_type == "ConstantOfShape" and n.input and all(i in inits for i in n.input) for n in model.graph.node)


_LEGACY_AXIS_OPS = ("Softmax", "LogSoftmax", "Hardmax")


def _legacy_softmax(model) -> bool:
    """Before opset 13, Softmax(axis=1) on (N, C, H, W) meant "softmax over C*H*W flattened".
    onnx2tf lowers it as a softmax over one axis of its NHWC tensor, which is wrong (SqueezeNet's
    1000-class output came back all 1.0). onnx's version converter rewrites it into
    Flatten + Softmax + Reshape at opset 13, which onnx2tf converts correctly."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    return opset < 13 and any(n.op_type in _LEGACY_AXIS_OPS for n in model.graph.node)


PREPARATION_OF = {"flatbuffer_direct": "onnxsim", "default": "onnxsim", "tf_converter": "onnxsim", "decompose": "onnxsim",
                  "fold": "fold", "onnxslim": "onnxslim", "ort": "ort", "none": "none"}


def _prepare_onnx(path: str, model, fixed: dict[str, list[int]], workdir: str, *,
                  for_savedmodel: bool, strategy: str, keep_dynamic: bool = False) -> tuple[str, list[str]]:
    """Return the ONNX file onnx2tf should read, and what was done to it.

    With the onnxsim preparation, only when needed (dynamic dims, weights computed by constant
    nodes, Gelu for a SavedModel, legacy Softmax) is the model rewritten; a static model with
    plain initializers goes to onnx2tf untouched, so large models are not loaded twice. The other
    strategies always prepare (converters/onnx_prep.py), and raise NotApplicable when they would
    change nothing for this model.
    """
    import onnx

    from modelport.converters.onnx_prep import has_static_constructs, prepare
    from modelport.converters.onnx_rewrites import decompose, decomposable

    method = PREPARATION_OF[strategy]
    fold = _foldable_constants(model)
    gelu = for_savedmodel and any(n.op_type == "Gelu" for n in model.graph.node)
    upgrade = _legacy_softmax(model)
    needed = bool(fixed or fold or gelu or upgrade or keep_dynamic)
    if strategy == "fold" and not has_static_constructs(model):
        raise NotApplicable("no Sequence/Loop/If construct to fold")
    if strategy == "decompose" and not decomposable(model):
        raise NotApplicable("no op of the decomposition table (HardSwish, HardSigmoid, Gelu, depthwise Conv, Split with num_outputs)")
    if strategy == "none" and not needed:
        raise NotApplicable("the model needs no preparation: the same conversion as flatbuffer_direct")
    if method == "onnxsim" and not needed and strategy != "decompose":
        return _private_copy(path, model, workdir), []
    model = onnx.load(path)
    normalise_legacy_inputs(model)
    done = []
    if gelu:
        done.append(f"{expand_gelu(model)} Gelu op(s) expanded into Erf/Tanh form (onnx2tf's SavedModel writer has no GELU)")
    if fixed:
        done.append("dynamic dims fixed for TensorFlow: " + ", ".join(f"{k}={v}" for k, v in fixed.items()))
    if fold and method == "onnxsim":
        done.append("constant weights folded into initializers (onnxsim)")
    if upgrade:  # before onnxsim, which then folds the Shape ops the converter adds
        from onnx import version_converter

        try:
            model = version_converter.convert_version(model, 13)
            done.append("opset upgraded to 13 (legacy Softmax semantics made explicit)")
        except Exception as e:
            raise ConversionError(f"upgrading the opset to 13 for onnx2tf failed: {str(e).splitlines()[0][:200]}") from None
    if strategy == "decompose" and has_static_constructs(model):
        method = "fold"  # onnxsim cannot take the graph; the depthwise rewrite needs its static shapes
    model, what = prepare(model, method, fixed)
    done.append(what)
    if strategy == "decompose":
        counts = decompose(model)
        done.append("decomposed for onnx2tf's writers: " + ", ".join(f"{n} {op}" for op, n in counts.items()))
    out = os.path.join(workdir, "prepared.onnx")
    onnx.save(model, out)
    return out, done


def _private_copy(path: str, model, workdir: str) -> str:
    """The model (and the external data files it names) copied into the edge's own folder.

    onnx2tf runs onnxsim on its input file *in place* (three times) and may save over it: given
    the user's file, or the artifact of an earlier step that the next strategy reads again, it
    would change what every later reader sees. It only ever gets a copy. `model` is the file
    as parsed without its external data (load_onnx), which still names the external files."""
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    folder = os.path.join(workdir, "onnx2tf_input")
    os.makedirs(folder, exist_ok=True)
    copy = os.path.join(folder, os.path.basename(path))
    shutil.copyfile(path, copy)
    for tensor in model.graph.initializer:
        if uses_external_data(tensor):
            location = ExternalDataInfo(tensor).location
            dest = os.path.join(folder, location)
            if not os.path.exists(dest):
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                shutil.copyfile(os.path.join(os.path.dirname(path), location), dest)
    return copy


def _read_report(folder: str) -> tuple[dict[str, tuple[str, bool]], list[list] | None]:
    """From onnx2tf's tensor correspondence report: ONNX graph output name -> (TFLite tensor name,
    channel-last?), and every record that names a tensor of the written model as [ONNX value,
    TFLite tensor, status, channel-last?], which the manifest keeps for `modelport locate`
    (validators/locate/correspondence.py); None when onnx2tf wrote no report."""
    found, records, seen = {}, [], False
    for path in glob.glob(os.path.join(folder, "*_tensor_correspondence_report.json")):
        seen = True
        with open(path) as f:
            report = json.load(f)
        nodes = {r.get("onnx_op_name") for r in report.get("records", [])} - {None, ""}
        for r in report.get("records", []):
            name, channel_last = r.get("resolved_tflite_tensor_name"), bool(r.get("assume_channel_last_layout"))
            if r.get("is_graph_output"):
                found[r["onnx_output_name"]] = (name, channel_last)
            if name and r.get("exists_in_final_model") and r.get("status") != "missing":
                owner = _lowered_by(name, r.get("onnx_op_name"), nodes)
                status = f"fused into {owner}" if owner else r.get("status", "?")
                records.append([r["onnx_output_name"], name, status, channel_last])
    return found, (records if seen else None)


def _lowered_by(tensor: str, own: str | None, nodes: set[str]) -> str | None:
    """The other ONNX node whose lowering made `tensor`, when the tensor holds a step of that
    node's computation rather than the record's own value. onnx2tf names the tensors it makes
    `<node>_<what>`: `<consumer>_input_nhwc` is a consumer's input (the record's own value, moved
    to NHWC), but a record renamed to another node's internal tensor means that node's first step
    was folded into the record's producer (MobileNet-v3: a Conv's output renamed
    `node_hardsigmoid_hardsigmoid_add_out`, the hardsigmoid's +3 folded into the conv's bias)."""
    owner = max((n for n in nodes if tensor.startswith(n + "_")), key=len, default=None)
    if owner is None or owner == own or tensor[len(owner) + 1:].startswith("input"):
        return None
    return owner


def _fixed_shape(shape, fixed):
    return [f if isinstance(d, str) and f is not None else d for d, f in zip(shape, fixed)] if fixed else shape


def build_io_map(src: IOSpec, dst: IOSpec, fixed: dict[str, list[int]], report: dict[str, tuple[str, bool]]) -> IOMap:
    def match(src_list, dst_list, is_output):
        by_name = {t.name: t for t in dst_list}
        out = []
        for i, s in enumerate(src_list):
            rule = "name"
            prefer = None
            d = by_name.get(s.name)
            if d is None and is_output and s.name in report and report[s.name][0] in by_name:
                d, rule = by_name[report[s.name][0]], "converter report"
            if is_output and s.name in report:
                prefer = report[s.name][1]
            if d is None and len(src_list) == len(dst_list):
                d, rule = dst_list[i], "position"
            if d is None:
                continue
            src_shape = _fixed_shape(s.shape, fixed.get(s.name)) if s.shape else s.shape
            perm, why = infer_perm(src_shape, d.shape, prefer_channel_last=prefer)
            out.append(TensorMapping(s.name, d.name, perm, f"{rule}; layout by {why}",
                                     alternatives_to(perm, src_shape, d.shape)))
        return out

    return IOMap(match(src.inputs, dst.inputs, False), match(src.outputs, dst.outputs, True))


def _run_onnx2tf(workdir: str, *, onnx_path: str | None = None, tflite_path: str | None = None, saved_model: bool,
                 backend: str = "flatbuffer_direct"):
    import onnx2tf

    out_dir = os.path.join(workdir, "onnx2tf_out")
    kwargs = dict(output_folder_path=out_dir, non_verbose=True, tflite_backend=backend)
    if onnx_path and backend == "tf_converter":  # this backend writes the SavedModel and the .tflite both
        kwargs.update(input_onnx_file_path=onnx_path)
    elif onnx_path:
        kwargs.update(input_onnx_file_path=onnx_path, flatbuffer_direct_output_saved_model=saved_model)
    else:
        kwargs.update(input_tflite_file_path=tflite_path)
    try:
        onnx2tf.convert(**kwargs)
    except SystemExit as e:  # onnx2tf exits the process on many error paths (trap 9)
        raise ConversionError(f"onnx2tf stopped with exit status {e.code}; see the log (--verbose)") from None
    except Exception as e:
        raise ConversionError(f"onnx2tf failed: {_root_cause(e)}") from None
    return out_dir


def _root_cause(e: BaseException) -> str:
    """onnx2tf wraps the real error ("fast path failed"); show the wrapper and the innermost cause."""
    chain = [e]
    while (nxt := chain[-1].__cause__ or chain[-1].__context__) is not None and len(chain) < 10:
        chain.append(nxt)
    parts = []
    for err in (chain[0], chain[-1]) if len(chain) > 1 else (chain[0],):
        lines = [ln for ln in str(err).strip().splitlines() if ln.strip()]
        parts.append(f"{type(err).__name__}: {(lines[-1] if lines else '').strip()[:250]}")
    return " <- ".join(parts)


def _take_savedmodel(out_dir: str, dest: str) -> None:
    if not os.path.isfile(os.path.join(out_dir, "saved_model.pb")):
        raise ConversionError("onnx2tf wrote no SavedModel (saved_model.pb missing); see the log (--verbose)")
    os.makedirs(dest)
    for part in SAVEDMODEL_PARTS:
        p = os.path.join(out_dir, part)
        if os.path.exists(p):
            shutil.move(p, os.path.join(dest, part))


def _take_tflite(out_dir: str, dest: str) -> None:
    found = sorted(glob.glob(os.path.join(out_dir, "*_float32.tflite")))
    if not found:
        raise ConversionError("onnx2tf wrote no float32 .tflite; see the log (--verbose)")
    shutil.move(found[0], dest)


def _check_custom_ops(path: str) -> None:
    custom = tflite_custom_ops(path)
    if custom:
        names = ", ".join(f"{c} (ONNX {c[5:]})" if c.startswith("ONNX_") else c for c in custom)
        raise ConversionError(f"unsupported operator(s) for TFLite: {names}; onnx2tf wrote them as custom ops no interpreter can run")


def _convert_onnx(job: EdgeJob, model, src_io: IOSpec, fixed: dict[str, list[int]], workdir: str,
                  backend: str, *, keep_dynamic: bool = False) -> tuple[IOMap, list[str], list[list] | None]:
    """One onnx2tf run on the prepared ONNX, its artifact moved to job.output; the I/O map, what the
    preparation did, and the tensor correspondence (_read_report). `keep_dynamic`: dims unfixed,
    the graph still simplified by onnxsim."""
    to_savedmodel = job.target_format == "savedmodel"
    onnx_path, prepared = _prepare_onnx(job.source, model, fixed, workdir, for_savedmodel=to_savedmodel,
                                        strategy=job.strategy, keep_dynamic=keep_dynamic)
    out_dir = _run_onnx2tf(workdir, onnx_path=onnx_path, saved_model=to_savedmodel, backend=backend)
    report, records = _read_report(out_dir)
    return build_io_map(src_io, _take_artifact(job, out_dir), fixed, report), prepared, records


def _take_artifact(job: EdgeJob, out_dir: str) -> IOSpec:
    try:
        if job.target_format == "savedmodel":
            _take_savedmodel(out_dir, job.output)
            return savedmodel_io(job.output)
        _take_tflite(out_dir, job.output)
        _check_custom_ops(job.output)
        return tflite_io(job.output)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def _remove_output(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)


def _keeping_dims(job: EdgeJob, model, src_io: IOSpec, workdir: str, backend: str,
                  notes: list[str]) -> tuple[IOMap, list[list] | None] | None:
    """Convert with the dynamic dims kept, and keep the artifact only if running proves them
    (converters/dynamic_dims.py): its I/O map and tensor correspondence, or None (nothing left at
    job.output) when it is not."""
    from modelport.converters.dynamic_dims import prover

    try:
        io_map, prepared, records = _convert_onnx(job, model, src_io, {}, workdir, backend, keep_dynamic=True)
    except NotApplicable:  # the strategy does nothing for this model, whatever the dims
        raise
    except ConversionError as e:
        _remove_output(job.output)
        notes.append(f"keeping the dynamic dims failed in onnx2tf ({e.message[:200]}): converted again with them fixed")
        return None
    ok, seen = prover(job, io_map)
    if not ok:
        _remove_output(job.output)
        notes.append(f"onnx2tf kept the dynamic dims, but running showed {seen}: converted again with them fixed")
        return None
    notes.extend(prepared)
    notes.append(f"dynamic dims kept ({seen}, against ONNX Runtime on the source)")
    return io_map, records


def convert(job: EdgeJob) -> EdgeResult:
    import onnx2tf

    from modelport.converters import dynamic_dims

    workdir = os.path.dirname(job.output)
    notes: list[str] = []
    backend = "tf_converter" if job.strategy == "tf_converter" else "flatbuffer_direct"
    details: dict = {"backend": backend, "strategy": job.strategy}
    records = None
    if job.source_format == "tflite":
        src_io = tflite_io(job.source)
        out_dir = _run_onnx2tf(workdir, tflite_path=job.source, saved_model=True)
        report, _ = _read_report(out_dir)
        io_map = build_io_map(src_io, _take_artifact(job, out_dir), {}, report)
    else:
        if job.options.quantize:
            raise UsageError("onnx2tf edges do not quantize; quantization happens in savedmodel->tflite")
        model = load_onnx(job.source)  # parsed once, for the signature and the checks
        src_io = onnx_io(job.source, model)
        fixed = _static_sizes(job, src_io)
        io_map = None
        if fixed and job.strategy in dynamic_dims.KEEPING_STRATEGIES and dynamic_dims.prover is not None:
            kept = _keeping_dims(job, model, src_io, workdir, backend, notes)
            if kept is not None:
                io_map, records = kept
                details["dynamic_dims_kept"] = sorted({d for t in src_io.inputs for d in t.dynamic_dims.values()})
        if io_map is None:
            io_map, prepared, records = _convert_onnx(job, model, src_io, fixed, workdir, backend)
            notes += prepared
            if fixed:
                details["fixed_input_shapes"] = fixed
        del model
    if records is not None and job.target_format == "tflite":  # what `modelport locate` follows
        details["tensor_correspondence"] = records
    permuted = [m.source for m in io_map.inputs + io_map.outputs if m.perm]
    if permuted:
        notes.append("channel-first tensors became channel-last: " + ", ".join(permuted))
    return EdgeResult(io_map, f"onnx2tf {onnx2tf.__version__}", details, notes)
