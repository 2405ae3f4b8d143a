"""How to validate: `modelport validate`'s options (`modelport.api.ValidateOptions`), also taken by `convert()`.

A module of its own, without numpy or any runtime, so that building the options (the CLI, the
API, a batch manifest) costs nothing; validators/validation.py does the work.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from modelport.types import IOMap

TFJS_BACKENDS = ("cpu", "wasm")  # the Node backends a TF.js model runs on (validators/runtimes/tfjs_runner.py)


@dataclass(frozen=True)
class ValidateOptions:
    """How to validate (`modelport validate`'s options; `convert()` takes it too, see its docstring)."""

    device: str = "cpu"
    reference_device: str | None = None  # default: the same as device
    seed: int = 0
    samples: int = 1
    input_shapes: tuple[str, ...] = ()
    input_dtypes: tuple[str, ...] = ()
    shapes: tuple[str, ...] = ()  # NAME:SIZE,SIZE... for the dynamic dims (validators/dynamic_sizes.py)
    value_ranges: tuple[str, ...] = ()
    inputs: str | None = None  # FILE.npz or a folder of .npy
    atol: tuple[str, ...] = ()
    rtol: tuple[str, ...] = ()
    preset: str | None = None  # force fp32 / fp16 / int8 for every candidate
    threads: int | None = None
    # TF.js candidates run on each of these backends: the first is the candidate's row, the others
    # are checked on the same samples (CandidateResult.backends)
    tfjs_backends: tuple[str, ...] = TFJS_BACKENDS
    weights: str | None = None  # state_dict for a file.py:callable reference
    task: str | None = None  # a Hugging Face folder reference's task (default: its config.json's)
    save_outputs: str | None = None
    load_outputs: str | None = None
    # Set by `modelport convert`: I/O maps and precisions of artifacts that have no manifest yet.
    io_maps: dict[str, IOMap] = field(default_factory=dict)
    precisions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-able, for a validation worker (modelport/pipeline/route_validation.py)."""
        d = asdict(self)
        d["io_maps"] = {p: m.to_dict() for p, m in self.io_maps.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ValidateOptions":
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        d["io_maps"] = {p: IOMap.from_dict(m) for p, m in (d.get("io_maps") or {}).items()}
        return cls(**d)



def parse_tfjs_backends(text: str | None) -> tuple[str, ...]:
    """--tfjs-backend: backends joined by commas, the first one the candidate's row (default cpu,wasm)."""
    from modelport.errors import UsageError

    if text is None:
        return TFJS_BACKENDS
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    bad = [n for n in names if n not in TFJS_BACKENDS]
    if bad or not names:
        raise UsageError(f"--tfjs-backend {text}: expected backends among {', '.join(TFJS_BACKENDS)}, joined by commas")
    return names

