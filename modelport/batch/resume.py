"""Resume for `modelport batch`: skip a job whose last run was valid and whose inputs and artifacts are unchanged.

A job is skipped when its fingerprint (the resolved manifest entry, the sha256 of its source,
weights and calibration data, and the versions of modelport and the converter and runtime
libraries) equals the one recorded by its last run, that run was valid, and every artifact is
intact: its sha256 equals the one in its provenance manifest and in the record. A job that failed
is always redone. The record is `<output_dir>/<name>/.modelport-batch-job.json`.
"""

from __future__ import annotations

import hashlib
import json
import os

import modelport
from modelport import manifest as provenance
from modelport.batch.manifest import JobSpec
from modelport.batch.results import CONVERTED, SKIPPED, VALID, JobResult, TargetResult
from modelport.placement import write_atomic

RECORD = ".modelport-batch-job.json"
# Libraries whose version changes an artifact or a verdict (a new one redoes every job).
VERSIONED = ("torch", "onnx", "onnxruntime", "onnxscript", "onnxsim", "onnx2tf", "tensorflow", "tf-keras", "keras",
             "tf2onnx", "ai-edge-litert", "numpy", "protobuf")


def tool_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"modelport": modelport.__version__}
    for dist in VERSIONED:
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "absent"
    return out


def _source_file(source: str) -> str | None:
    """The file whose content is the source: the path, or a callable's .py file or module file."""
    if os.path.exists(source):
        return source
    file_part = source.rsplit(":", 1)[0]
    if os.path.exists(file_part):
        return file_part
    try:
        import importlib.util

        spec = importlib.util.find_spec(file_part)  # package.module:callable (imports the parent packages only)
        return spec.origin if spec is not None and spec.origin and os.path.exists(spec.origin) else None
    except (ImportError, ValueError):
        return None


def fingerprint(spec: JobSpec, versions: dict[str, str]) -> str | None:
    """None when the source cannot be hashed (then the job is never skipped)."""
    src = _source_file(spec.source)
    if src is None:
        return None
    # The timeout decides how long to wait, not what comes out: changing it redoes nothing.
    data = {"spec": {k: v for k, v in spec.to_dict().items() if k != "timeout"}, "source_sha256": provenance.sha256_of(src),
            "weights_sha256": provenance.sha256_of(spec.weights) if spec.weights else None,
            "calibration_sha256": provenance.sha256_of(spec.calibration_data) if spec.calibration_data else None,
            "inputs_sha256": provenance.sha256_of(spec.inputs) if spec.inputs else None,  # new data: judged again
            "versions": versions}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _record_path(spec: JobSpec) -> str:
    return os.path.join(spec.output_dir, RECORD)


def resumable(spec: JobSpec, fp: str | None) -> JobResult | None:
    """The skipped result, when the last run of this exact job was valid and its artifacts are intact."""
    if fp is None or not os.path.isfile(_record_path(spec)):
        return None
    try:
        with open(_record_path(spec)) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != fp or record.get("status") not in (VALID, CONVERTED):
        return None
    targets = []
    for target in spec.targets:
        art = (record.get("artifacts") or {}).get(target)
        if not art or not os.path.exists(art["path"]):
            return None
        meta = provenance.load(art["path"]) or {}
        digest = provenance.sha256_of(art["path"])
        if digest != art.get("sha256") or digest != (meta.get("artifact") or {}).get("sha256"):
            return None
        targets.append(TargetResult(target, SKIPPED, "unchanged", output=art["path"],
                                    manifest=provenance.manifest_path(art["path"])))
    return JobResult(spec.name, spec.source, SKIPPED, targets, message=f"unchanged since its valid run of {record.get('finished')}",
                     fingerprint=fp)


def write_record(spec: JobSpec, result: JobResult, finished: str) -> None:
    """Record a valid run for the next resume; any other outcome removes the record (it is redone)."""
    path = _record_path(spec)
    if result.status not in (VALID, CONVERTED):
        if os.path.exists(path):
            os.remove(path)
        return
    artifacts = {}
    for t in result.targets:
        meta = provenance.load(t.output) if t.output else None
        artifacts[t.target] = {"path": t.output, "sha256": (meta or {}).get("artifact", {}).get("sha256")}
    write_atomic(path, json.dumps({"fingerprint": result.fingerprint, "status": result.status, "artifacts": artifacts,
                                   "finished": finished}, indent=2) + "\n")
