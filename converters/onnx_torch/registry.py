"""The operator registry: one small converter function per (domain, op type, opset range).

    @register("ReduceMean", since=18)      # axes moved from attribute to input in opset 18
    def reduce_mean_18(b, node, inputs, attrs): ...

A converter receives the builder `b`, the ONNX node, its inputs as fx nodes (None for an omitted
optional input) and its attributes as Python values, and returns the fx node of its output, or a
tuple for several outputs. The converter used for a model is the one with the highest `since` not
above the model's opset for that domain, as ONNX versions its operators.
"""

from __future__ import annotations

from typing import Callable

Converter = Callable[..., object]
_OPS: dict[tuple[str, str], list[tuple[int, Converter]]] = {}
ONNX_DOMAINS = ("", "ai.onnx")


def register(op_type: str, since: int = 1, domain: str = ""):
    def add(fn: Converter) -> Converter:
        versions = _OPS.setdefault((_domain(domain), op_type), [])
        versions.append((since, fn))
        versions.sort(key=lambda v: v[0])
        return fn
    return add


def _domain(domain: str) -> str:
    return "" if domain in ONNX_DOMAINS else domain


def lookup(domain: str, op_type: str, opset: int) -> Converter | None:
    found = None
    for since, fn in _OPS.get((_domain(domain), op_type), []):
        if since <= opset:
            found = fn
    return found


def supported() -> list[tuple[str, str, int]]:
    """(domain, op type, since) of every registered converter, for docs and coverage reports."""
    _load_all()
    return sorted((d, op, since) for (d, op), versions in _OPS.items() for since, _ in versions)


def _load_all() -> None:
    """Import every module of the ops package once, so its converters register themselves."""
    import importlib
    import pkgutil

    from modelport.converters.onnx_torch import ops

    for info in pkgutil.iter_modules(ops.__path__):
        importlib.import_module(f"{ops.__name__}.{info.name}")
