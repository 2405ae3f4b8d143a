"""`modelport package MODEL... --for torchserve`: a TorchServe model archive (.mar) per model.

Each archive holds the model file as it is (TorchScript or ExportedProgram), modelport's handler
(modelport/serving/mar_handler.py: JSON tensors in and out, by name), the I/O map it reads
(`modelport_io.json`: inputs in call order with the validation inputs' shapes and dtypes, outputs
in return order) and the provenance manifest (`modelport.json`). The archives are built by
torch-model-archiver in a scratch folder and moved into the model store (OUT) only when all are
whole (and, with --serve-check, answered); a manifest is written beside each one.

The I/O map comes from running the model once on the validation inputs in the project's confined
validator (modelport/serving/reference.py), which also refuses a model that touches files
(modelport/io_ops.py) before anything is packaged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field

from modelport import manifest
from modelport.errors import ConversionError, ParityError, UsageError
from modelport.placement import make_scratch
from modelport.serving import tools
from modelport.serving.common import PackageOptions, check_port, describe, detect_for, identity_io_map, model_names
from modelport.serving.reference import Golden, validation_data
from modelport.types import Format

FLAVORS = ("torchscript", "exported_program")
TAKES = ("--for torchserve takes a TorchScript (.pt) or ExportedProgram (.pt2) file")
IO_FILE = "modelport_io.json"
MANIFEST_FILE = "modelport.json"


@dataclass
class Archive:
    model: str
    name: str
    flavor: str
    path: str  # where it is once placed
    golden: Golden | None = None
    seconds: float = 0.0  # torch-model-archiver's time


@dataclass
class TorchServePackage:
    store: str
    archives: list[Archive]
    report: object = None  # ValidationReport of the serve-check, when run
    serve: dict = field(default_factory=dict)  # port, ready_seconds, requests_seconds, total_seconds
    seconds: float = 0.0


def check_source(model: str) -> str:
    """The PyTorch flavor of MODEL, or UsageError saying what --for torchserve takes."""
    d = detect_for(model, TAKES)
    if d.format == Format.PYTORCH and d.flavor in FLAVORS:
        return d.flavor
    raise UsageError(f"{model}: {describe(d)}; {TAKES} (`modelport convert {model} --to pytorch -o model.pt2` makes one)")


def package(models: list[str], opts: PackageOptions) -> TorchServePackage:
    t0 = time.perf_counter()
    names = model_names(models, opts.name)
    store = opts.output or "model-store"
    if os.path.exists(store) and not os.path.isdir(store):
        raise UsageError(f"-o {store}: exists and is not a folder (the model store the .mar files go into)")
    archives = [Archive(m, n, check_source(m), os.path.join(store, n + ".mar")) for m, n in zip(models, names)]
    for a in archives:
        for p in (a.path, manifest.manifest_path(a.path)):
            if os.path.lexists(p) and not opts.force:
                raise UsageError(f"{p} already exists; pass --force to overwrite it")
            if os.path.isdir(p):
                raise UsageError(f"{p} is a folder; refusing to replace it with an archive")
    archiver = tools.archiver()
    if opts.serve_check:
        tools.torchserve()
        tools.require_java()
        check_port(opts.port)
    elif opts.port is not None:
        raise UsageError("--port applies to --serve-check only")

    scratch = make_scratch(store)
    try:
        built = os.path.join(scratch, "store")
        os.makedirs(built)
        for a in archives:
            work = os.path.join(scratch, a.name)
            os.makedirs(work)
            a.golden = validation_data(a.model, a.model, opts.inputs, work)
            a.seconds = _archive(a, opts, archiver, work, built)
        result = TorchServePackage(store, archives)
        if opts.serve_check:
            from modelport.serving.serve_check import serve_check

            result.report, result.serve = serve_check(archives, built, opts, scratch)
        _place(archives, built, store, result, opts)
        result.seconds = time.perf_counter() - t0
        if result.report is not None and not result.report.passed:
            failed = [c.path for c in result.report.candidates if not c.passed]
            raise ParityError(f"TorchServe's answers differ from the source for {', '.join(failed)} "
                              "(the archives were written, their manifests marked failed)", result=result)
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _archive(a: Archive, opts: PackageOptions, archiver: str, work: str, built: str) -> float:
    """torch-model-archiver on the model, the handler, the I/O map and the manifest."""
    src = os.path.abspath(a.model)
    model_file = "model.pt2" if a.flavor == "exported_program" else "model.pt"
    staged = os.path.join(work, model_file)
    shutil.copyfile(src, staged)  # the archive names it model.pt / model.pt2, whatever the user called it
    handler = os.path.join(work, "mar_handler.py")
    shutil.copyfile(os.path.join(os.path.dirname(__file__), "mar_handler.py"), handler)
    io = {"flavor": a.flavor, "model_file": model_file, "inputs": a.golden.input_specs,
          "outputs": a.golden.output_names, "body": "modelport/serving/mar_handler.py"}
    io_path = os.path.join(work, IO_FILE)
    with open(io_path, "w") as f:
        json.dump(io, f, indent=1)
    man_path = os.path.join(work, MANIFEST_FILE)
    with open(man_path, "w") as f:
        json.dump(_manifest(a, opts, None), f, indent=1)
    argv = [archiver, "--model-name", a.name, "--version", opts.version, "--serialized-file", staged,
            "--handler", handler, "--extra-files", f"{io_path},{man_path}", "--export-path", built]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=work, stdin=subprocess.DEVNULL, timeout=600)
    seconds = time.perf_counter() - t0
    mar = os.path.join(built, a.name + ".mar")
    if proc.returncode != 0 or not os.path.isfile(mar):
        log = (proc.stdout + proc.stderr).strip()
        last = (log.splitlines() or ["no output"])[-1]
        raise ConversionError(f"torch-model-archiver failed for {a.model}: {last[:200]}", detail=log[-4000:])
    return seconds


def _manifest(a: Archive, opts: PackageOptions, validation: dict | None) -> dict:
    src = os.path.abspath(a.model)
    m = manifest.build(
        source={"path": src, "sha256": manifest.sha256_of(src), "format": "pytorch", "flavor": a.flavor},
        artifact={"path": os.path.abspath(a.path), "format": "torchserve-mar", "model_name": a.name,
                  "version": opts.version, "handler": "modelport/serving/mar_handler.py", "io_file": IO_FILE},
        route="pytorch->torchserve",
        steps=[{"edge": "pytorch->torchserve", "converter": "torch-model-archiver",
                "version": tools.package_version("torch-model-archiver"), "seconds": round(a.seconds, 3)}],
        options={"inputs": a.golden.input_specs, "seed": opts.inputs.seed},
        io_map=identity_io_map(a.golden))
    m["validation"] = validation
    return m


def _place(archives: list[Archive], built: str, store: str, result: TorchServePackage, opts: PackageOptions) -> None:
    """Every archive whole, then moved: a new store folder in one rename, or each file into an
    existing one (a rename each, on the same file system), its manifest after it."""
    verdicts = {}
    if result.report is not None:
        for c in result.report.candidates:
            verdicts[c.path] = {"serve_check": "passed" if c.passed else "failed", "passed": c.passed,
                                "torchserve": result.serve.get("torchserve"),
                                "outputs": [o.to_dict() for o in c.outputs]}
    for a in archives:
        with open(os.path.join(built, a.name + ".mar.modelport.json"), "w") as f:
            json.dump(_manifest(a, opts, verdicts.get(a.name + ".mar")), f, indent=1)
    if not os.path.exists(store):
        os.replace(built, store)
        return
    for a in archives:
        os.replace(os.path.join(built, a.name + ".mar"), a.path)
        os.replace(os.path.join(built, a.name + ".mar.modelport.json"), manifest.manifest_path(a.path))
