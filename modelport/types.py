"""The small types that converters, validators and the CLI pass between them.

Everything here is plain data (dataclasses that round-trip through JSON), so it can cross a
process boundary: converters run in worker subprocesses and report back through these types.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

# A dimension is a fixed size or the name of a dynamic dimension ("batch", "seq").
Dim = int | str


class Format(str, enum.Enum):
    """Model formats modelport reads or writes. KERAS is a source only (exported to SavedModel);
    TFJS (a TensorFlow.js graph model) is a target only (written from a SavedModel, run in Node)."""

    PYTORCH = "pytorch"
    ONNX = "onnx"
    SAVEDMODEL = "savedmodel"
    TFLITE = "tflite"
    KERAS = "keras"
    TFJS = "tfjs"

    def __str__(self) -> str:  # click and f-strings show the plain name
        return self.value


# Formats a user may ask for with `--to`.
TARGET_FORMATS = (Format.ONNX, Format.SAVEDMODEL, Format.TFLITE, Format.PYTORCH, Format.TFJS)

# --quantize MODE -> the tolerance preset its artifact is validated with. TF.js's uint8/uint16 store
# weights as 8/16-bit affine codes, dequantized to float32 when the model loads: uint8 is as coarse as
# int8 weights, uint16 (1/65535 of each weight's range) finer than float16's 11-bit mantissa.
QUANTIZE_PRESET = {"fp16": "fp16", "dynamic-int8": "int8", "int8": "int8", "uint8": "int8", "uint16": "fp16"}


@dataclass
class TensorSpec:
    """One input or output: name, shape (ints or symbolic names), numpy dtype name, layout hint."""

    name: str
    shape: list[Dim] | None = None
    dtype: str = "float32"
    layout: str | None = None

    def shape_text(self) -> str:
        if self.shape is None:
            return "?"
        return "[" + ", ".join(str(d) for d in self.shape) + "]"

    @property
    def dynamic_dims(self) -> dict[int, str]:
        return {i: d for i, d in enumerate(self.shape or []) if isinstance(d, str)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TensorSpec":
        return cls(name=d["name"], shape=d.get("shape"), dtype=d.get("dtype", "float32"), layout=d.get("layout"))


@dataclass
class IOSpec:
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "IOSpec":
        return cls(
            inputs=[TensorSpec.from_dict(t) for t in d.get("inputs", [])],
            outputs=[TensorSpec.from_dict(t) for t in d.get("outputs", [])],
        )


@dataclass
class TensorMapping:
    """How one source tensor appears in an artifact.

    `perm` is the axis permutation with `artifact_tensor = source_tensor.transpose(perm)`;
    None means the layout is unchanged. `rule` says how the mapping was found (e.g. "converter
    report", "name", "position"), so the validator can tell the user how sure it is.
    """

    source: str
    artifact: str
    perm: list[int] | None = None
    rule: str = "name"
    # Other permutations the shapes allow as well (C = H = W): the validator settles them by running
    # (validators/layout_evidence.py); empty when the shapes leave one choice.
    alternatives: list[list[int] | None] = field(default_factory=list)
    # Other artifact tensors the shapes allow as well, when no name matched and several tensors have
    # the same shape (onnx2tf reorders a raw TFLite's outputs): the validator settles them by running.
    pairings: list["TensorMapping"] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TensorMapping":
        return cls(source=d["source"], artifact=d["artifact"], perm=d.get("perm"), rule=d.get("rule", "name"),
                   alternatives=list(d.get("alternatives") or []),
                   pairings=[cls.from_dict(x) for x in d.get("pairings") or []])


@dataclass
class IOMap:
    """The correspondence between a source's inputs/outputs and an artifact's."""

    inputs: list[TensorMapping] = field(default_factory=list)
    outputs: list[TensorMapping] = field(default_factory=list)

    def then(self, nxt: "IOMap") -> "IOMap":
        """Compose self (A→B) with nxt (B→C) into A→C, so a route's map points at its source."""

        def chain(first: list[TensorMapping], second: list[TensorMapping]) -> list[TensorMapping]:
            by_source = {m.source: m for m in second}
            out = []
            for m in first:
                n = by_source.get(m.artifact)
                if n is None:
                    continue
                perm = compose_perms(m.perm, n.perm)
                others = [compose_perms(a, b) for a in [m.perm, *m.alternatives] for b in [n.perm, *n.alternatives]]
                alternatives = [p for i, p in enumerate(others) if p != perm and p not in others[:i]]
                out.append(TensorMapping(m.source, n.artifact, perm, f"{m.rule}+{n.rule}", alternatives))
            return out

        return IOMap(chain(self.inputs, nxt.inputs), chain(self.outputs, nxt.outputs))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "IOMap":
        return cls(
            inputs=[TensorMapping.from_dict(m) for m in d.get("inputs", [])],
            outputs=[TensorMapping.from_dict(m) for m in d.get("outputs", [])],
        )


def compose_perms(first: list[int] | None, second: list[int] | None) -> list[int] | None:
    """x.transpose(first).transpose(second) == x.transpose(result); None is the identity."""
    if first is None:
        return second
    if second is None:
        return first
    result = [first[i] for i in second]
    return None if result == list(range(len(result))) else result


@dataclass
class Artifact:
    """A model on disk: where it is, what format, and (when known) its I/O signature."""

    path: str
    format: Format
    io: IOSpec | None = None
    # For PyTorch: "torchscript", "exported_program" or "callable"; for others None.
    flavor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format.value,
            "flavor": self.flavor,
            "io": self.io.to_dict() if self.io else None,
        }


def default_output_names(count: int) -> list[str]:
    """Names for a PyTorch model's outputs, which have none: shared by exporters and runners."""
    return ["output"] if count == 1 else [f"output_{i}" for i in range(count)]
