"""Copy the helper functions a generated forward calls into one self-contained Python source.

Converters emit calls to small helpers of ops/ (`conv` with ONNX's padding rules, `reduce`,
`reshape`...). A package that must run without modelport needs their code, and the code of the
helpers they call, with the imports and constants they use. This module follows each helper's
global names (read from its bytecode, so local names and attribute names do not count), collects
what they refer to, and writes it out: modules as imports, plain constants as literals, our own
functions from their source. Every object gets one name in the output; a clash is settled by a
suffix, and sources are renamed token by token (tokenize, so strings, comments and attributes are
left alone).

Why not a library: torch.fx's GraphModule.to_folder assumes every called function is importable
where the folder is used, and nothing off the shelf inlines a function's dependency closure.
"""

from __future__ import annotations

import builtins
import dis
import inspect
import io
import math
import textwrap
import tokenize
import types
from typing import Any

from modelport.errors import ConversionError

OURS = "modelport."
_NAMESPACES = ("torch", "torch.nn.functional", "torch.special", "torch.linalg", "torch.fft", "math", "operator")


def _global_names(fn) -> list[str]:
    """Global names a function loads, in order of first use, its nested functions and lambdas included."""
    names: dict[str, None] = {}

    def walk(code):
        for ins in dis.get_instructions(code):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                names[str(ins.argval).removeprefix("NULL + ").removesuffix(" + NULL")] = None
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                walk(const)

    walk(inspect.unwrap(fn).__code__)
    return list(names)


def rename(source: str, mapping: dict[str, str]) -> str:
    """`source` with every identifier in `mapping` replaced, except attributes (`x.name`) and keyword
    names (`f(name=1)`, `def f(name=1)`)."""
    if not mapping:
        return source
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    lines = source.splitlines(keepends=True)
    edits = []
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.NAME or tok.string not in mapping:
            continue
        prev = tokens[i - 1] if i else None
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if prev is not None and prev.type == tokenize.OP and prev.string == ".":
            continue
        if nxt is not None and nxt.type == tokenize.OP and nxt.string == "=" and _inside_brackets(tokens, i):
            continue
        edits.append((tok.start, tok.end, mapping[tok.string]))
    for (row, col), (_, end), new in reversed(edits):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + new + line[end:]
    return "".join(lines)


def tight_keywords(source: str) -> str:
    """`f(a, b = 1)` (torch.fx's spacing) as `f(a, b=1)` (PEP 8), leaving assignments alone."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    lines = source.splitlines(keepends=True)
    edits = []
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.OP and tok.string == "=" and 0 < i < len(tokens) - 1 and _inside_brackets(tokens, i):
            before, after = tokens[i - 1], tokens[i + 1]
            if before.end[0] == tok.start[0] == after.start[0]:
                edits.append((tok.start[0], before.end[1], after.start[1]))
    for row, start, end in reversed(edits):
        line = lines[row - 1]
        lines[row - 1] = line[:start] + "=" + line[end:]
    return "".join(lines)


def _inside_brackets(tokens, index: int) -> bool:
    depth = 0
    for tok in reversed(tokens[:index]):
        if tok.type == tokenize.OP:
            if tok.string in ")]}":
                depth += 1
            elif tok.string in "([{":
                if depth == 0:
                    return True
                depth -= 1
        elif tok.type == tokenize.NEWLINE:
            return False
    return False


class Inliner:
    """Collects the objects a source refers to and writes them as a module's preamble."""

    def __init__(self, reserved: set[str], predefined: dict[str, types.ModuleType]):
        """`reserved`: names the rest of the output uses; `predefined`: modules it imports itself."""
        self._names: dict[int, str] = {}  # id(object) -> its name in the output
        self._taken: set[str] = set(reserved) | set(predefined)
        self._imports: dict[str, str] = {}  # name -> import line
        self._constants: list[str] = []
        self._late_constants: list[str] = []  # constants that refer to functions: written after them
        self._ours_used = 0  # how many of our functions or classes constants have named so far
        self._functions: list[str] = []
        self._keep: list[Any] = []  # holds collected objects alive, so their ids stay theirs
        for name, module in predefined.items():
            self._names[id(module)] = name
            self._keep.append(module)
            self._imports[name] = _import_line(module, name)

    # -- naming -------------------------------------------------------------------------------------
    def name(self, obj, preferred: str) -> str:
        """The output's name for `obj`, collecting it (and what it needs) on first sight."""
        if id(obj) in self._names:
            return self._names[id(obj)]
        if isinstance(obj, types.ModuleType) and obj.__name__.startswith(OURS):
            raise ConversionError(f"a helper refers to the module {obj.__name__} itself; refer to its functions")
        final = self._fresh(preferred)
        self._names[id(obj)] = final
        self._keep.append(obj)
        if isinstance(obj, types.ModuleType):
            self._imports[final] = _import_line(obj, final)
        elif getattr(obj, "__module__", "").startswith(OURS) and (inspect.isfunction(inspect.unwrap(obj))
                                                                    or inspect.isclass(obj)):
            self._function(obj, final)
        else:
            before = self._ours_used
            line = f"{final} = {self.expression(obj, final)}"
            # A constant that names our functions (a dict of activations) must follow their defs.
            (self._late_constants if self._ours_used > before else self._constants).append(line)
        return final

    def _fresh(self, preferred: str) -> str:
        final, i = preferred, 2
        while final in self._taken or hasattr(builtins, final):
            final, i = f"{preferred}_{i}", i + 1
        self._taken.add(final)
        return final

    # -- values -------------------------------------------------------------------------------------
    def expression(self, value, where: str) -> str:
        """Python source that evaluates to `value` in the output module."""
        if value is None or isinstance(value, (bool, int, str, bytes)):
            return repr(value)
        if isinstance(value, float):
            return repr(value) if math.isfinite(value) else f'float("{value}")'
        if isinstance(value, (tuple, list, set, frozenset)):
            items = [self.expression(v, where) for v in value]
            if isinstance(value, tuple):
                return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
            if isinstance(value, list):
                return f"[{', '.join(items)}]"
            return (f"{{{', '.join(items)}}}" if items else "set()") if isinstance(value, set) \
                else f"frozenset([{', '.join(items)}])"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{self.expression(k, where)}: {self.expression(v, where)}"
                                   for k, v in value.items()) + "}"
        if isinstance(value, types.ModuleType):
            return self.name(value, value.__name__.split(".")[-1])
        found = self._public_path(value)
        if found is not None:
            import importlib

            module_name, attr = found
            top = module_name.split(".")[0]
            return f"{self.name(importlib.import_module(top), top)}{module_name[len(top):]}.{attr}"
        if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__.startswith(OURS):
            self._ours_used += 1
            return self.name(value, value.__name__)
        raise ConversionError(f"cannot write {where} ({type(value).__name__} {value!r:.60}) as Python source")

    @staticmethod
    def _public_path(value) -> tuple[str, str] | None:
        """(module, attribute) of a public torch/math/operator object, e.g. ('torch', 'float32')."""
        import importlib

        import torch

        if isinstance(value, torch.dtype):
            return "torch", str(value).removeprefix("torch.")
        name = getattr(value, "__name__", None)
        if not isinstance(name, str):
            return None
        for module_name in _NAMESPACES:
            try:
                if getattr(importlib.import_module(module_name), name, None) is value:
                    return module_name, name
            except ImportError:
                continue
        return None

    # -- functions ----------------------------------------------------------------------------------
    def _function(self, obj, final: str) -> None:
        fn = inspect.unwrap(obj)
        try:
            source = textwrap.dedent(inspect.getsource(obj))
        except (OSError, TypeError) as e:
            raise ConversionError(f"no source for helper {obj.__module__}.{obj.__qualname__}: {e}") from None
        if "<locals>" in obj.__qualname__:
            raise ConversionError(f"helper {obj.__qualname__} is a nested function; only module-level helpers can be inlined")
        mapping = {obj.__name__: final} if obj.__name__ != final else {}
        namespace = fn.__globals__ if inspect.isfunction(fn) else vars(inspect.getmodule(obj))
        refs = _global_names(fn) if inspect.isfunction(fn) else []
        index = len(self._functions)
        self._functions.append("")  # its place, so helpers appear in first-use order
        for ref in refs:
            if ref not in namespace:
                if hasattr(builtins, ref):
                    continue
                raise ConversionError(f"helper {obj.__qualname__} refers to {ref!r}, which its module does not define")
            new = self.name(namespace[ref], ref)
            if new != ref:
                mapping[ref] = new
        self._functions[index] = rename(source, mapping).rstrip() + "\n"

    # -- output -------------------------------------------------------------------------------------
    def preamble(self) -> str:
        imports = sorted(self._imports.values(), key=lambda line: (not line.startswith("import "), line))
        parts = ["\n".join(imports)]
        if self._constants:
            parts.append("\n".join(self._constants))
        parts.extend(self._functions)
        if self._late_constants:
            parts.append("\n".join(self._late_constants))
        return "\n\n\n".join(p.rstrip() for p in parts if p.strip()) + "\n"


def _import_line(module: types.ModuleType, name: str) -> str:
    return f"import {module.__name__}" if name == module.__name__ else f"import {module.__name__} as {name}"
