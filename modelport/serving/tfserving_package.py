"""`modelport package SAVEDMODEL... --for tf-serving`: the folder TensorFlow Serving serves.

    OUT/
      models.config              ModelServerConfig (text format): one entry per model, base_path
                                 under --base-path (default /models, TF Serving's Docker image's)
      NAME/1/                    the SavedModel, copied (version 1)
      NAME/request.json          REST body for POST /v1/models/NAME:predict (signature
                                 serving_default, "inputs" by name: the validation inputs)
      NAME/predict_request.json  the gRPC tensorflow.serving.PredictRequest, protobuf JSON mapping
      NAME/predict_request.pbtxt the same in text format (when tensorflow-serving-api is installed)
      NAME/modelport.json        provenance manifest with the checks' results

No TF Serving server runs here (no binary is installable: none on PyPI or in Debian). The check is
what its loader does, done with TensorFlow in a confined worker (modelport/serving/tfserving_worker.py):
the copy is validated against the source by `modelport validate`'s machinery, then loaded with tags
{"serve"}, its serving_default signature's dtypes and dims checked against the request bodies, and
request.json's inputs run through it and compared with the source's answers.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field

from modelport import manifest
from modelport.errors import ParityError, UsageError
from modelport.placement import make_scratch
from modelport.serving.common import PackageOptions, describe, detect_for, identity_io_map, model_names
from modelport.serving.reference import Golden, judge, report_for, validation_data
from modelport.serving.requests import tfserving_grpc_json, tfserving_rest_body
from modelport.types import Format
from modelport.workers.spawn import run_worker

TAKES = "--for tf-serving takes a TensorFlow SavedModel directory"
VERSION = 1


@dataclass
class Served:
    model: str
    name: str
    golden: Golden | None = None
    signature: dict = field(default_factory=dict)
    grpc: str = ""


@dataclass
class TFServingPackage:
    folder: str
    models: list[Served]
    report: object = None
    seconds: float = 0.0


def check_source(model: str) -> None:
    d = detect_for(model, TAKES)
    if d.format != Format.SAVEDMODEL:
        raise UsageError(f"{model}: {describe(d)}; {TAKES} (`modelport convert {model} --to savedmodel -o "
                         "model_savedmodel` makes one)")
    for root, dirs, files in os.walk(model):
        for n in dirs + files:
            if os.path.islink(os.path.join(root, n)):
                raise UsageError(f"{model}: holds a symbolic link ({os.path.relpath(os.path.join(root, n), model)}); "
                                 "a package copies only the SavedModel's own files")


def _check_free(folder: str, force: bool) -> None:
    if not os.path.lexists(folder):
        return
    if not force:
        raise UsageError(f"{folder} already exists; pass --force to overwrite it")
    if not os.path.isdir(folder) or (os.listdir(folder) and not os.path.isfile(os.path.join(folder, "models.config"))):
        raise UsageError(f"{folder} exists and is not a tf-serving package (no models.config in it); refusing to "
                         "overwrite it")


def models_config(served: list[Served], base_path: str) -> str:
    entries = "".join(f'  config {{\n    name: "{s.name}"\n    base_path: "{base_path.rstrip("/")}/{s.name}"\n'
                      f'    model_platform: "tensorflow"\n  }}\n' for s in served)
    return "model_config_list {\n" + entries + "}\n"


def package(models: list[str], opts: PackageOptions) -> TFServingPackage:
    t0 = time.perf_counter()
    if opts.serve_check or opts.port is not None:
        raise UsageError("--serve-check and --port apply to --for torchserve (no TF Serving server runs here; "
                         "--for tf-serving is always checked by loading the SavedModel as TF Serving does)")
    names = model_names(models, opts.name)
    for m in models:
        check_source(m)
    folder = (opts.output or "tf-serving").rstrip("/")
    _check_free(folder, opts.force)
    if not opts.base_path.startswith("/"):
        raise UsageError(f"--base-path {opts.base_path}: TF Serving needs an absolute path")
    served = [Served(m, n) for m, n in zip(models, names)]
    scratch = make_scratch(folder)
    try:
        out = os.path.join(scratch, "out")
        for s in served:
            _build(s, out, scratch, opts)
        with open(os.path.join(out, "models.config"), "w") as f:
            f.write(models_config(served, opts.base_path))
        candidates = []
        for s in served:
            candidates += list(s.golden.report.candidates)
            candidates.append(s.check)
        report = report_for(", ".join(models), "savedmodel", served[0].golden, candidates, opts.inputs,
                            [f"{s.name}: signature {_sig_text(s.signature)}; gRPC request {s.grpc}" for s in served] +
                            ["no TF Serving server runs here: the package was loaded and run as TF Serving loads it "
                             "(tags serve, signature serving_default), with TensorFlow"],
                            {})
        for s in served:
            with open(os.path.join(out, s.name, "modelport.json"), "w") as f:
                json.dump(_manifest(s, folder, opts, report), f, indent=1)
        if os.path.lexists(folder):
            os.replace(folder, os.path.join(scratch, ".replaced"))
        os.replace(out, folder)
        result = TFServingPackage(folder, served, report, time.perf_counter() - t0)
        if not report.passed:
            failed = [c.path for c in report.candidates if not c.passed]
            raise ParityError(f"the package's answers differ from the source for {', '.join(failed)} "
                              "(the package was written, its manifests marked failed)", result=result)
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _build(s: Served, out: str, scratch: str, opts: PackageOptions) -> None:
    model_dir = os.path.join(out, s.name)
    version_dir = os.path.join(model_dir, str(VERSION))
    shutil.copytree(s.model, version_dir, symlinks=True)
    work = os.path.join(scratch, "work-" + s.name)
    os.makedirs(work)
    # The copy against its source, by the validator (confined; refuses I/O ops as `validate` does).
    s.golden = validation_data(s.model, os.path.abspath(version_dir), opts.inputs, work)
    for c in s.golden.report.candidates:
        c.path = f"{s.name}/{VERSION} (copy)"
    feed = s.golden.feeds[0]
    rest, grpc = os.path.join(model_dir, "request.json"), os.path.join(model_dir, "predict_request.json")
    with open(rest, "w") as f:
        json.dump(tfserving_rest_body(feed), f)
    with open(grpc, "w") as f:
        json.dump(tfserving_grpc_json(s.name, feed, version=VERSION), f)
    job = {"savedmodel": os.path.abspath(version_dir), "rest": os.path.join(work, "request.json"),
           "grpc": os.path.join(work, "predict_request.json"), "grpc_text": os.path.join(work, "predict_request.pbtxt"),
           "name": s.name, "label": f"{s.model} ({s.name}/{VERSION})"}
    shutil.copyfile(rest, job["rest"])
    shutil.copyfile(grpc, job["grpc"])
    payload, _ = run_worker("modelport.serving.tfserving_worker", "tf-serving check", "TF Serving check", job, work,
                            None, reads=[os.path.abspath(version_dir)])
    if os.path.exists(job["grpc_text"]):
        shutil.copyfile(job["grpc_text"], os.path.join(model_dir, "predict_request.pbtxt"))
    s.signature, s.grpc = payload["signature"], payload["grpc"]
    import numpy as np

    data = np.load(payload["answers"], allow_pickle=False)
    s.check = judge(Golden([feed], [s.golden.outputs[0]]), [{k: data[k] for k in data.files}],
                    label=f"{s.name}/{VERSION} via request.json", fmt="tf-serving",
                    runtime=f"tensorflow {payload['tensorflow']} (serve, serving_default)", options=opts.inputs)


def _sig_text(sig: dict) -> str:
    part = lambda d: ", ".join(f"{k}: {v['dtype']}{v['shape']}" for k, v in d.items())  # noqa: E731
    return f"serving_default({part(sig.get('inputs', {}))}) -> {part(sig.get('outputs', {}))}"


def _manifest(s: Served, folder: str, opts: PackageOptions, report) -> dict:
    src = os.path.abspath(s.model)
    mine = [c for c in report.candidates if c.path.startswith(f"{s.name}/")]
    m = manifest.build(
        source={"path": src, "sha256": manifest.sha256_of(src), "format": "savedmodel"},
        artifact={"path": os.path.abspath(os.path.join(folder, s.name)), "format": "tf-serving", "model_name": s.name,
                  "version": VERSION, "signature": "serving_default", "base_path": f"{opts.base_path.rstrip('/')}/{s.name}"},
        route="savedmodel->tf-serving",
        steps=[{"edge": "savedmodel->tf-serving", "converter": "modelport (copy)", "version": None}],
        options={"inputs": s.golden.input_specs, "seed": opts.inputs.seed, "signature": s.signature},
        io_map=identity_io_map(s.golden))
    m["validation"] = {"passed": all(c.passed for c in mine), "grpc_request": s.grpc,
                       "candidates": [c.to_dict() for c in mine]}
    return m
