"""`modelport locate --bisect` (and locate's fallback when no tensor pairs): re-convert prefixes of
an ONNX source along the artifact's route, and bisect for the first node whose conversion breaks
parity, as Polygraphy's `debug reduce` does.

The pipeline layer runs it because each probe is a conversion (pipeline.convert.convert, with the
manifest's route, strategies and options, validated as `convert` validates, by the artifact's
tolerance preset); what needs no converter (the cuts, the prefix models, the search, the repro) is
in validators/locate/bisect.py, and the source runs in locate's confined worker.
"""

from __future__ import annotations

import os
import time

from modelport import manifest
from modelport.errors import ModelportError, ParityError, UnavailableError, UsageError, first_line
from modelport.formats import detect
from modelport.types import Format
from modelport.validators.locate.options import LocateOptions
from modelport.validators.locate.results import DIVERGES, INHERITS, OK, LocateReport, TensorResult
from modelport.validators.validate_options import ValidateOptions


def why_not_bisectable(source: str, artifact: str) -> str:
    """Why SOURCE and ARTIFACT cannot be bisected ("" when they can): a manifest that records the
    route, and an ONNX source or a route whose first step writes ONNX and is followed by more
    (that step is re-run, then its ONNX bisected: _first_step_to_onnx)."""
    from modelport.validators.locate.correspondence import bisectable

    record = manifest.load(artifact)
    if not record or not record.get("route") or not record.get("steps"):
        return (f"--bisect re-runs the conversion recorded in {manifest.manifest_path(artifact)}, and {artifact} has "
                "no such manifest: the route is not known")
    if not bisectable(record, detect(source, thorough=False).format.value):
        return (f"--bisect re-converts pieces of an ONNX model: {source} is not ONNX and the route "
                f"{record['route']} does not start by writing one; give the ONNX file the route went through "
                "(convert --keep-intermediates keeps it) with an artifact converted from it")
    return ""


def _first_step_to_onnx(source: str, record: dict, opts: LocateOptions, scratch: str):
    """A source that is not ONNX, on a route whose first step writes ONNX (pytorch -> onnx ->
    tflite): that step re-run as recorded (its strategy forced, the same inputs and opset) and
    validated against the source as `convert` validates. Returns (the ONNX, the record of the
    rest of the route, the probe) when it passes, so the rest is bisected from the ONNX; (the
    ONNX, None, the probe) when the step itself fails parity, where the divergence is already
    (its tensors pair by name: locate SOURCE ONNX)."""
    from modelport.converters.strategies import edge_name
    from modelport.pipeline.convert import convert
    from modelport.pipeline.options import ConvertOptions

    steps = record["steps"]
    edge = str(steps[0]["edge"])
    _, fields = convert_options(record, set())
    strategies = tuple(f for f in fields["strategies"] if f.startswith(edge_name(edge) + "="))
    out = os.path.join(scratch, "first_step", "model.onnx")
    os.makedirs(os.path.dirname(out))
    options = ConvertOptions(route=edge, opset=fields["opset"], input_shapes=fields["input_shapes"],
                             input_dtypes=fields["input_dtypes"], weights=opts.weights, strategies=strategies,
                             fallback=False, force=True)
    validation = ValidateOptions(seed=opts.seed, inputs=opts.inputs, value_ranges=opts.value_ranges)
    t = time.perf_counter()
    probe = {"k": -1, "node": f"(the first step, {edge.replace('->', ' -> ')})", "op": "", "outputs": []}
    try:
        convert(source, Format.ONNX.value, out, options, validation=validation)
        probe.update(verdict="pass", reason="ok")
    except ParityError as e:
        probe.update(verdict="fail", reason=first_line(e, 200))
    except UnavailableError:
        raise
    except ModelportError as e:
        raise UsageError(f"--bisect re-runs the route's first step ({edge}) to get its ONNX, and it failed: "
                         f"{first_line(e, 200)}") from None
    probe["seconds"] = round(time.perf_counter() - t, 2)
    if probe["verdict"] == "fail":
        return out, None, probe
    formats = [f.strip() for f in record["route"].split("->")]
    rest = dict(record, route=" -> ".join(formats[1:]), steps=steps[1:])
    return out, rest, probe


def convert_options(record: dict, prefix_nodes: set[str]) -> tuple[str, dict]:
    """The manifest's route and ConvertOptions fields: the same route, each edge's strategy forced,
    no fallback, the same quantization (calibration data, the excluded nodes the prefix has)."""
    from modelport.converters.strategies import STRATEGIES, edge_name

    opts = record.get("options") or {}
    forced = []
    for step in record.get("steps", []):
        edge, strategy = edge_name(step.get("edge", "")), step.get("strategy")
        if edge in STRATEGIES and strategy in {s.name for s in STRATEGIES[edge]}:
            forced.append(f"{edge}={strategy}")
    shapes, dtypes = [], []
    for i in opts.get("inputs") or []:
        if i.get("shape"):
            example = i.get("example") or [None] * len(i["shape"])
            shapes.append(f"{i['name']}:" + ",".join(str(d) if isinstance(d, int) or e is None else f"{d}={e}"
                                                     for d, e in zip(i["shape"], example)))
        if i.get("dtype"):
            dtypes.append(f"{i['name']}:{i['dtype']}")
    calibration = opts.get("calibration_data")
    return record["route"], dict(
        route=record["route"], opset=opts.get("opset"), quantize=opts.get("quantize"),
        calibration_data=calibration if calibration and os.path.isfile(calibration) else None,
        quantize_exclude=tuple(n for n in opts.get("quantize_exclude") or [] if n in prefix_nodes),
        fp16_io=bool(opts.get("fp16_io")), int8_activations=opts.get("int8_activations"),
        input_shapes=tuple(shapes), input_dtypes=tuple(dtypes), strategies=tuple(forced), fallback=False, force=True)


def _in_worker(job: dict, scratch: str, reads: list[str]) -> dict:
    from modelport.workers import sandbox

    if sandbox.active():
        from modelport.workers.spawn import run_worker

        payload, _ = run_worker("modelport.validators.locate.worker", f"bisect {job['kind']}", "location",
                                {"bisect": job}, scratch, None, stem=f"bisect_{job['kind']}", reads=reads)
        return payload
    from modelport.validators.locate.bisect import bisect_job

    return bisect_job(job)


def bisect(source: str, artifact: str, opts: LocateOptions, scratch: str) -> LocateReport:
    """The first node of SOURCE (ONNX) whose prefix, converted along ARTIFACT's route, fails
    parity while the prefix to the node before passes. `opts.repro` (inside `scratch`) gets that
    node alone, in the backend-test layout."""
    import onnx

    from modelport.pipeline.attempts import candidate_reason
    from modelport.pipeline.convert import convert
    from modelport.pipeline.options import ConvertOptions
    from modelport.validators.locate import bisect as cut
    from modelport.validators.locate.correspondence import check_source
    from modelport.workers.sandbox import readable_paths
    from modelport.formats import absolute_reference

    t0 = time.perf_counter()
    why = why_not_bisectable(source, artifact)
    if why:
        raise UsageError(why)
    record = manifest.load(artifact)
    check_source(record, source, artifact)
    art_format = detect(artifact, thorough=False).format
    given, given_format = source, detect(source, thorough=False).format
    reference = absolute_reference(source)
    reads = readable_paths(reference) + readable_paths(os.path.abspath(artifact)) + \
        [p for p in (opts.inputs, opts.weights) if p]
    feed = os.path.join(scratch, "bisect_feed.npz")
    job = {"kind": "sample", "source": reference, "artifact": os.path.abspath(artifact),
           "options": opts.to_dict(), "feed": feed}
    sample = _in_worker(job, scratch, reads)  # the artifact against the source the user gave
    first_probe = None
    if given_format != Format.ONNX:
        if sample["passed"]:
            return _nothing_to_bisect(given, artifact, given_format.value, art_format.value, record, sample, opts, t0)
        onnx_source, rest, first_probe = _first_step_to_onnx(source, record, opts, scratch)
        if rest is None:
            return _first_step_fails(given, artifact, given_format.value, art_format.value, record, first_probe,
                                     sample, opts, t0)
        source, record = onnx_source, rest
    model = onnx.load(source, load_external_data=False)
    cuts = cut.cuts(model)
    route, fields = convert_options(record, {n.name for n in model.graph.node})
    report = LocateReport(source, artifact, "onnx", art_format.value, route, "bisect", opts.seed, sample["precision"],
                          "bisection: prefixes of the source re-converted along the route", sample["passed"],
                          notes=list(sample["notes"]), source_graph_size=len(model.graph.node))
    budget = cut.max_probes(len(cuts))
    report.bisection = {"nodes": len(cuts), "max_probes": budget, "strategies": list(fields["strategies"]),
                        "probes": [first_probe] if first_probe else [], "result": ""}
    if first_probe:
        report.notes.insert(0, f"the source is not ONNX: the route's first step was re-run ({first_probe['seconds']} s), "
                               "it passes, and the rest of the route was bisected from its ONNX")
    t_setup = time.perf_counter()
    if sample["passed"]:
        report.bisection["result"] = "the artifact's outputs pass on this input: nothing to bisect"
        report.seconds = {"open and run both (as validate)": round(t_setup - t0, 3), "bisection": 0.0}
        return report
    validation = ValidateOptions(seed=opts.seed, inputs=opts.inputs, value_ranges=opts.value_ranges, atol=opts.atol,
                                 rtol=opts.rtol, preset=opts.preset)
    target = art_format.value
    suffix = {Format.TFLITE: ".tflite", Format.ONNX: ".onnx", Format.SAVEDMODEL: "_savedmodel"}.get(art_format, "")
    rows: dict[int, TensorResult] = {}

    def probe(k: int) -> bool:
        """Prefix k (k == len(cuts): the whole source) converted along the route: True when it passes."""
        t = time.perf_counter()
        folder = os.path.join(scratch, f"probe_{k}")
        os.makedirs(folder)
        whole = k == len(cuts)
        if whole:
            path, name, op, outputs = os.path.abspath(source), "(the whole source)", "", [o.name for o in model.graph.output]
        else:
            c = cuts[k]
            path, name, op, outputs = os.path.join(folder, "prefix.onnx"), c.name, c.op, list(c.outputs)
            onnx.save(cut.prefix_model(model, c), path)
        entry = {"k": k, "node": name, "op": op, "outputs": outputs}
        row = TensorResult(outputs[0], outputs[0], cuts[k].index if not whole else len(model.graph.node), op, "",
                           candidate_node=name, how="bisection: its prefix converted along the route")
        try:
            result = convert(path, target, os.path.join(folder, "prefix" + suffix), ConvertOptions(**fields),
                             validation=validation)
            passed, reason, candidate = True, "ok", _final(result.validation, result.output)
        except ParityError as e:
            candidate = _final(e.result.validation, e.result.output) if e.result is not None else None
            passed, reason = False, candidate_reason(candidate) if candidate else first_line(e, 200)
        except UnavailableError:
            raise
        except ModelportError as e:
            passed, reason, candidate = False, f"the prefix does not convert ({first_line(e, 200)})", None
        out = next((o for o in (candidate or {}).get("outputs", []) if not o["passed"]), None) or \
            next(iter((candidate or {}).get("outputs", [])), None)
        if out is not None:
            row.max_abs, row.cosine, row.severity = out.get("max_abs"), out.get("cosine"), out.get("severity")
            row.candidate = out.get("candidate_output") or row.candidate
            row.shape, row.candidate_shape = out.get("shape_ref"), out.get("shape_got")
        row.passed, row.reason = passed, reason
        entry.update(max_abs=row.max_abs, cosine=row.cosine)
        entry.update(verdict="pass" if passed else "fail", reason=reason, seconds=round(time.perf_counter() - t, 2))
        report.bisection["probes"].append(entry)
        if not whole:
            rows[k] = row
        return passed

    if probe(len(cuts)):
        report.bisection["result"] = ("re-converting the whole source along the route passes parity on this input: the "
                                      "artifact's divergence is not reproduced by the conversion (was the artifact "
                                      "changed after it was written, or converted with other options?)")
    else:
        s = cut.search(len(cuts), probe, budget - 1)
        report.tensors = [rows[k] for k in sorted(rows)]
        if s.capped:
            report.bisection["result"] = (f"stopped after {budget} conversions: the first failing node is between "
                                          f"{cuts[s.lo + 1].name} and "
                                          f"{cuts[s.hi].name if s.hi < len(cuts) else 'the last node'}")
        elif s.hi == len(cuts):
            report.bisection["result"] = ("every node's prefix passes, the whole source does not: the divergence "
                                          "is in how the outputs are put together")
        else:
            found = cuts[s.hi]
            first = rows[s.hi]
            report.first, report.divergences = first.source, [first.source]
            before = f"the prefix to {cuts[s.lo].name} ({cuts[s.lo].op}) passes" if s.lo >= 0 else \
                "it is the first node"
            report.bisection["result"] = (f"node {found.name} ({found.op}) is the first whose prefix fails parity when "
                                          f"converted along the route; {before}")
            report.bisection["node"] = {"index": found.index, "name": found.name, "op": found.op,
                                        "outputs": list(found.outputs)}
            if opts.repro:
                payload = _in_worker({"kind": "repro", "source": os.path.abspath(source), "node_index": found.index,
                                      "feed": feed, "folder": opts.repro}, scratch, reads)
                report.repro = payload["repro"]
        for r in report.tensors:
            r.status = OK if r.passed else DIVERGES if r.source == report.first else INHERITS
    report.seconds = {"open and run both (as validate)": round(t_setup - t0, 3),
                      "bisection": round(time.perf_counter() - t_setup, 3)}
    report.source, report.source_format = given, given_format.value  # not the first step's ONNX in scratch
    return report


def _nothing_to_bisect(source: str, artifact: str, source_format: str, artifact_format: str, record: dict,
                       sample: dict, opts: LocateOptions, t0: float) -> LocateReport:
    """The artifact's outputs pass against a source that is not ONNX: no step is re-run."""
    report = LocateReport(source, artifact, source_format, artifact_format, record["route"], "bisect", opts.seed,
                          sample["precision"], "bisection: prefixes of the source re-converted along the route", True,
                          notes=list(sample["notes"]))
    report.bisection = {"nodes": 0, "max_probes": 0, "strategies": [], "probes": [],
                        "result": "the artifact's outputs pass on this input: nothing to bisect"}
    report.seconds = {"open and run both (as validate)": round(time.perf_counter() - t0, 3), "bisection": 0.0}
    return report


def _first_step_fails(source: str, artifact: str, source_format: str, artifact_format: str, record: dict, probe: dict,
                      sample: dict, opts: LocateOptions, t0: float) -> LocateReport:
    """The route's first step, re-run, already fails parity: the divergence is there, and there is
    nothing to cut (the ONNX's tensors pair with the source's by name: locate SOURCE ONNX says
    which). Reported as a one-probe bisection, the route's first step as the first divergence."""
    report = LocateReport(source, artifact, source_format, artifact_format, record["route"], "bisect", opts.seed,
                          sample["precision"], "bisection: the route's first step re-run", False,
                          notes=list(sample["notes"]))
    row = TensorResult(probe["node"], probe["node"], 0, "", "", candidate_node=probe["node"],
                       how="bisection: the route's first step re-run")
    row.passed, row.reason, row.status = False, probe["reason"], DIVERGES
    report.tensors, report.first, report.divergences = [row], row.source, [row.source]
    report.bisection = {"nodes": 0, "max_probes": 1, "strategies": [], "probes": [probe],
                        "result": f"the route's first step, {probe['node'][len('(the first step, '):-1]}, re-run as recorded, "
                                  f"already fails parity ({probe['reason']}): its ONNX's tensors pair with the source's: "
                                  f"convert SOURCE --to onnx and run modelport locate SOURCE on it",
                        "node": {"index": -1, "name": probe["node"], "op": "", "outputs": []}}
    report.seconds = {"bisection": round(time.perf_counter() - t0, 3)}
    return report


def _final(validation: dict | None, output: str) -> dict | None:
    """The validated candidate that is the written artifact, else the first failing one."""
    if not validation:
        return None
    candidates = validation.get("candidates", [])
    return next((c for c in candidates if not c["passed"]), None) or \
        next((c for c in candidates if c["path"] == output), None)
