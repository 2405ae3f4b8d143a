"""`modelport validate`: the same inputs through a reference and every candidate, output by output.

Star, not chain: every candidate is compared with the reference. Inputs are made once, in the
reference's terms (names, layout), and mapped to each candidate through its I/O map (from its
manifest, or matched by name / shape, see validators/matching.py). Candidate outputs are mapped
back into the reference's layout before they are compared, so reports speak the reference's names.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from modelport import manifest
from modelport.errors import UsageError, first_line
from modelport.formats import detect
from modelport.input_overrides import parse_input_dtype, parse_input_shape
from modelport.layout import inverse_perm
from modelport.types import QUANTIZE_PRESET, Format, IOMap, TensorMapping, TensorSpec
from modelport.validators import inputs as input_data
from modelport.validators import dynamic_sizes
from modelport.validators.golden import load_dim_names, load_golden, load_sized, save_golden
from modelport.validators.layout_evidence import is_ambiguous, settle
from modelport.validators import matching
from modelport.validators.metrics import compare_output, merge_samples
from modelport.validators.results import CandidateResult, OutputResult, ValidationReport
from modelport.validators.runtimes import ANY_DTYPE, Runner, runner_for
from modelport.validators.tolerances import parse_tolerance_overrides, tolerance_for
from modelport.validators.validate_options import ValidateOptions
from modelport.workers.import_order import import_torch_before_tensorflow

VERSIONED = (("numpy", "numpy"), ("onnx", "onnx"), ("onnxruntime", "onnxruntime"), ("torch", "torch"),
             ("tensorflow", "tensorflow"), ("ai-edge-litert", "ai_edge_litert"))


def _order_imports(paths: list[str]) -> None:
    """PyTorch beside a SavedModel or Keras model: torch's side is imported first (modelport/workers/import_order.py)."""
    formats = set()
    for path in paths:
        try:
            formats.add(detect(path, thorough=False).format)
        except UsageError:  # reported with its usual message when the model is opened
            continue
    if Format.PYTORCH in formats and formats & {Format.SAVEDMODEL, Format.KERAS}:
        import_torch_before_tensorflow()


def _open(path: str, opts: ValidateOptions, *, is_reference: bool) -> tuple[Runner, str]:
    d = detect(path, thorough=False)  # the runtime parses the model anyway, and rejects a damaged one
    device = (opts.reference_device or opts.device) if is_reference else opts.device
    kwargs: dict = {}
    if d.format == Format.TFLITE and opts.threads:
        kwargs["threads"] = opts.threads
    if d.format == Format.TFJS:
        kwargs["backend"] = opts.tfjs_backends[0]
    if d.format == Format.PYTORCH and is_reference and opts.weights:
        kwargs["weights"] = opts.weights
    if d.format == Format.PYTORCH and is_reference and opts.task:
        kwargs["task"] = opts.task
    return runner_for(path, d.format, d.flavor, device=device, **kwargs).load(), d.format.value


def _precision(path: str, cand_manifest: dict | None, opts: ValidateOptions) -> str:
    if opts.preset:
        return opts.preset
    if path in opts.precisions:
        return opts.precisions[path]
    q = ((cand_manifest or {}).get("options") or {}).get("quantize")
    return QUANTIZE_PRESET.get(q or "", "fp32")


def _overrides(opts: ValidateOptions) -> tuple[dict[str, list[int]], dict[str, str]]:
    """--input-shape (concrete sizes; a bare dynamic name means 1) and --input-dtype, by input name."""
    shapes: dict[str, list[int]] = {}
    for text in opts.input_shapes:
        o = parse_input_shape(text)
        shapes[o.name] = [e if e is not None else (d if isinstance(d, int) else input_data.DEFAULT_DYNAMIC_SIZE)
                          for d, e in zip(o.shape or [], o.example or [])]
    dtypes = dict(parse_input_dtype(text) for text in opts.input_dtypes)
    return shapes, dtypes


def _resolve_reference_inputs(ref_specs: list[TensorSpec], cands: list[tuple], opts: ValidateOptions) -> list[TensorSpec]:
    """Concrete shapes and dtypes for the reference's inputs: --input-shape, else the reference's
    own static dims, else what a candidate's fixed shape says (mapped back through its perm)."""
    shapes, dtypes = _overrides(opts)
    unknown = (set(shapes) | set(dtypes)) - {s.name for s in ref_specs}
    if unknown and ref_specs:
        raise UsageError(f"--input-shape/--input-dtype name(s) {', '.join(sorted(unknown))} are not inputs of the "
                         f"reference (inputs: {', '.join(s.name for s in ref_specs)})")
    resolved = []
    for spec in ref_specs:
        shape, dtype = spec.shape, (spec.dtype if spec.dtype != ANY_DTYPE else None)
        hint = next(((c_spec, m) for _, _, io_map, c_specs in cands for m in io_map.inputs if m.source == spec.name
                     for c_spec in c_specs if c_spec.name == m.artifact), None)
        if hint is not None:
            c_spec, m = hint
            c_shape = c_spec.shape
            if c_shape is not None and m.perm is not None:
                c_shape = [c_shape[i] for i in inverse_perm(m.perm)]
            if shape is None:
                shape = c_shape
            elif c_shape is not None and len(c_shape) == len(shape):
                shape = [d if isinstance(d, int) and d >= 0 else (c if isinstance(c, int) and c >= 0 else d)
                         for d, c in zip(shape, c_shape)]
            # a half-precision input is how that artifact stores floats (--fp16-io), not the float
            # model's type: a reference that declares none is fed float32 (rounded for the candidate)
            hinted = "float32" if c_spec.dtype in ("float16", "bfloat16") else c_spec.dtype
            dtype = dtype or (hinted if hinted != ANY_DTYPE else None)
        shape = shapes.get(spec.name, shape)
        dtype = dtypes.get(spec.name, dtype)
        resolved.append(TensorSpec(spec.name, shape, dtype or "float32"))
    return resolved


def _map_feed(feed: dict[str, np.ndarray], io_map: IOMap, specs: list[TensorSpec]) -> dict[str, np.ndarray]:
    by_artifact = {m.artifact: m for m in io_map.inputs}
    out = {}
    for spec in specs:
        m = by_artifact.get(spec.name)
        if m is None or m.source not in feed:
            raise UsageError(f"candidate input {spec.name!r} matches no reference input")
        x = feed[m.source]
        if m.perm is not None:
            x = np.ascontiguousarray(x.transpose(m.perm))
        dtype = np.dtype(spec.dtype) if spec.dtype not in ("bfloat16", ANY_DTYPE) else x.dtype
        out[spec.name] = x.astype(dtype, copy=False)
    return out


def _outputs_by_signature(ref_out: dict, got: dict) -> list[TensorMapping]:
    """Match outputs without a manifest, from the arrays' own shapes and dtypes."""
    specs = lambda outs: [TensorSpec(k, list(np.shape(v)), np.asarray(v).dtype.name) for k, v in outs.items()]  # noqa: E731
    return matching.by_signature(specs(ref_out), specs(got))


def _compare(ref_out: dict, got: dict, io_map: IOMap | None, precision: str, tol_overrides) -> list[OutputResult]:
    outputs = io_map.outputs if io_map is not None and io_map.outputs else _outputs_by_signature(ref_out, got)
    by_source = {m.source: m for m in outputs}
    return [_compare_one(name, ref, got, by_source.get(name), precision, tol_overrides) for name, ref in ref_out.items()]


def _compare_one(name: str, ref, got: dict, m: TensorMapping | None, precision: str, tol_overrides) -> OutputResult:
    tol = tolerance_for(name, precision, tol_overrides)
    if m is None or m.artifact not in got:
        return OutputResult(name, "-", False, "missing: no candidate output matches it", tol, severity=float("inf"))
    g = np.asarray(got[m.artifact])
    if m.perm is not None and g.ndim == len(m.perm):
        g = g.transpose(inverse_perm(m.perm))
    return compare_output(np.asarray(ref), g, tol, output=name, candidate_output=m.artifact, mapping=m.rule)


def _settle_layout(result: CandidateResult, io_map: IOMap, runner, specs, feeds, ref_outs, precision: str,
                   tol_overrides) -> None:
    """The candidate failed under a map with ambiguous layouts: let running decide (layout_evidence)."""
    def run_all(m: IOMap) -> list[dict]:
        return [runner.run(_map_feed(feed, m, specs)) for feed in feeds]

    def judge(name: str, refs: list, gots: list[dict], m: TensorMapping) -> OutputResult:
        return merge_samples([_compare_one(name, r, g, m, precision, tol_overrides) for r, g in zip(refs, gots)])

    settled, tried, closest = settle(io_map, ref_outs, run_all, judge)
    if settled is None:
        what = "layout or pairing" if any(m.pairings for m in io_map.inputs + io_map.outputs) else "layout"
        result.layout_evidence = [f"no {what} the shapes allow matches the source: " + "; ".join(tried[:8])]
        if closest is not None:
            result.outputs = sorted(closest, key=lambda r: -r.severity)
        return
    result.outputs = sorted(settled.outputs, key=lambda r: -r.severity)
    result.passed = all(r.passed for r in result.outputs)
    result.input_mapping = [{"reference": m.source, "candidate": m.artifact, "perm": m.perm, "rule": m.rule}
                            for m in settled.io_map.inputs]
    result.layout_evidence = settled.notes
    result.settled_io_map = settled.io_map.to_dict()


def _against_float64(result: CandidateResult, ref_runner, runner, io_map: IOMap, specs, feeds, ref_outs,
                     precision: str, tol_overrides) -> None:
    """A candidate failed against the float32 reference: judge it again against the reference
    computed in float64, where the reference's runtime can (eager PyTorch). Why: an
    ill-conditioned model's own float32 rounding can be larger than the tolerance, and then a
    correct artifact differs from the float32 source as much as two float32 runs of the source on
    two runtimes do. On the corpus's ssdlite head, PyTorch float32 was 0.307 off its float64 run on
    one output where ONNX Runtime's was 2.9e-5 off: the conversion was right and the reference was
    the one off. A candidate within tolerance of the float64 values passes, saying so; one that is
    not stays failed, with both distances, so the user sees whether the model is ill-conditioned
    on these inputs (the float32 source as far from float64 as the candidate) or the conversion
    is wrong (the source close, the candidate far)."""
    refs64 = []
    for feed, ref in zip(feeds, ref_outs):
        ref64 = _reference_in_float64(ref_runner, feed, ref)
        if ref64 is None:
            return
        refs64.append(ref64)
    per_output: dict[str, list[OutputResult]] = {}
    try:
        for feed, ref64 in zip(feeds, refs64):
            got = runner.run(_map_feed(feed, io_map, specs))
            for r in _compare(ref64, got, io_map, precision, tol_overrides):
                per_output.setdefault(r.output, []).append(r)
    except Exception:  # it ran once on these feeds: a second failure leaves the float32 verdict as it is
        return
    against64 = sorted((merge_samples(rs) for rs in per_output.values()), key=lambda r: -r.severity)
    drift = max((_float32_drift(r, r64) for r, r64 in zip(ref_outs, refs64)), default=0.0)
    failing = [o.output for o in result.outputs if not o.passed]
    worst = max((o.max_abs or 0.0) for o in against64) if against64 else 0.0
    if against64 and all(o.passed for o in against64):
        result.reference_evidence = [
            f"fails against the float32 source on {', '.join(failing)} but matches the source run in float64 "
            f"(max abs {worst:.3g}): the float32 source is itself up to {drift:.3g} off its float64 values on these "
            "inputs, its own rounding, not the conversion; judged against float64"]
        result.outputs, result.passed = against64, True
    else:
        result.reference_evidence = [
            f"against the source run in float64 it fails too (max abs {worst:.3g}); the float32 source is up to "
            f"{drift:.3g} off its float64 values on these inputs" +
            (": at least half as far as the candidate, the model is ill-conditioned there" if drift >= 0.5 * worst else "")]


def _float32_drift(ref_out: dict, ref64: dict) -> float:
    """How far the float32 reference is off its float64 values, largest over its float outputs."""
    return max((float(np.max(np.abs(np.asarray(ref_out[k], np.float64) - np.asarray(ref64[k], np.float64))))
                for k in ref_out if np.asarray(ref_out[k]).dtype.kind == "f" and np.size(ref_out[k])), default=0.0)


def _reference_in_float64(ref_runner, feed: dict, ref_out: dict) -> dict | None:
    """The reference computed in float64 on `feed`, in its float32 outputs' dtypes (rounded once at
    the end), or None where its runtime cannot (validators/runtimes/base.py: run_float64)."""
    out = ref_runner.run_float64(feed) if ref_runner is not None else None
    if out is None or set(out) != set(ref_out):
        return None
    return {k: v.astype(np.asarray(ref_out[k]).dtype) if v.dtype == np.float64 else v for k, v in out.items()}


def _prove_sizes(result: CandidateResult, runner, specs, io_map: IOMap, groups, wanted, sized: dict, make_sample,
                 precision: str, tol_overrides) -> None:
    """Run the candidate at another size of each dim it claims is dynamic (validators/dynamic_sizes.py).

    `sized` maps a sample's shapes to (inputs, reference outputs or None, why none); `make_sample`
    makes a missing one with the reference, or is None (golden data: only what it holds). A size the
    reference cannot run proves nothing and fails nothing; a candidate that fails to run there, or
    differs, fails."""
    new: dict[str, list[OutputResult]] = {}
    for group, size in dynamic_sizes.size_sets(groups, wanted):
        entry = {"dim": group.label, "base": group.base, "size": size, "passed": None, "detail": "", "max_abs": None}
        result.sizes.append(entry)
        key, sample_specs = make_sample.key(group, size)
        if key not in sized:
            sized[key] = make_sample(sample_specs) if make_sample.can_run else (None, None, "no sample at this size in the golden data")
        feed, ref_out, why = sized[key]
        if ref_out is None and make_sample.can_run and (group.label in wanted or group.key in wanted):
            raise UsageError(f"--shapes {group.label}:{size}: {why}; give sizes the reference can take")
        if ref_out is None:
            entry["detail"] = why
            continue
        try:
            got = runner.run(_map_feed(feed, io_map, specs))
        except Exception as e:  # a claimed dim the runtime refuses is a failure of the candidate
            entry.update(passed=False, detail=f"{type(e).__name__} while running: {first_line(e)}")
            continue
        rs = _compare(ref_out, got, io_map, precision, tol_overrides)
        worst = max(rs, key=lambda r: r.severity) if rs else None
        entry["passed"] = all(r.passed for r in rs)
        entry["max_abs"] = worst.max_abs if worst else None
        entry["detail"] = "ok" if entry["passed"] else f"{worst.output}: {worst.reason}"
        if not entry["passed"]:  # judged again against the source in float64, as the base sample is
            ref64 = _reference_in_float64(getattr(make_sample, "ref_runner", None), feed, ref_out)
            rs64 = _compare(ref64, got, io_map, precision, tol_overrides) if ref64 is not None else None
            if rs64 and all(r.passed for r in rs64):
                entry["passed"], rs = True, rs64
                entry["detail"] = (f"ok against the source in float64 ({entry['detail']} against its float32 run: "
                                   "the model's own rounding at this size)")
            elif rs64:
                entry["detail"] += (f"; against the source in float64 too (max abs {max(r.max_abs or 0 for r in rs64):.3g}), "
                                    f"where the float32 source is itself {_float32_drift(ref_out, ref64):.3g} off")
        if not entry["passed"]:
            pieces = _same_as_pieces(runner, feed, got, ref_out, group, size, io_map, specs, precision, tol_overrides)
            if pieces:  # the dim works; these inputs are out of tolerance at any size: the outputs fail, not the dim
                entry.update(passed=True, sample_fails=True,
                             detail=f"{pieces}; the outputs on this sample fail at any size ({entry['detail']})")
        for r in rs:
            new.setdefault(r.output, []).append(r)
    if new:
        result.outputs = sorted((merge_samples([o, *new.get(o.output, [])]) for o in result.outputs), key=lambda r: -r.severity)
    if any(e["passed"] is False for e in result.sizes) or not all(r.passed for r in result.outputs):
        result.passed = False  # a dim that works can still meet inputs its outputs fail on (_same_as_pieces)


def _same_as_pieces(runner, feed: dict, got: dict, ref_out: dict, group, size: int, io_map: IOMap, specs,
                    precision: str, tol_overrides) -> str:
    """Whether the candidate, at `size` of a group of dims, computes what it computes on the same
    sample cut into pieces at the base size (one row at a time for a batch of base 1): then the
    dim works, and a failure against the source at `size` is the candidate's error on these inputs,
    which it has at the base size too. Measured: MobileNet-v3-small's TFLite with a dynamic batch,
    at batch 4, was 3.4e-4 off the float32 source on 0.25% of its logits (the source itself 1.5e-4
    off its float64 run) while its batch-4 run equalled its four batch-1 runs bit for bit: reported
    as the dim failing, it was the sample. Judged by the tolerance the outputs are judged by; ""
    when the sample cannot be cut (size not a multiple of the base) or an output has no axis that
    grows with it (a model that mixes rows: then the dim's failure stands)."""
    base = group.base
    if base < 1 or size % base or size == base:
        return ""
    n = size // base
    members = dict(group.members)
    try:
        outs = []
        for k in range(n):
            piece = {name: (np.take(x, range(k * base, (k + 1) * base), axis=members[name]) if name in members else x)
                     for name, x in feed.items()}
            outs.append(runner.run(_map_feed(piece, io_map, specs)))
    except Exception:  # noqa: BLE001 -- a candidate that cannot run at the base size on a piece proves nothing here
        return ""
    joined: dict[str, np.ndarray] = {}
    for m in io_map.outputs:
        if m.source not in ref_out or any(m.artifact not in o for o in outs):
            return ""
        parts = [np.asarray(o[m.artifact]) for o in outs]
        if m.perm is not None and parts[0].ndim == len(m.perm):
            parts = [p.transpose(inverse_perm(m.perm)) for p in parts]
        whole = np.shape(ref_out[m.source])
        grows = [a for a in range(len(whole)) if parts[0].ndim == len(whole) and whole[a] == n * parts[0].shape[a]
                 and whole[a] != parts[0].shape[a]]
        if len(grows) != 1:
            return ""
        joined[m.source] = np.concatenate(parts, axis=grows[0])
    rs = _compare(joined, got, io_map, precision, tol_overrides)
    if not rs or not all(r.passed for r in rs):
        return ""
    diff = max((r.max_abs or 0.0) for r in rs)
    return (f"at {group.label}={size} it computes what it computes on the sample's {n} pieces at {group.label}={base} "
            f"(max abs {diff:.3g}): the dim works")


def _other_backends(result: CandidateResult, path: str, opts: ValidateOptions, specs, io_map: IOMap, feeds,
                    ref_outs, precision: str, tol_overrides, prove_sizes) -> None:
    """The same samples, and the same other sizes of the dynamic dims (`prove_sizes(runner)`), through
    the candidate's other TF.js backends (--tfjs-backend): each must match the reference as the first
    one did. Measured: TF.js 4.22's wasm backend computed rows 1 and 2 of a batch of 3 wrong (max abs
    0.26) in the cnn fixture's graph where its cpu backend was right, and right at batch 1: one
    backend passing, or one size, proves nothing of another."""
    for backend in opts.tfjs_backends[1:]:
        entry: dict = {"backend": backend, "passed": False, "max_abs": None, "detail": ""}
        result.backends.append(entry)
        try:
            runner = runner_for(path, Format.TFJS, device=opts.device, backend=backend).load()
        except Exception as e:  # UsageError included: a backend that cannot load the model fails it
            entry["detail"] = f"does not load: {first_line(e, 200)}"
            result.passed = False
            continue
        try:
            rs = [r for feed, ref in zip(feeds, ref_outs)
                  for r in _compare(ref, runner.run(_map_feed(feed, io_map, specs)), io_map, precision, tol_overrides)]
            sizes = prove_sizes(runner)
        except Exception as e:
            entry["detail"] = f"{type(e).__name__} while running: {first_line(e, 200)}"
            result.passed = False
            continue
        finally:
            runner.close()
        worst = max(rs, key=lambda r: r.severity) if rs else None
        failed_size = next((e for e in sizes if e["passed"] is False), None)
        entry.update(passed=all(r.passed for r in rs) and failed_size is None,
                     max_abs=max([(worst.max_abs or 0.0) if worst else 0.0] + [e["max_abs"] or 0.0 for e in sizes]),
                     sizes=[e["size"] for e in sizes if e["passed"]])
        if worst is not None and not worst.passed:
            entry["detail"] = f"{worst.output}: {worst.reason}"
        elif failed_size is not None:
            entry["detail"] = f"at {failed_size['dim']}={failed_size['size']}: {failed_size['detail']}"
        else:
            entry["detail"] = "ok"
        if not entry["passed"]:
            result.passed = False


def _reference_identity(reference: str) -> tuple[dict | None, str | None]:
    """The reference's own manifest and the sha256 its candidates' manifests name it by."""
    path = reference.split(":")[0] if ":" in reference and not os.path.exists(reference) else reference
    return manifest.load(reference), manifest.sha256_of(path)


def _manifest_map(path: str, reference: str | None, ref_manifest, ref_sha, cand_manifest, opts: ValidateOptions):
    """A candidate's I/O map: given by convert, or from the manifests (validators/matching.py); None to match."""
    return opts.io_maps.get(path) or matching.from_manifests(
        (os.path.abspath(reference) if reference and os.path.exists(reference) else reference or "", ref_sha),
        ref_manifest, cand_manifest)


def _with_dim_names(ref_specs: list[TensorSpec], opts: ValidateOptions, manifests: list[dict | None]) -> list[TensorSpec]:
    """The reference's inputs with a name for each dim it declares none for (a PyTorch module
    declares no shapes), from --input-shape (`image:batch=1,3,64,64`) or, failing that, from the
    names a candidate's conversion gave (its manifest's inputs): the dynamic dims --shapes and the
    report name are then the user's `batch`, not `image[0]`."""
    names: dict[str, dict[int, str]] = {}
    ranks: dict[str, int] = {}
    recorded = [i for m in manifests for i in ((m or {}).get("options") or {}).get("inputs") or []]
    given = [parse_input_shape(t) for t in opts.input_shapes]
    for o in [*given, *[parse_input_shape(f"{i['name']}:" + ",".join(str(d) for d in i["shape"]))
                        for i in recorded if i.get("shape")]]:
        ranks.setdefault(o.name, len(o.shape or []))
        for axis, d in enumerate(o.shape or []):
            if isinstance(d, str):
                names.setdefault(o.name, {}).setdefault(axis, d)
    out = []
    for spec in ref_specs:
        named = names.get(spec.name)
        if not named:
            out.append(spec)
            continue
        shape = list(spec.shape) if spec.shape is not None else [None] * ranks[spec.name]
        shape = [d if isinstance(d, str) or axis not in named else named[axis] for axis, d in enumerate(shape)]
        out.append(dataclasses.replace(spec, shape=shape))
    return out


def reference_feeds(ref_input_specs: list[TensorSpec], opts: ValidateOptions, value_ranges: dict) -> list[dict]:
    """The samples' inputs in the reference's terms: --inputs, else generated (seeded, one per sample)."""
    if opts.inputs:
        loaded = input_data.load(opts.inputs)
        missing = [s.name for s in ref_input_specs if s.name not in loaded]
        if missing:
            raise UsageError(f"--inputs {opts.inputs}: no data for input(s) {', '.join(missing)}")
        return [{s.name: loaded[s.name].astype(s.dtype, copy=False) for s in ref_input_specs}]
    return [input_data.generate(ref_input_specs, seed=opts.seed + i, value_ranges=value_ranges)
            for i in range(opts.samples)]


def run_reference(ref_runner: Runner, feeds: list[dict], opts: ValidateOptions) -> list[dict]:
    """The reference's outputs; failing on the inputs is the inputs' fault (exit 2), said with the remedy."""
    try:
        return [ref_runner.run(f) for f in feeds]
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        given = "the given inputs" if opts.inputs else "the generated inputs"
        raise UsageError(f"the reference fails on {given} ({first[:200]}): give inputs in its domain with "
                         "--value-range NAME:LO,HI or (validate) --inputs FILE.npz") from None


@dataclasses.dataclass
class OpenSample:
    """One candidate and the first sample as validate() sees them, with both runners still open."""

    ref_runner: Runner
    runner: Runner
    io_map: IOMap
    feed: dict  # the reference's terms
    candidate_feed: dict  # mapped through the I/O map
    ref_out: dict
    got: dict
    precision: str
    result: CandidateResult  # the outputs judged as validate judges them
    candidate_manifest: dict | None
    notes: list[str]


def open_sample(reference: str, candidate: str, opts: ValidateOptions) -> OpenSample:
    """validate() for one candidate and its first sample, keeping what `modelport locate` starts
    from: the runners, the I/O map (settled by running where the layout is ambiguous), the inputs
    in both models' terms and both models' outputs. The caller closes the runners."""
    notes: list[str] = []
    opts = _reference_defaults(reference, [candidate], opts, notes)
    tol_overrides = parse_tolerance_overrides(opts.atol, opts.rtol)
    value_ranges = dict(input_data.parse_value_range(t) for t in opts.value_ranges)
    _order_imports([reference, candidate])
    ref_runner, _ = _open(reference, opts, is_reference=True)
    ref_manifest, ref_sha = _reference_identity(reference)
    runner, fmt = _open(candidate, opts, is_reference=False)
    cand_manifest = manifest.load(candidate)
    specs, ref_specs = runner.input_specs(), ref_runner.input_specs()
    if not ref_specs:
        raise UsageError(f"{reference}: the reference has no inputs that modelport can see")
    io_map = _manifest_map(candidate, reference, ref_manifest, ref_sha, cand_manifest, opts)
    if io_map is None:
        io_map = IOMap(matching.by_signature(ref_specs, specs), [])
    ref_input_specs = _resolve_reference_inputs(ref_specs, [(candidate, runner, io_map, specs)], opts)
    feed = reference_feeds(ref_input_specs, dataclasses.replace(opts, samples=1), value_ranges)[0]
    ref_out = run_reference(ref_runner, [feed], opts)[0]
    precision = _precision(candidate, cand_manifest, opts)
    candidate_feed = _map_feed(feed, io_map, specs)
    try:
        got = runner.run(candidate_feed)
    except Exception as e:  # UsageError included: one line saying which model and why
        raise UsageError(f"{candidate} does not run on the source's inputs ({type(e).__name__}: {first_line(e, 200)}): "
                         "locate needs both models to run") from None
    if not io_map.outputs:
        io_map = IOMap(io_map.inputs, _outputs_by_signature(ref_out, got))
    result = CandidateResult(candidate, fmt, runner.runtime, runner.device_used, precision, False)
    result.outputs = sorted(_compare(ref_out, got, io_map, precision, tol_overrides), key=lambda r: -r.severity)
    result.passed = all(r.passed for r in result.outputs)
    if not result.passed and is_ambiguous(io_map):
        _settle_layout(result, io_map, runner, specs, [feed], [ref_out], precision, tol_overrides)
        if result.settled_io_map:
            io_map = IOMap.from_dict(result.settled_io_map)
            candidate_feed = _map_feed(feed, io_map, specs)
            got = runner.run(candidate_feed)
    return OpenSample(ref_runner, runner, io_map, feed, candidate_feed, ref_out, got, precision, result, cand_manifest,
                      notes)


class _SampleMaker:
    """Makes the inputs and reference outputs of a sample at other sizes (seeded like sample 0)."""

    def __init__(self, ref_runner, ref_input_specs, seed: int, value_ranges: dict):
        self.ref_runner, self.specs, self.seed, self.value_ranges = ref_runner, ref_input_specs, seed, value_ranges
        self.can_run = ref_runner is not None

    def key(self, group, size):
        specs = dynamic_sizes.resized(self.specs, group, size)
        return dynamic_sizes.shapes_key({s.name: s.shape for s in specs}), specs

    def __call__(self, specs):
        feed = input_data.generate(specs, seed=self.seed, value_ranges=self.value_ranges)
        try:
            return feed, self.ref_runner.run(feed), ""
        except Exception as e:
            return feed, None, f"the reference fails at this size ({first_line(e, 160)})"


def _reference_defaults(reference: str | None, candidates: list[str], opts: ValidateOptions,
                        notes: list[str]) -> ValidateOptions:
    """A Hugging Face folder as the reference: its own input shapes and id ranges where the options
    name none (modelport/hf_folders.py), as convert uses them; built for the task the candidates
    were converted for (their manifests' --task) when --task is not given."""
    from modelport.hf_folders import default_input_shapes, default_value_ranges, describe, is_hf_folder

    if not (reference and os.path.isdir(reference) and is_hf_folder(reference)):
        if opts.task:
            raise UsageError("--task applies to a Hugging Face model folder as the reference only")
        return opts
    if opts.task is None:
        tasks = {((manifest.load(c) or {}).get("options") or {}).get("task") for c in candidates} - {None}
        if len(tasks) == 1:
            opts = dataclasses.replace(opts, task=tasks.pop())
            notes.append(f"reference built for {opts.task}, the task the candidates were converted for (--task)")
    folder = describe(reference, opts.task)
    return dataclasses.replace(opts, input_shapes=default_input_shapes(folder, tuple(opts.input_shapes)),
                               value_ranges=default_value_ranges(folder, tuple(opts.value_ranges)))


def validate(reference: str | None, candidates: list[str], opts: ValidateOptions) -> ValidationReport:
    if not candidates:
        raise UsageError("nothing to validate: give at least one candidate model")
    if opts.samples < 1:
        raise UsageError("--samples must be at least 1")
    if reference is None and not opts.load_outputs:
        raise UsageError("give a REFERENCE model, or --load-outputs FILE.npz with golden outputs")
    notes: list[str] = []
    opts = _reference_defaults(reference, candidates, opts, notes)
    tol_overrides = parse_tolerance_overrides(opts.atol, opts.rtol)
    value_ranges = dict(input_data.parse_value_range(t) for t in opts.value_ranges)

    _order_imports([p for p in (reference, *candidates) if p])
    ref_runner, ref_format, ref_manifest, ref_sha = None, "golden outputs", None, None
    if reference is not None:
        ref_runner, ref_format = _open(reference, opts, is_reference=True)
        ref_manifest, ref_sha = _reference_identity(reference)
        if ref_runner.device_note:
            notes.append(f"reference {ref_runner.device_note}")

    opened = []  # (path, runner|None, io_map, input specs, format, manifest, error)
    for path in candidates:
        runner, fmt = _open(path, opts, is_reference=False)
        if runner.device_note and runner.device_note not in notes:
            notes.append(runner.device_note)
        cand_manifest = manifest.load(path)
        io_map = _manifest_map(path, reference, ref_manifest, ref_sha, cand_manifest, opts)
        opened.append((path, runner, io_map, runner.input_specs(), fmt, cand_manifest))

    sized: dict = {}  # samples at other sizes of the dynamic dims, by their shapes
    ref_raw = None  # the reference's own input specs, with its symbolic dims
    if opts.load_outputs:
        feeds, ref_outs = load_golden(opts.load_outputs)
        if not any(feeds):
            raise UsageError(f"--load-outputs {opts.load_outputs}: it holds no inputs to replay")
        ref_input_specs = [TensorSpec(k, list(v.shape), v.dtype.name) for k, v in feeds[0].items()]
        for feed, out in load_sized(opts.load_outputs):
            sized[dynamic_sizes.shapes_key({k: v.shape for k, v in feed.items()})] = (feed, out, "")
        names = load_dim_names(opts.load_outputs)
        ref_raw = [TensorSpec(s.name, [n or d for n, d in zip(names.get(s.name, []), s.shape)] or s.shape, s.dtype)
                   for s in ref_input_specs]
    else:
        ref_specs = ref_runner.input_specs()
        if not ref_specs:
            raise UsageError(f"{reference}: the reference has no inputs that modelport can see")
        ref_raw = _with_dim_names(ref_specs, opts, [m for *_, m in opened])
        hints = [(p, r, m if m is not None else IOMap(matching.by_signature(ref_specs, specs), []), specs)
                 for p, r, m, specs, _, _ in opened]
        ref_input_specs = _resolve_reference_inputs(ref_specs, hints, opts)
        feeds = reference_feeds(ref_input_specs, opts, value_ranges)
        ref_outs = run_reference(ref_runner, feeds, opts)

    wanted = dynamic_sizes.parse_shapes(opts.shapes)
    base_specs = [TensorSpec(s.name, list(np.shape(feeds[0][s.name])), s.dtype) if s.name in feeds[0] else s
                  for s in ref_input_specs]  # the sizes the first sample has (generated, given or replayed)
    maps = [m if m is not None else IOMap(matching.by_signature(ref_input_specs, specs), [])
            for _, _, m, specs, _, _ in opened]
    groups = [dynamic_sizes.claimed_groups(ref_raw, base_specs, o[3], m) for o, m in zip(opened, maps)]
    unknown = dynamic_sizes.unknown_names(wanted, [g for gs in groups for g in gs])
    if unknown:
        found = sorted({g.label for gs in groups for g in gs})
        raise UsageError(f"--shapes {', '.join(unknown)}: no candidate has a dynamic dim of that name "
                         f"(dynamic: {', '.join(found) if found else 'none, every candidate is static'})")
    make_sample = _SampleMaker(ref_runner, base_specs, opts.seed, value_ranges)

    results = []
    for (path, runner, _, specs, fmt, cand_manifest), io_map, cand_groups in zip(opened, maps, groups):
        precision = _precision(path, cand_manifest, opts)
        result = CandidateResult(path, fmt, runner.runtime, runner.device_used, precision, False,
                                 load_seconds=runner.load_seconds)
        result.input_mapping = [{"reference": m.source, "candidate": m.artifact, "perm": m.perm, "rule": m.rule}
                                for m in io_map.inputs]
        per_output: dict[str, list[OutputResult]] = {}
        try:
            import time

            t0 = time.perf_counter()
            for feed, ref_out in zip(feeds, ref_outs):
                got = runner.run(_map_feed(feed, io_map, specs))
                if not io_map.outputs:  # no manifest: match the outputs once, from the first run's arrays
                    io_map = IOMap(io_map.inputs, _outputs_by_signature(ref_out, got))
                sample_results = _compare(ref_out, got, io_map, precision, tol_overrides)
                for r in sample_results:
                    per_output.setdefault(r.output, []).append(r)
            result.run_seconds = (time.perf_counter() - t0) / len(feeds)
        except UsageError as e:
            result.error = e.message
        except Exception as e:  # a runtime failing on this input is a verdict on the candidate, not a crash
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            result.error = f"{type(e).__name__} while running: {first[:300]}"
        result.outputs = sorted((merge_samples(rs) for rs in per_output.values()), key=lambda r: -r.severity)
        result.passed = result.error is None and bool(result.outputs) and all(r.passed for r in result.outputs)
        if not result.passed and result.error is None and is_ambiguous(io_map):
            _settle_layout(result, io_map, runner, specs, feeds, ref_outs, precision, tol_overrides)
        used = IOMap.from_dict(result.settled_io_map) if result.settled_io_map else io_map  # as running settled it
        if not result.passed and result.error is None and result.outputs and ref_runner is not None:
            _against_float64(result, ref_runner, runner, used, specs, feeds, ref_outs, precision, tol_overrides)
        if result.error is None and cand_groups:
            _prove_sizes(result, runner, specs, used, cand_groups, wanted, sized, make_sample, precision, tol_overrides)
        if result.error is None and result.outputs and fmt == Format.TFJS.value:
            def prove(other, used=used, groups=cand_groups, precision=precision) -> list[dict]:
                probe = CandidateResult(path, fmt, other.runtime, other.device_used, precision, True)
                if groups:
                    _prove_sizes(probe, other, specs, used, groups, wanted, sized, make_sample, precision, tol_overrides)
                return probe.sizes

            _other_backends(result, path, opts, specs, used, feeds, ref_outs, precision, tol_overrides, prove)
        results.append(result)
        runner.close()

    if opts.save_outputs and not opts.load_outputs:
        save_golden(opts.save_outputs, feeds, ref_outs, [(f, o) for f, o, _ in sized.values() if o is not None],
                    dynamic_sizes.names_by_axis(base_specs, [g for gs in groups for g in gs]))

    return ValidationReport(
        reference=reference or opts.load_outputs or "", reference_format=ref_format, candidates=results,
        seed=opts.seed, samples=len(feeds), device=opts.device, versions=_versions(), notes=notes,
    )


def _versions() -> dict[str, str]:
    """Versions of the runtimes this run used, read from the imported modules: asking
    importlib.metadata costs ~17 ms, a third of a small model's whole validation."""
    import sys

    out = {}
    for dist, module in VERSIONED:
        mod = sys.modules.get(module)
        if mod is not None and getattr(mod, "__version__", None):
            out[dist] = str(mod.__version__)
    return out
