"""`modelport locate SOURCE ARTIFACT`: run both on one input, pair their tensors, and name the
first tensor where the artifact diverges (this package's __init__ says what each piece does).

The input is validate's first sample (same seed, shapes, ranges, I/O map: validation.open_sample),
so the outputs `validate` failed on are the ones looked into. Pairs are compared in the source's
topological order, chunk by chunk (`chunk_bytes` of values per side at a time). A failing tensor
is a divergence when no failing tensor upstream of it explains it; the first of them, in the
source's order, is "the first divergence". In local mode each artifact layer is also run alone on
the source's values (local.py), and a divergence is a layer that fails there.
"""

from __future__ import annotations

import time

import numpy as np

from modelport import manifest
from modelport.errors import UsageError
from modelport.formats import detect
from modelport.types import Format
from modelport.validators.locate import correspondence
from modelport.validators.locate.capture import (Capture, FxCapture, KerasCapture, OnnxCapture, PyTorchArtifactCapture,
                                                 SavedModelCapture, TFLiteCapture, TorchCapture)
from modelport.validators.locate.compare import divergences, judge
from modelport.validators.locate.local import LayerError, run_onnx_layer, run_tflite_layer
from modelport.validators.locate.options import LocateOptions
from modelport.validators.locate.results import (DIVERGES, INHERITS, LAYER_FAILS, NOT_COMPARED, OK, LocateReport,
                                                 TensorResult)
from modelport.validators.tolerances import parse_tolerance_overrides
from modelport.validators.validate_options import ValidateOptions

ARTIFACT_FORMATS = {Format.ONNX: OnnxCapture, Format.TFLITE: TFLiteCapture, Format.SAVEDMODEL: SavedModelCapture,
                    Format.PYTORCH: PyTorchArtifactCapture}
SOURCE_FORMATS = (Format.ONNX, Format.PYTORCH, Format.SAVEDMODEL, Format.TFLITE, Format.KERAS)


def locate(source: str, artifact: str, opts: LocateOptions) -> LocateReport:
    opts.check()
    t0 = time.perf_counter()
    src, art = detect(source, thorough=False), detect(artifact, thorough=False)
    if art.format not in ARTIFACT_FORMATS:
        raise UsageError(f"{artifact}: locate reads ONNX, TFLite, SavedModel and PyTorch artifacts, not "
                         f"{art.format.value}")
    if src.format == Format.PYTORCH and src.flavor not in correspondence.SOURCE_FLAVORS:
        raise UsageError(f"{source}: locate follows a PyTorch source through torch.export, which cannot take a "
                         f"{src.flavor} file; give the file.py:callable or the .pt2 it came from")
    if src.format not in SOURCE_FORMATS:
        raise UsageError(f"{source}: locate reads ONNX, PyTorch, Keras, SavedModel and TFLite sources, not "
                         f"{src.format.value}")
    record = manifest.load(artifact)
    correspondence.check_source(record, source, artifact)
    maps, route = correspondence.step_maps(record, art.format.value, artifact)

    from modelport.validators.validation import open_sample

    vopts = ValidateOptions(seed=opts.seed, inputs=opts.inputs, input_shapes=opts.input_shapes,
                            input_dtypes=opts.input_dtypes, value_ranges=opts.value_ranges, atol=opts.atol,
                            rtol=opts.rtol, preset=opts.preset, weights=opts.weights)
    sample = open_sample(source, artifact, vopts)
    src_cap = cand_cap = None
    try:
        t_open = time.perf_counter()
        _release_runtimes(sample, keep_source=src.format in (Format.PYTORCH, Format.KERAS))
        src_cap = _source_capture(src.format, source, sample)
        cand_cap = ARTIFACT_FORMATS[art.format](artifact, sample.candidate_feed)
        setup = time.perf_counter() - t_open  # parsing both graphs, PyTorch's export, LiteRT's one run
        how = "by name" if record is None else f"along the route {route}"
        corr = correspondence.match(src_cap.graph, cand_cap.graph, maps, sample.io_map, how, list(sample.ref_out))
        if not [p for p in corr.pairs if not p.how.startswith("I/O map")]:
            raise UsageError(f"no tensor inside {artifact} corresponds to one inside {source} ({how}): is it "
                             "converted from this source?")
        report = LocateReport(source, artifact, src.format.value, art.format.value, route or "(by name)", opts.mode,
                              opts.seed, sample.precision, corr.how, sample.result.passed,
                              unmatched=len(corr.unmatched), fused=corr.fused, notes=list(sample.notes),
                              source_graph_size=len(src_cap.graph.tensors))
        overrides = parse_tolerance_overrides(opts.atol, opts.rtol)
        report.tensors = _accumulated(corr.pairs, src_cap, cand_cap, sample.precision, overrides, opts.chunk_bytes,
                                      src.format in (Format.SAVEDMODEL, Format.TFLITE, Format.KERAS))
        if opts.mode == "local":
            _local(report, corr.pairs, src_cap, cand_cap, sample.precision, overrides, opts.chunk_bytes)
        else:
            _confirmed_divergences(report, corr.pairs, src_cap, cand_cap, sample.precision, overrides, opts.chunk_bytes)
        report.first = report.divergences[0] if report.divergences else None
        if opts.repro and report.first is not None:
            report.repro = _repro(report, corr.pairs, src_cap, cand_cap, opts.repro)
        report.notes += _capture_notes(cand_cap, sample, art.format, sample.precision)
        drifting = any(t.passed is False for t in report.tensors)
        if report.first is None and not sample.result.passed and drifting:
            report.notes.append(
                "the outputs differ, but every tensor past tolerance is computed right by its own layer from the "
                "source's values: " + ("quantization error that each layer keeps within its rule, carried through a "
                                       "model whose outputs amplify it" if sample.precision.startswith("int8") else
                                       "float32 rounding carried through the model (validate judges such outputs "
                                       "again against the source in float64)"))
        elif report.first is None and not sample.result.passed:
            report.notes.append("the outputs differ but no compared tensor does: the divergence is in a tensor "
                                f"without a counterpart ({report.unmatched} of the source's tensors have none)")
        if report.first is not None and sample.result.passed:
            report.notes.append("the outputs pass on this input: the divergence does not reach them here")
        report.runs = {"source": src_cap.runs, "artifact": cand_cap.runs}
        capture = setup + src_cap.seconds + cand_cap.seconds
        report.seconds = {"open and run both (as validate)": round(t_open - t0, 3), "capture": round(capture, 3),
                          "compare and local": round(time.perf_counter() - t_open - capture, 3)}
        return report
    finally:
        for held in (sample.ref_runner, sample.runner, src_cap, cand_cap):
            if held is not None:
                held.close()


def _release_runtimes(sample, keep_source: bool) -> None:
    """The runners' sessions are done once both outputs are in hand: the captures load their own,
    and holding both would double the weights in memory (a PyTorch or Keras source's model is kept:
    its capture exports it)."""
    import gc

    sample.runner.close()
    sample.runner = None
    if not keep_source:
        sample.ref_runner.close()
        sample.ref_runner = None
    gc.collect()


def _source_capture(fmt: Format, source: str, sample) -> Capture:
    if fmt == Format.KERAS:  # run as the SavedModel the keras -> savedmodel step writes
        return KerasCapture(sample.ref_runner.model, sample.feed)
    if fmt != Format.PYTORCH:  # the captures read sources as they read artifacts
        return ARTIFACT_FORMATS[fmt](source, sample.feed)
    import torch

    runner = sample.ref_runner
    names = [s.name for s in runner.input_specs()]
    args = [torch.from_numpy(np.ascontiguousarray(sample.feed[n])) for n in names]
    return TorchCapture(runner.model, args, names, list(sample.ref_out))


def _chunks(pairs, src_cap: Capture, cand_cap: Capture, budget: int, extra=lambda p: ()):
    """Pairs in groups whose values (both sides, and `extra` source tensors each needs) fit `budget`;
    an artifact whose runtime holds every value (Capture.held) is read one tensor at a time."""
    chunk, used = [], 0
    fallback = budget // 64
    for p in pairs:
        size = src_cap.size(p.source, fallback) + (0 if cand_cap.held else cand_cap.size(p.candidate, fallback)) + \
            sum(src_cap.size(e, fallback) for e in extra(p))
        if chunk and used + size > budget:
            yield chunk
            chunk, used = [], 0
        chunk.append(p)
        used += size
    if chunk:
        yield chunk


def _accumulated(pairs, src_cap, cand_cap, precision, overrides, budget, source_channel_last: bool) -> list[TensorResult]:
    results = []
    pairs = sorted(pairs, key=lambda p: src_cap.graph.position[p.source])
    for chunk in _chunks(pairs, src_cap, cand_cap, budget):
        refs = src_cap.values([p.source for p in chunk])
        gots = {} if cand_cap.held else cand_cap.values([p.candidate for p in chunk])
        for p in chunk:
            if cand_cap.held:
                gots = cand_cap.values([p.candidate])
            s_info, c_info = src_cap.graph.by_name[p.source], cand_cap.graph.by_name[p.candidate]
            r = TensorResult(p.source, p.candidate, src_cap.graph.position[p.source], s_info.op, c_info.op,
                             s_info.module, c_info.producer, how=p.how)
            if p.source not in refs or p.candidate not in gots:
                r.passed, r.reason, r.layout = None, "no value captured", ""
                results.append(r)
                continue
            ref, got = refs[p.source], gots[p.candidate]
            r.shape, r.candidate_shape = list(np.shape(ref)), list(np.shape(got))
            out, r.perm, r.layout = judge(p.source, ref, got, precision=precision, overrides=overrides,
                                          candidate_name=p.candidate, perm=p.perm, known_layout=p.known_layout,
                                          channel_last=p.channel_last, scale=cand_cap.scale(p.candidate),
                                          source_channel_last=source_channel_last)
            if out is None:
                r.passed, r.reason = None, r.layout
            else:
                r.max_abs, r.cosine, r.severity, r.passed, r.reason = out.max_abs, out.cosine, out.severity, out.passed, out.reason
            results.append(r)
    return results


def _confirmed_divergences(report: LocateReport, pairs, src_cap, cand_cap, precision, overrides, budget) -> None:
    """The accumulated mode's divergences: the failing tensors no failing tensor upstream explains,
    each confirmed by its layer alone (_layers_alone). A tensor that fails while its layer computes
    it right from the source's own values is rounding carried from upstream tensors that each pass
    (MobileNet-v3 to ONNX: a hardsigmoid squeezes its input's 2.6e-3 drift, within tolerance at that
    input's scale, into 4.4e-4 at its own scale of 1); it is not the fault, and the search goes on
    downstream of it as if it had passed. A layer that cannot be cut out and run alone keeps its
    tensor a divergence."""
    failed = {t.source for t in report.tensors if t.passed is False}
    drift: set[str] = set()
    order = [t.source for t in report.tensors]
    while True:
        roots = divergences(order, failed - drift, src_cap.graph.failing_upstream)
        todo = [t for t in report.tensors if t.source in roots and t.local is None]
        if not todo:
            break
        _layers_alone(report, [p for p in pairs if p.source in {t.source for t in todo}], src_cap, cand_cap,
                      precision, overrides, budget)
        drift |= {t.source for t in todo if t.local and t.local["passed"] is True}
    report.divergences = roots
    for t in report.tensors:
        t.status = NOT_COMPARED if t.passed is None else OK if t.passed else \
            DIVERGES if t.source in roots else INHERITS
        if t.source in drift:
            t.reason += "; its layer alone computes it right: rounding carried from upstream"
    if drift:
        report.notes.append(f"{len(drift)} tensor(s) past tolerance whose layers compute them right from the source's "
                            "values: rounding carried from upstream, not a divergence (" + ", ".join(sorted(drift)[:5]) +
                            (", ..." if len(drift) > 5 else "") + ")")


def _local(report: LocateReport, pairs, src_cap, cand_cap, precision, overrides, budget) -> None:
    """--mode local: every compared artifact tensor recomputed by its layer alone from the source's
    values; a divergence is a layer that fails alone."""
    _layers_alone(report, pairs, src_cap, cand_cap, precision, overrides, budget)
    report.divergences = [t.source for t in report.tensors if t.local and t.local["passed"] is False]
    for t in report.tensors:
        t.status = NOT_COMPARED if t.passed is None else OK if t.passed else INHERITS
        if t.local is None:
            continue
        if t.local["passed"] is None:
            t.status = LAYER_FAILS
        elif t.local["passed"] is False:
            t.status = DIVERGES


def _layers_alone(report: LocateReport, pairs, src_cap, cand_cap, precision, overrides, budget) -> None:
    """The tensors of `pairs` recomputed by their artifact layers alone from the source's values:
    each TensorResult gets `local`."""
    by_candidate = {t.candidate: t for t in report.tensors if t.passed is not None}
    known = set(by_candidate)
    graph = cand_cap.graph
    wanted_pairs = {p.candidate for p in pairs}
    plans = {c: graph.frontier(c, known) for c in by_candidate if c in wanted_pairs}
    todo = [p for p in sorted(pairs, key=lambda p: src_cap.graph.position[p.source]) if p.candidate in plans]

    def needs(p):
        return [by_candidate[i].source for i in plans[p.candidate][0] if i in by_candidate]

    for chunk in _chunks(todo, src_cap, cand_cap, budget, extra=needs):
        wanted = list(dict.fromkeys(n for p in chunk for n in [p.source, *needs(p)]))
        refs = src_cap.values(wanted)
        for p in chunk:
            t = by_candidate[p.candidate]
            inputs, producers = plans[p.candidate]
            try:
                feed = {i: _in_artifact_layout(refs[by_candidate[i].source], by_candidate[i]) if i in by_candidate
                        else cand_cap.values([i])[i] for i in inputs}
                value = _run_layer(cand_cap, producers, inputs, p.candidate, feed)
            except (LayerError, KeyError) as e:
                t.local = {"passed": None, "reason": str(e) or "no value",
                           "layer": [f"{graph.by_name[n].op} ({graph.by_name[n].producer})" for n in producers]}
                continue
            ref = refs[p.source]
            if t.layout.startswith("reshaped"):
                value = value.reshape(ref.shape)
            out, _, _ = judge(p.source, ref, value, precision=precision, overrides=overrides,
                              candidate_name=p.candidate, perm=None if t.layout.startswith("reshaped") else t.perm,
                              known_layout=True, scale=cand_cap.scale(p.candidate))
            t.local = {"max_abs": out.max_abs, "cosine": out.cosine, "severity": out.severity, "passed": out.passed,
                       "reason": out.reason, "layer": [f"{graph.by_name[n].op} ({graph.by_name[n].producer})"
                                                       for n in producers]}


def _repro(report: LocateReport, pairs, src_cap, cand_cap, folder: str) -> str:
    """The first divergence's smallest failing sub-graph, in the ONNX backend-test layout
    (local.write_repro): from an ONNX source, the source's own nodes between the nearest compared
    tensors and it, with the source's values (convert it along the same route to reproduce a
    converter's bug); from a PyTorch source, an ONNX artifact's layer, fed the source's values and
    expected to give the source's output. Returns what was written, "" when neither is ONNX."""
    from modelport.validators.locate.local import onnx_layer, write_repro

    t = report.tensor(report.first)
    if isinstance(src_cap, OnnxCapture):
        inputs, producers = src_cap.graph.frontier(t.source, {p.source for p in pairs})
        values = src_cap.values([*inputs, t.source])
        feed = {i: values[i] for i in inputs}
        write_repro(folder, onnx_layer(src_cap.full_model(), producers, feed, t.source, f"locate repro {t.source}"),
                    feed, {t.source: values[t.source]})
        return (f"the source's {len(producers)} node(s) computing {t.source} from {', '.join(inputs)}, with the "
                "source's values: convert it along the same route to reproduce the divergence")
    if isinstance(cand_cap, OnnxCapture):
        by_candidate = {r.candidate: r for r in report.tensors if r.passed is not None}
        inputs, producers = cand_cap.graph.frontier(t.candidate, set(by_candidate))
        refs = src_cap.values([by_candidate[i].source for i in inputs if i in by_candidate] + [t.source])
        feed = {i: _in_artifact_layout(refs[by_candidate[i].source], by_candidate[i]) if i in by_candidate
                else cand_cap.values([i])[i] for i in inputs}
        expected = {t.candidate: _in_artifact_layout(refs[t.source], t)}
        write_repro(folder, onnx_layer(cand_cap.full_model(), producers, feed, t.candidate, f"locate repro {t.candidate}"),
                    feed, expected)
        return (f"the artifact's {len(producers)} node(s) computing {t.candidate}, fed the source's values and "
                "expected to give the source's: its test case fails in ONNX Runtime")
    return ""


def _in_artifact_layout(value: np.ndarray, t: TensorResult) -> np.ndarray:
    if t.layout.startswith("reshaped"):
        return value.reshape(t.candidate_shape)
    return np.ascontiguousarray(value.transpose(t.perm)) if t.perm is not None else value


def _run_layer(cand_cap, producers, inputs, output, feed) -> np.ndarray:
    graph = cand_cap.graph
    if isinstance(cand_cap, OnnxCapture):
        return run_onnx_layer(cand_cap.full_model(), producers, feed, output)
    if isinstance(cand_cap, SavedModelCapture):
        return cand_cap.run_layer(feed, output)
    if isinstance(cand_cap, FxCapture):
        return cand_cap.run_layer(feed, producers, output)
    ops = sorted({int(graph.by_name[n].producer.split()[1]) for n in producers})
    index = {n: graph.by_name[n].index for n in [*inputs, output]}
    quant = cand_cap.quantization()
    value = run_tflite_layer(cand_cap.model_t, ops, [index[i] for i in inputs], index[output],
                             {index[i]: v for i, v in feed.items()}, quant)
    from modelport.validators.locate.capture import dequantize

    return dequantize(value, quant.get(index[output]))


def _capture_notes(cand_cap, sample, fmt: Format, precision: str) -> list[str]:
    """Did capturing change the artifact's own outputs, by the rule tensors are judged by? (ORT:
    marked tensors can stop a fusion; LiteRT: the capture runs without the XNNPACK delegate the
    plain run uses, whose int8 kernels round otherwise.)"""
    notes = []
    for seen in cand_cap.outputs_seen:
        for name, value in seen.items():
            plain = sample.got.get(name)
            if plain is None or np.shape(plain) != np.shape(value) or np.asarray(plain).dtype.kind != "f":
                continue
            out, _, _ = judge(name, np.asarray(plain), np.asarray(value), precision=precision, overrides=None,
                              candidate_name=name, known_layout=True)
            if not out.passed:
                diff = out.max_abs
                if precision.startswith("int8"):  # fused int8 kernels round otherwise than the graph run op by op
                    why = ("when its tensors are captured (fused int8 kernels round otherwise than the quantized graph "
                           "run op by op): the tensors compared are the graph's")
                elif fmt == Format.TFLITE:
                    why = ("without the XNNPACK delegate (the capture's interpreter) than with it (validate's): the "
                           "delegate's kernels are where the artifact goes wrong, which per-tensor capture cannot see")
                else:
                    why = ("with its intermediate tensors marked as outputs: a fusion ONNX Runtime makes is where the "
                           "artifact goes wrong, which per-tensor capture cannot see")
                notes.append(f"the artifact's output {name} differs by {diff:.3g} {why}")
                return notes
    return notes
