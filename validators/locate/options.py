"""How to locate: `modelport locate`'s options (`modelport.api.LocateOptions`).

A module without numpy or any runtime, so the CLI and the API build it for free; the inputs are
made exactly as `validate` makes its first sample (same seed, shapes, ranges), so a failure that
`validate` reports is the one `locate` looks into.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from modelport.errors import UsageError

MODES = ("accumulated", "local")
# Values held at once while capturing one side (ONNX Runtime outputs, FX values): a large graph is
# captured in chunks of marked outputs, so memory stays bounded whatever the model's size.
DEFAULT_CHUNK_BYTES = 256 << 20


@dataclass(frozen=True)
class LocateOptions:
    """What `modelport locate` takes besides SOURCE and ARTIFACT."""

    mode: str = "accumulated"  # accumulated: the same input through both; local: each layer fed the source's values
    seed: int = 0
    inputs: str | None = None  # FILE.npz or a folder of .npy, in the source's terms
    input_shapes: tuple[str, ...] = ()
    input_dtypes: tuple[str, ...] = ()
    value_ranges: tuple[str, ...] = ()
    atol: tuple[str, ...] = ()
    rtol: tuple[str, ...] = ()
    preset: str | None = None
    weights: str | None = None  # state_dict for a file.py:callable source
    top: int = 10
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    repro: str | None = None  # a folder to write the first divergence's smallest failing sub-graph into
    # re-convert prefixes of an ONNX source along the artifact's route and bisect for the first node
    # that breaks parity (modelport/pipeline/locate_bisect.py), instead of pairing tensors
    bisect: bool = False

    def check(self) -> "LocateOptions":
        if self.mode not in MODES:
            raise UsageError(f"--mode {self.mode}: expected one of {', '.join(MODES)}")
        if self.top < 1:
            raise UsageError("--top must be at least 1")
        if self.chunk_bytes < 1 << 20:
            raise UsageError("the capture chunk must be at least 1 MiB")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LocateOptions":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def locate_hint(source: str, artifact: str, artifact_format: str) -> str:
    """What a parity failure adds to its one line: the command that names the first diverging
    layer, where locate can follow the artifact's route (its manifest; an ONNX artifact without
    one is matched by name), or can re-run it in pieces (--bisect), else nothing."""
    import shlex

    from modelport import manifest
    from modelport.validators.locate.correspondence import bisectable
    from modelport.validators.locate.correspondence import followable

    record = manifest.load(artifact)
    command = f"modelport locate {shlex.quote(source)} {shlex.quote(artifact)}"
    if followable(record, artifact_format):
        return f"; the first layer that diverges: {command}"
    if bisectable(record, ((record or {}).get("source") or {}).get("format", "")):
        return f"; the first node whose conversion diverges: {command} --bisect (each probe is a conversion)"
    return ""
