"""How to validate: `modelport validate`'s options (`modelport.api.ValidateOptions`), also taken by `convert()`.

A module of its own, without numpy or any runtime, so that building the options (the CLI, the
API, a batch manifest) costs nothing; validators/validation.py does the work.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from modelport.types import IOMap


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
