"""`file.py:callable` / `package.module:callable` sources: import them, call them seeded, and tell
a PyTorch one from a Keras one before any heavy library is imported.

A callable reference is code the user names on purpose, so importing it is their decision, as with
`python file.py` (it still runs confined, like every model, modelport/workers/sandbox.py).

Why seeded: a callable usually builds its layers with random initial weights (the classic
`nn.Linear(5, 10)` or `keras.layers.Dense(10)` example draws them from the global generator). A
conversion calls it in one worker and a later validation (`modelport validate file.py:build
model.onnx`, or a step judged again in the validation worker) calls it in another: unseeded, the two
would hold different weights and a right conversion would fail parity. Every call goes through
`call_seeded`, which seeds Python's, NumPy's, torch's and Keras's generators with one fixed value
first, so every worker builds the same model. A callable that seeds itself is unaffected.

Why an AST hint for the kind: the parent plans the route (a PyTorch callable goes through
torch.onnx, a Keras one through `model.export` to a SavedModel) before any worker runs, and must not
import torch or TensorFlow to do it (`modelport --help` and the planner stay fast). The file's own
imports say which library builds the model; where they do not (both imported, or neither, as when the
model comes from a sibling module), the sibling modules it imports are read too, and a file that is
still ambiguous is taken as PyTorch, the common case. If that guess is wrong the worker that calls it
says so in one line (`build_module` below names the library it got), never a wrong verdict.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
from typing import Any

from modelport.errors import UsageError

SEED = 0  # the one seed every callable source is built with (README, convert's SRC row)

_TORCH_ROOTS = {"torch", "torchvision", "timm", "transformers", "lightning", "pytorch_lightning"}
_KERAS_ROOTS = {"keras", "tensorflow", "tf_keras"}


def import_callable(ref: str):
    """The object `ref` names, its module imported (a `.py` file by path, with its folder on sys.path
    while it imports, so it can import its siblings)."""
    target, attr = ref.split(":", 1)
    if target.endswith(".py"):
        path = os.path.abspath(target)
        import hashlib

        # Unique per file: two packages' model.py must not replace each other in sys.modules.
        mod_name = (f"_modelport_src_{os.path.splitext(os.path.basename(path))[0]}_"
                    f"{hashlib.sha1(path.encode()).hexdigest()[:8]}")
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"{ref}: cannot import {target}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        sys.path.insert(0, os.path.dirname(path))  # let the file import its siblings
        no_cache, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ beside an artifact
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise UsageError(f"{ref}: importing {target} failed: {type(e).__name__}: {e}") from None
        finally:
            sys.path.remove(os.path.dirname(path))
            sys.dont_write_bytecode = no_cache
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise UsageError(f"{ref}: cannot import module {target!r} ({e})") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{ref}: {target} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def seed_everything(seed: int = SEED) -> None:
    """Seed every generator a model builder may draw its initial weights from. Only libraries that
    are already imported are seeded: the user's module has imported what it builds with."""
    import random

    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(seed)  # seeds Python, NumPy and the backend's generator
    elif "tensorflow" in sys.modules:
        sys.modules["tensorflow"].random.set_seed(seed)


def call_seeded(ref: str, factory):
    """`factory()` with every generator seeded first (see the module docstring): the same model in
    every worker. A UsageError names the reference when the call raises."""
    seed_everything()
    try:
        return factory()
    except Exception as e:
        raise UsageError(f"{ref}: calling it failed: {type(e).__name__}: {e}") from None


def library_of(obj) -> str | None:
    """"pytorch" or "keras" by the classes an object is built from (no import needed), else None."""
    for cls in type(obj).__mro__:
        module = cls.__module__ or ""
        if cls.__name__ == "Module" and module.startswith("torch.nn"):
            return "pytorch"
        if cls.__name__ in ("Model", "Layer") and (module.startswith("keras") or module.startswith("tf_keras")
                                                   or module.startswith("tensorflow")):
            return "keras"
    return None


def callable_kind(ref: str) -> str:
    """"keras" when the file behind `ref` (or the sibling modules it imports) builds with Keras or
    TensorFlow and not torch, else "pytorch" (see the module docstring on why a hint is enough)."""
    target = ref.split(":", 1)[0]
    if not target.endswith(".py"):  # `keras.applications:MobileNetV2`, `torchvision.models:resnet18`
        known = _kind({target.split(".")[0]})
        if known:
            return known
    path = target if target.endswith(".py") else _module_file(target)
    if path is None:
        return "pytorch"
    roots, siblings = _imports(path)
    kind = _kind(roots)
    folder = os.path.dirname(os.path.abspath(path))
    for name in siblings if kind is None else ():
        sibling = os.path.join(folder, *name.split(".")) + ".py"
        if os.path.isfile(sibling):
            roots |= _imports(sibling)[0]
    return _kind(roots) or "pytorch"


def _kind(roots: set[str]) -> str | None:
    torch, keras = bool(roots & _TORCH_ROOTS), bool(roots & _KERAS_ROOTS)
    if keras and not torch:
        return "keras"
    if torch and not keras:
        return "pytorch"
    return None


def _imports(path: str) -> tuple[set[str], set[str]]:
    """(top-level package names imported anywhere in the file, modules imported by name that may be
    its siblings). A file that does not parse gives nothing: importing it reports the error."""
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return set(), set()
    roots, names = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                roots.add(alias.name.split(".")[0])
                names.add(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
            names.add(node.module)
    return roots, names


def _module_file(module: str) -> str | None:
    """The source file of an importable module, found without importing anything: find_spec of a
    top-level name reads only the file system, and the rest of a dotted name is walked by hand
    (find_spec of `a.b` would run `a/__init__.py`, which may import torch into the parent)."""
    parts = module.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if len(parts) == 1:
        origin = spec.origin
        return origin if origin and origin.endswith(".py") else None
    for folder in spec.submodule_search_locations or []:
        base = os.path.join(folder, *parts[1:])
        for candidate in (base + ".py", os.path.join(base, "__init__.py")):
            if os.path.isfile(candidate):
                return candidate
    return None


def build_keras(ref: str):
    """The Keras model a `file.py:callable` builds, seeded: Keras on the TensorFlow backend (the
    backend modelport exports and runs Keras models with)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    factory = import_callable(ref)
    # Keras names layers from a per-process counter (dense, dense_1, ...): a second build in the same
    # worker (the edge, then the validation) would name its outputs dense_2, dense_3. A fresh session
    # per build gives every build the same names, so outputs pair by name across workers.
    keras.backend.clear_session()
    model = factory if isinstance(factory, keras.Model) else call_seeded(ref, factory)
    if not isinstance(model, keras.Model):
        kind = "a torch.nn.Module, but its file imports Keras or TensorFlow and not torch" \
            if library_of(model) == "pytorch" else type(model).__name__
        raise UsageError(f"{ref}: returned {kind}, not a Keras model (keras.Model)")
    try:
        model.inputs  # an unbuilt model (no input shape anywhere) has none, and cannot be exported
    except (AttributeError, ValueError) as e:
        raise UsageError(f"{ref}: the Keras model has no inputs yet ({str(e).splitlines()[0][:120]}): "
                         "start it with keras.Input(shape=...) or give its first layer input_shape=") from None
    if not getattr(model, "inputs", None):
        raise UsageError(f"{ref}: the Keras model has no inputs yet: start it with keras.Input(shape=...)")
    return model
