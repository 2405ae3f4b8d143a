"""The `modelport batch` manifest: YAML (or TOML) with `defaults` and a list of `models`.

Every key is checked before any work starts, and an error names the file, the entry and the
field: `models.yaml: models[2] (cnn): targets: 'tflit' is not one of onnx, savedmodel, tflite`.
The checks are a small table of field parsers rather than a schema library: the core install has
none, and a generic validator's messages speak of JSON pointers rather than of the entry a user
wrote. `null` for a key unsets its default for that model.

Paths (source, weights, calibration data, output_dir) are relative to the manifest's folder, so
a manifest and its models can move together. A model's keys override `defaults`.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from modelport.converters.options import INT8_ACTIVATIONS, PYTORCH_FORMATS
from modelport.errors import UsageError
from modelport.hf_folders import TASKS
from modelport.types import QUANTIZE_PRESET, TARGET_FORMATS

TARGETS = tuple(f.value for f in TARGET_FORMATS)
QUANTIZE = tuple(QUANTIZE_PRESET)
DEVICES = ("cpu", "cuda", "auto")
DTYPES = ("float32", "float16", "float64", "int64", "int32", "int8", "uint8", "bool")
DEFAULT_OUTPUT_DIR = "modelport-out"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass
class JobSpec:
    """One model of the manifest, with defaults applied and paths made absolute."""

    name: str
    source: str
    targets: list[str]
    output_dir: str  # this job's folder: <manifest dir>/<output_dir>/<name>
    input_shapes: list[str] = field(default_factory=list)  # convert's syntax: "x:1,3,224,224"
    input_dtypes: list[str] = field(default_factory=list)  # "ids:int64"
    opset: int | None = None
    quantize: str | None = None
    calibration_data: str | None = None
    quantize_exclude: list[str] = field(default_factory=list)  # ONNX nodes kept in float (convert's --quantize-exclude)
    fp16_io: bool = False  # quantize: fp16 to ONNX: float16 inputs and outputs (convert's --fp16-io)
    int8_activations: str | None = None  # quantize: int8 to ONNX: uint8 (default) or int8 (convert's --int8-activations)
    weights: str | None = None
    task: str | None = None  # a Hugging Face folder source's task (convert's --task)
    via: str | None = None
    pytorch_format: str | None = None  # the pytorch target: exported_program (default), torchscript, package
    strategy: list[str] = field(default_factory=list)  # convert's --strategy entries: "onnx->savedmodel=tf_converter"
    fallback: bool = True  # false: convert's --no-fallback
    validate: bool = True
    samples: int = 1
    seed: int = 0  # the first generated sample's seed (convert's --seed)
    value_range: list[str] = field(default_factory=list)  # convert's --value-range entries: "ids:0,30522"
    inputs: str | None = None  # real inputs for the check (convert's --inputs), instead of generated ones
    device: str = "cpu"
    atol: list[str] = field(default_factory=list)  # "1e-4" or "logits:1e-3"
    rtol: list[str] = field(default_factory=list)
    bench: dict[str, Any] | None = None  # BenchOptions fields (modelport/validators/bench/options.py), or None: no bench
    timeout: float | None = None  # seconds for the whole job (all targets, validation, bench)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "JobSpec":
        return cls(**d)

    def quantized_target(self) -> str | None:
        """The target `quantize` applies to, as `convert --to a,b --quantize` decides it: the TFLite
        one, else the ONNX one (pipeline/multi.py target_options)."""
        if not self.quantize:
            return None
        return "tflite" if "tflite" in self.targets else "onnx" if "onnx" in self.targets else None

    def output_for(self, target: str) -> str:
        """Where a target's artifact goes, named as `modelport convert` names it: <output_dir>/<name>.onnx,
        <name>.tflite (quantized: <name>_fp16.tflite, <name>_dynamic_int8.onnx), <name>_savedmodel/,
        <name>.pt2 (an ExportedProgram; <name>.pt for TorchScript, <name>_pytorch/ for a package)."""
        if target == "savedmodel":
            return os.path.join(self.output_dir, f"{self.name}_savedmodel")
        if target == "pytorch":
            suffix = {"torchscript": ".pt", "package": "_pytorch"}.get(self.pytorch_format or "", ".pt2")
            return os.path.join(self.output_dir, f"{self.name}{suffix}")
        if target == self.quantized_target():
            return os.path.join(self.output_dir, f"{self.name}_{self.quantize.replace('-', '_')}.{target}")
        return os.path.join(self.output_dir, f"{self.name}.{target}")


@dataclass
class BatchManifest:
    path: str
    jobs: list[JobSpec]


class _Where:
    """Where in the manifest a value sits, for error messages."""

    def __init__(self, path: str, entry: str):
        self.path, self.entry = path, entry

    def fail(self, key: str, problem: str) -> UsageError:
        return UsageError(f"{self.path}: {self.entry}: {key}: {problem}")


def _str(v, key, where):
    if not isinstance(v, str) or not v.strip():
        raise where.fail(key, f"expected a non-empty string, got {v!r}")
    return v


def _choice(options):
    def parse(v, key, where):
        if v not in options:
            raise where.fail(key, f"{v!r} is not one of {', '.join(options)}")
        return v
    return parse


def _bool(v, key, where):
    if not isinstance(v, bool):
        raise where.fail(key, f"expected true or false, got {v!r}")
    return v


def _as_number(v):
    """A number, or a string YAML left unparsed: YAML 1.1 (PyYAML) reads 1e-4 as text, 1.0e-4 as a float."""
    if isinstance(v, str):
        try:
            return float(v) if not re.fullmatch(r"[+-]?\d+", v.strip()) else int(v)
        except ValueError:
            return v
    return v


def _positive(kind):
    def parse(v, key, where):
        v = _as_number(v)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not isinstance(v, int)) or v <= 0:
            raise where.fail(key, f"expected a positive {'integer' if kind is int else 'number'}, got {v!r}")
        return kind(v)
    return parse


def _node_names(v, key, where):
    """node_linear or [node_linear, /head/Gemm] -> convert's --quantize-exclude entries."""
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not items or not all(isinstance(n, str) and n.strip() for n in items):
        raise where.fail(key, f"expected an ONNX node name or a list of them, got {v!r}")
    return list(dict.fromkeys(items))


def _targets(v, key, where):
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not items:
        raise where.fail(key, f"expected a list of formats ({', '.join(TARGETS)}), got {v!r}")
    for t in items:
        if t not in TARGETS:
            raise where.fail(key, f"{t!r} is not one of {', '.join(TARGETS)}")
    return list(dict.fromkeys(items))


def _dim(d) -> str:
    if isinstance(d, bool) or not isinstance(d, (int, str)) or (isinstance(d, int) and d <= 0):
        raise ValueError(repr(d))
    return str(d)


def _shapes(v, key, where):
    """{x: [1, 3, 224, 224], ids: [1, "seq=16"]} -> ["x:1,3,224,224", "ids:1,seq=16"]."""
    if not isinstance(v, dict) or not v:
        raise where.fail(key, "expected a mapping of input name to a list of dims, e.g. {x: [1, 3, 224, 224]}")
    out = []
    for name, dims in v.items():
        if not isinstance(dims, list) or not dims:
            raise where.fail(f"{key}.{name}", f"expected a list of dims (ints, or names like batch or seq=16), got {dims!r}")
        try:
            out.append(f"{name}:" + ",".join(_dim(d) for d in dims))
        except ValueError as e:
            raise where.fail(f"{key}.{name}", f"bad dim {e} (use a positive int, a name, or NAME=SIZE)") from None
    return out


def _dtypes(v, key, where):
    if not isinstance(v, dict) or not v:
        raise where.fail(key, "expected a mapping of input name to dtype, e.g. {input_ids: int64}")
    for name, dt in v.items():
        if dt not in DTYPES:
            raise where.fail(f"{key}.{name}", f"{dt!r} is not one of {', '.join(DTYPES)}")
    return [f"{name}:{dt}" for name, dt in v.items()]


def _strategies(v, key, where):
    """{onnx-savedmodel: tf_converter} -> convert's --strategy entries, checked against each edge's list."""
    from modelport.converters.strategies import parse_forced

    if not isinstance(v, dict) or not v:
        raise where.fail(key, "expected a mapping of edge to strategy, e.g. {onnx-savedmodel: tf_converter}")
    out = [f"{edge}={name}" for edge, name in v.items()]
    try:
        parse_forced(out)
    except UsageError as e:
        raise where.fail(key, e.message.removeprefix("--strategy ")) from None
    return out


def _seed(v, key, where):
    v = _as_number(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise where.fail(key, f"expected an integer >= 0, got {v!r}")
    return v


def _value_ranges(v, key, where):
    """{ids: [0, 30522], mask: [0, 2]} -> convert's --value-range entries, checked as convert checks them."""
    from modelport.validators.inputs import parse_value_range

    if not isinstance(v, dict) or not v:
        raise where.fail(key, "expected a mapping of input name to [LO, HI], e.g. {ids: [0, 30522]}")
    out = []
    for name, bounds in v.items():
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise where.fail(f"{key}.{name}", f"expected [LO, HI], got {bounds!r}")
        text = f"{name}:{_as_number(bounds[0])},{_as_number(bounds[1])}"
        try:
            parse_value_range(text)
        except UsageError as e:
            raise where.fail(f"{key}.{name}", e.message.removeprefix("--value-range ")) from None
        out.append(text)
    return out


def _tolerance(v, key, where):
    """1e-4 (global) or {logits: 1e-3, boxes: 0.05} (per output) -> convert's --atol/--rtol entries."""
    def number(x, k):
        x = _as_number(x)
        if isinstance(x, bool) or not isinstance(x, (int, float)) or x < 0:
            raise where.fail(k, f"expected a number >= 0, got {x!r}")
        return repr(float(x))
    if isinstance(v, dict):
        return [f"{name}:{number(x, f'{key}.{name}')}" for name, x in v.items()]
    return [number(v, key)]


def _non_negative(kind):
    def parse(v, key, where):
        v = _as_number(v)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not isinstance(v, int)) or v < 0:
            raise where.fail(key, f"expected {'an integer' if kind is int else 'a number'} >= 0, got {v!r}")
        return kind(v)
    return parse


def _batch_sizes(v, key, where):
    return tuple(_positive(int)(b, key, where) for b in (v if isinstance(v, list) else [v]))


_BENCH_FIELDS: dict[str, Callable] = {
    "batch_sizes": _batch_sizes,
    "runs": _positive(int),
    "duration": _positive(float),
    "warmup": _non_negative(int),
    "min_warmup_seconds": _non_negative(float),
    "threads": _positive(int),
    "order": _choice(("sequential", "random", "interleaved")),
}


def _bench(v, key, where):
    """true (defaults), false, or a mapping of bench options."""
    if v is False or v is None:
        return None
    if v is True:
        return {}
    if not isinstance(v, dict):
        raise where.fail(key, f"expected true, false or a mapping of {', '.join(_BENCH_FIELDS)}, got {v!r}")
    out = {}
    for k, x in v.items():
        if k not in _BENCH_FIELDS:
            raise where.fail(f"{key}.{k}", f"unknown bench option (known: {', '.join(_BENCH_FIELDS)})")
        out[k] = _BENCH_FIELDS[k](x, f"{key}.{k}", where)
    return out


# key -> (parser, JobSpec field); paths are resolved after parsing.
FIELDS: dict[str, tuple[Callable, str]] = {
    "source": (_str, "source"),
    "targets": (_targets, "targets"),
    "output_dir": (_str, "output_dir"),
    "input_shapes": (_shapes, "input_shapes"),
    "input_dtypes": (_dtypes, "input_dtypes"),
    "opset": (_positive(int), "opset"),
    "quantize": (_choice(QUANTIZE), "quantize"),
    "calibration_data": (_str, "calibration_data"),
    "quantize_exclude": (_node_names, "quantize_exclude"),
    "fp16_io": (_bool, "fp16_io"),
    "int8_activations": (_choice(INT8_ACTIVATIONS), "int8_activations"),
    "weights": (_str, "weights"),
    "task": (_choice(tuple(TASKS)), "task"),
    "via": (_choice(TARGETS), "via"),
    "pytorch_format": (_choice(PYTORCH_FORMATS), "pytorch_format"),
    "strategy": (_strategies, "strategy"),
    "fallback": (_bool, "fallback"),
    "validate": (_bool, "validate"),
    "samples": (_positive(int), "samples"),
    "seed": (_seed, "seed"),
    "value_range": (_value_ranges, "value_range"),
    "inputs": (_str, "inputs"),
    "device": (_choice(DEVICES), "device"),
    "atol": (_tolerance, "atol"),
    "rtol": (_tolerance, "rtol"),
    "bench": (_bench, "bench"),
    "timeout": (_positive(float), "timeout"),
}
MODEL_ONLY = ("name",)


def _read(path: str) -> Any:
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such manifest file")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise UsageError(f"{path}: cannot read it ({e.strerror})") from None
    if path.endswith(".toml"):
        import tomllib

        try:
            return tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"{path}: not valid TOML ({e})") from None
    import yaml

    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UsageError(f"{path}: not valid YAML{where} ({getattr(e, 'problem', None) or e})") from None


def _parse_fields(entry: dict, where: _Where, allowed: set[str]) -> dict[str, Any]:
    out = {}
    for key, value in entry.items():
        if key not in allowed:
            import difflib

            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise where.fail(str(key), f"unknown key{hint}; known keys: {', '.join(sorted(allowed))}")
        if key in FIELDS:
            parser, attr = FIELDS[key]
            out[attr] = None if value is None else parser(value, key, where)  # null: unset a default
        else:
            out[key] = value
    return out


def load_manifest(path: str) -> BatchManifest:
    """Parse and check the manifest; every job fully resolved. Raises UsageError (exit 2)."""
    data = _read(path)
    top = _Where(path, "top level")
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping with 'models' (and optionally 'defaults'), got {type(data).__name__}")
    unknown = set(data) - {"defaults", "models", "version"}
    if unknown:
        raise top.fail(sorted(unknown)[0], "unknown key; known keys: defaults, models, version")
    if type(data.get("version", 1)) is not int or data.get("version", 1) != 1:
        raise top.fail("version", f"this modelport reads version 1, got {data['version']!r}")
    defaults_raw = data.get("defaults") or {}
    if not isinstance(defaults_raw, dict):
        raise top.fail("defaults", "expected a mapping of default keys")
    defaults = _parse_fields(defaults_raw, _Where(path, "defaults"), set(FIELDS))
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise top.fail("models", "expected a non-empty list of models")
    base = os.path.dirname(os.path.abspath(path))
    jobs, seen = [], set()
    for i, entry in enumerate(models):
        label = f"models[{i}]" + (f" ({entry['name']})" if isinstance(entry, dict) and isinstance(entry.get("name"), str) else "")
        where = _Where(path, label)
        if not isinstance(entry, dict):
            raise where.fail("entry", f"expected a mapping with name, source and targets, got {entry!r}")
        spec = {**defaults, **_parse_fields(entry, where, set(FIELDS) | set(MODEL_ONLY))}
        spec = {k: v for k, v in spec.items() if v is not None}
        for required in ("name", "source", "targets"):
            if required not in spec:
                raise where.fail(required, "missing" + (" (set it here or in defaults)" if required == "targets" else ""))
        name = spec["name"]
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise where.fail("name", f"expected letters, digits, '_', '.', '-' (it names the output folder), got {name!r}")
        if name in seen:
            raise where.fail("name", f"{name!r} is used by an earlier model; names must be unique")
        seen.add(name)
        if spec.get("quantize") and not {"tflite", "onnx"} & set(spec["targets"]):
            raise where.fail("quantize", "applies to a tflite or onnx target (tflite when both), and targets has neither")
        if spec.get("quantize") == "int8" and not spec.get("calibration_data"):
            raise where.fail("calibration_data", "quantize: int8 needs representative inputs (an .npz, one array per input)")
        _check_onnx_quantize_keys(spec, where)
        jobs.append(_resolve(spec, base, where))
    return BatchManifest(path=os.path.abspath(path), jobs=jobs)


def _check_onnx_quantize_keys(spec: dict[str, Any], where: _Where) -> None:
    """quantize_exclude, fp16_io and int8_activations tune ONNX Runtime's quantizers: they need the
    `quantize` they go with, and the quantized target must be the ONNX one (no tflite in targets),
    as convert refuses them. A default counts as the model's own (as `quantize` does); `null` unsets it."""
    needs = {"quantize_exclude": ("fp16", "dynamic-int8", "int8"), "fp16_io": ("fp16",), "int8_activations": ("int8",)}
    for key, modes in needs.items():
        if not spec.get(key):
            continue
        if spec.get("quantize") not in modes:
            got = f"quantize is {spec['quantize']}" if spec.get("quantize") else "quantize is not set"
            raise where.fail(key, f"applies with quantize: {' or '.join(modes)} ({got})")
        if "tflite" in spec["targets"] or "onnx" not in spec["targets"]:
            raise where.fail(key, "applies to an ONNX target quantized by ONNX Runtime (onnx in targets, no tflite: "
                                  "with tflite, quantize is the TFLite one's)")


def _resolve(spec: dict[str, Any], base: str, where: _Where) -> JobSpec:
    def local(p: str) -> str:
        return p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))

    source = spec["source"]
    file_part, sep, attr = source.rpartition(":")
    if sep and file_part.endswith(".py"):
        source = local(file_part) + ":" + attr  # path/to/file.py:callable
    elif not sep or os.path.exists(local(source)) or "/" in file_part:
        source = local(source)  # a model file or folder (checked when its job runs: a missing one fails that job)
    # else package.module:callable, found on the Python path when the job runs
    for key in ("weights", "calibration_data", "inputs"):
        if spec.get(key):
            spec[key] = local(spec[key])
            if not os.path.exists(spec[key]):
                raise where.fail(key, f"no such file: {spec[key]}")
    out_dir = os.path.join(local(spec.pop("output_dir", DEFAULT_OUTPUT_DIR)), spec["name"])
    return JobSpec(**{**spec, "source": source, "output_dir": out_dir})
