"""Detect a model's format from its content, not only its name.

Cheap checks read a few bytes: TFLite files carry the flatbuffer identifier "TFL3" at offset 4;
TorchScript and ExportedProgram files are zip archives with telltale member names; a SavedModel
is a directory holding saved_model.pb. ONNX has no magic number, so it is recognised by parsing
the protobuf (the only reliable test) once nothing else matched and the file is not a zip.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass

from modelport.archives import ZIP_ERRORS, check_zip
from modelport.errors import UsageError
from modelport.types import Format

_CALLABLE_REF = re.compile(r"^(?P<target>[^:]+):(?P<attr>[A-Za-z_][A-Za-z0-9_.]*)$")


@dataclass
class Detected:
    format: Format
    flavor: str | None = None  # pytorch: torchscript | exported_program | callable | package | hf_folder; keras: callable
    note: str | None = None  # e.g. "extension says .onnx but content is TFLite"


_EXTENSIONS = {
    ".onnx": Format.ONNX,
    ".tflite": Format.TFLITE,
    ".pt": Format.PYTORCH,
    ".pth": Format.PYTORCH,
    ".pt2": Format.PYTORCH,
    ".keras": Format.KERAS,
}


def absolute_reference(src: str) -> str:
    """The same model reference from any working directory (workers run in their scratch folder):
    a path made absolute, `file.py:callable` with its file made absolute, `package.module:callable`
    and anything that does not exist as they are."""
    if is_callable_reference(src):
        target, attr = src.split(":", 1)
        return f"{os.path.abspath(target)}:{attr}" if target.endswith(".py") else src
    return os.path.abspath(src) if os.path.exists(src) else src


def is_callable_reference(src: str) -> bool:
    """`path/to/file.py:build` or `package.module:build` (and not a Windows drive or a real file)."""
    if os.path.exists(src):
        return False
    m = _CALLABLE_REF.match(src)
    if not m:
        return False
    target = m.group("target")
    return target.endswith(".py") or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", target) is not None


def detect(src: str, *, thorough: bool = True) -> Detected:
    """Return the format of `src`, or raise UsageError with one line saying why not.

    `thorough=False` (what `convert` uses) recognises ONNX by its first bytes instead of parsing
    the whole protobuf: the worker parses it anyway, and reports a damaged file as bad input.
    Parsing a 100 MB model twice cost the parent a quarter second and its size in memory.
    """
    if is_callable_reference(src):
        target = src.split(":", 1)[0]
        if target.endswith(".py") and not os.path.isfile(target):
            raise UsageError(f"{src}: no such Python file: {target}")
        from modelport.callables import callable_kind

        return Detected(Format.KERAS if callable_kind(src) == "keras" else Format.PYTORCH, "callable")
    if not os.path.exists(src):
        raise UsageError(f"{src}: no such file or directory")
    if os.path.isdir(src):
        return _detect_dir(src)
    if os.path.getsize(src) == 0:
        raise UsageError(f"{src}: file is empty")
    detected = _detect_file(src, thorough)
    expected = _EXTENSIONS.get(os.path.splitext(src)[1].lower())
    if expected is not None and expected != detected.format:
        detected.note = f"the extension suggests {expected.value} but the content is {detected.format.value}"
    return detected


def _detect_dir(src: str) -> Detected:
    from modelport.torch_modules import is_package

    if os.path.isfile(os.path.join(src, "saved_model.pb")) or os.path.isfile(os.path.join(src, "saved_model.pbtxt")):
        return Detected(Format.SAVEDMODEL)
    if os.path.isfile(os.path.join(src, "model.json")):
        return _detect_tfjs(src)
    if is_package(src):
        return Detected(Format.PYTORCH, "package")
    from modelport.hf_folders import is_hf_folder

    if is_hf_folder(src):
        return Detected(Format.PYTORCH, "hf_folder")
    raise UsageError(f"{src}: directory is neither a TensorFlow SavedModel (no saved_model.pb in it), "
                     "a TensorFlow.js model (model.json), a PyTorch package (model.py + weights.pt) nor a Hugging "
                     "Face model folder (config.json naming a model_type)")


# model.json holds the graph's topology (weights are in the shards): tens of MB for the largest
# models. Anything past this is not a model description to parse whole.
MAX_TFJS_JSON_BYTES = 512 << 20


def tfjs_model_json(folder: str) -> dict:
    """A TensorFlow.js folder's model.json, parsed (UsageError: too big, not JSON, not a graph model)."""
    import json

    path = os.path.join(folder, "model.json")
    if os.path.getsize(path) > MAX_TFJS_JSON_BYTES:
        raise UsageError(f"{path}: {os.path.getsize(path) >> 20} MB, too large for a TensorFlow.js model description")
    try:
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise UsageError(f"{path}: not valid JSON ({type(e).__name__}: {str(e)[:120]})") from None
    if not isinstance(spec, dict) or "modelTopology" not in spec:
        raise UsageError(f"{path}: not a TensorFlow.js model (no modelTopology)")
    if spec.get("format") == "layers-model":
        raise UsageError(f"{_folder_of(path)}: a TensorFlow.js layers model; modelport runs graph models "
                         "(what `modelport convert --to tfjs` writes)")
    if spec.get("format") != "graph-model" or not isinstance(spec.get("modelTopology"), dict):
        raise UsageError(f"{path}: not a TensorFlow.js graph model (format {spec.get('format')!r})")
    why = _tfjs_malformed(spec)
    if why:
        raise UsageError(f"{path}: a malformed TensorFlow.js graph model ({why})")
    return spec


def _tfjs_malformed(spec: dict) -> str | None:
    """What in model.json's structure is not what TF.js writes (the fields modelport reads), or None."""
    nodes = spec["modelTopology"].get("node", [])
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        return "modelTopology.node is not a list of nodes"
    groups = spec.get("weightsManifest", [])
    if not isinstance(groups, list) or not all(
            isinstance(g, dict) and isinstance(g.get("paths", []), list) and all(isinstance(p, str) for p in g.get("paths", []))
            and isinstance(g.get("weights", []), list) and all(isinstance(w, dict) for w in g.get("weights", []))
            for g in groups):
        return "weightsManifest is not a list of groups of paths and weights"
    sig = spec.get("signature", {})
    if not isinstance(sig, dict):
        return "signature is not an object"
    for side in ("inputs", "outputs"):
        entries = sig.get(side, {})
        if not isinstance(entries, dict) or not all(isinstance(t, dict) for t in entries.values()):
            return f"signature.{side} is not an object of tensors"
        for key, t in entries.items():
            dims = (t.get("tensorShape") or {}).get("dim", []) if isinstance(t.get("tensorShape", {}), dict) else None
            if not isinstance(dims, list) or not all(isinstance(d, dict) and re.fullmatch(r"-?\d+", str(d.get("size", "-1")))
                                                     for d in dims):
                return f"signature.{side}.{key} has a shape that is not a list of sizes"
    return None


def _folder_of(model_json: str) -> str:
    return os.path.dirname(model_json) or "."


def _detect_tfjs(src: str) -> Detected:
    tfjs_model_json(src)
    return Detected(Format.TFJS)


def _detect_file(src: str, thorough: bool = True) -> Detected:
    with open(src, "rb") as f:
        head = f.read(8)
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return Detected(Format.TFLITE)
    if head[:2] == b"PK":
        return _detect_zip(src)
    if os.path.basename(src) == "model.json":
        raise UsageError(f"{src}: pass the TensorFlow.js model's folder ({_folder_of(src)}), not its model.json")
    if src.lower().endswith(".pb"):
        raise UsageError(f"{src}: a bare .pb file; pass the SavedModel directory that contains it")
    if not thorough and _onnx_header(head):
        return Detected(Format.ONNX)
    if _parses_as_onnx(src):
        return Detected(Format.ONNX)
    ext = os.path.splitext(src)[1].lower()
    if ext in _EXTENSIONS:
        kind = _EXTENSIONS[ext].value
        raise UsageError(f"{src}: not a valid {kind} file (corrupt or truncated; its content matches no known format)")
    raise UsageError(f"{src}: unknown model format (not ONNX, TFLite, TorchScript, ExportedProgram, Keras or a SavedModel)")


def _detect_zip(src: str) -> Detected:
    try:
        with zipfile.ZipFile(src) as z:
            check_zip(z, src)  # before testzip, which decompresses every member (modelport/archives.py)
            names = z.namelist()
            bad = z.testzip()
    except ZIP_ERRORS as e:
        raise UsageError(f"{src}: corrupt or truncated archive ({type(e).__name__}: {str(e)[:160]})") from None
    if bad is not None:
        raise UsageError(f"{src}: corrupt archive (member {bad} fails its CRC check)")
    base = {n.split("/", 1)[-1] for n in names}
    if "config.json" in names and "model.weights.h5" in names:
        return Detected(Format.KERAS)
    if any(n.endswith("serialized_exported_program.json") or "/models/" in n and n.endswith(".json") for n in names):
        return Detected(Format.PYTORCH, "exported_program")
    if "constants.pkl" in base or any(n.split("/")[1:2] == ["code"] for n in names):
        return Detected(Format.PYTORCH, "torchscript")
    if "data.pkl" in base:
        raise UsageError(
            f"{src}: a pickled PyTorch checkpoint (state_dict or torch.save'd module), not a model; "
            "pass the module as file.py:callable with --weights this file"
        )
    raise UsageError(f"{src}: a zip archive that is neither TorchScript, an ExportedProgram nor a Keras model")


def _onnx_header(head: bytes) -> bool:
    """ModelProto serialises ir_version (field 1, varint) first: bytes 0x08, then 1..20."""
    return len(head) >= 2 and head[0] == 0x08 and 1 <= head[1] <= 20


def _parses_as_onnx(src: str) -> bool:
    """Full protobuf parse without external data: the only dependable ONNX test."""
    import onnx  # light enough (no torch/tf); imported late to keep --help fast
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model(src, load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError, UnicodeDecodeError):
        return False
    except Exception:  # protobuf raises a variety of internal errors on random bytes
        return False
    # Random bytes occasionally parse as an empty message; a real model has a graph with nodes or outputs.
    return bool(model.graph.output) and model.ir_version > 0
