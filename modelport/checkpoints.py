"""Read the weights out of a checkpoint (`--weights`): a plain `state_dict`, a `{"state_dict": ...}`
training checkpoint, or a PyTorch Lightning `.ckpt`, without running anything it pickled.

Why not only `torch.load(weights_only=True)`: that is the first try, and most files pass it. A
Lightning checkpoint also holds the run's hyper-parameters, callback and loop states, where users put
their own objects (an enum, a Path, a namespace, a loss module); torch's safe unpickler then refuses
the whole file, although the weights in it are plain tensors. The second try reads the same pickle
with torch's own allowlist (`torch._weights_only_unpickler`'s globals: tensors, storages, dtypes,
OrderedDict...) and turns every other class or function it names into an inert `Pickled` record:
the record keeps the name and is never called or imported, so nothing the file names runs. A
`state_dict` entry that is such a record (an object, not a tensor) is refused in one line.

Why prefix stripping: a LightningModule holds the network as an attribute (`self.model = Net()`), so
its `state_dict` keys read `model.fc1.weight` where the bare network has `fc1.weight`; so do
`nn.DataParallel` (`module.`) and `torch.compile` (`_orig_mod.`). The prefix to drop is the one after
which the keys are exactly the model's (other parts of the LightningModule, e.g. a metric's
buffers, are left out and counted).
"""

from __future__ import annotations

import _compat_pickle  # the stdlib's Python 2 -> 3 module names, which pickle itself uses
import pickle

from modelport.errors import UsageError, first_line


class Pickled:
    """What an unpickled object outside torch's allowlist becomes: its name, never its code."""

    qualname = "?"

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __repr__(self):
        return f"<pickled {self.qualname}>"


def _record_class(module: str, name: str) -> type:
    return type("Pickled", (Pickled,), {"qualname": f"{module}.{name}"})


class _InertUnpickler(pickle.Unpickler):
    allowed: dict = {}

    def find_class(self, module, name):
        # torch.save pickles with protocol 2, which names Python 2's modules (what fix_imports maps)
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        found = self.allowed.get(f"{module}.{name}")
        return found if found is not None else _record_class(module, name)


def _inert_load(file, **kwargs):
    return _InertUnpickler(file, **kwargs).load()


class _InertPickleModule:
    """The `pickle_module` torch.load takes: its Unpickler resolves only torch's allowlisted globals,
    and so does its `load` (never pickle.load, which would resolve anything)."""

    Unpickler = _InertUnpickler
    load = staticmethod(_inert_load)
    __name__ = "modelport_inert_pickle"


def load_checkpoint(path: str) -> tuple[dict, str]:
    """(the state_dict, what kind of file it was) from `path`; a UsageError in one line otherwise."""
    import torch

    from modelport.archives import check_zip_file

    check_zip_file(path)  # torch.save writes a zip: hostile entries are refused before torch opens it
    try:
        state, kind = torch.load(path, map_location="cpu", weights_only=True), "state_dict"
    except Exception as safe_error:
        state, kind = _load_inert(path, safe_error), "checkpoint with pickled objects (not run)"
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        lightning = any(k.startswith("pytorch-lightning_version") or k == "lightning_version" for k in state)
        state, kind = state["state_dict"], "Lightning checkpoint" if lightning else "checkpoint's state_dict"
    if not isinstance(state, dict):
        raise UsageError(f"--weights {path}: expected a state_dict (a dict of tensors), got {type(state).__name__}")
    objects = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if objects:
        v = state[objects[0]]
        what = v.qualname if isinstance(v, Pickled) else type(v).__name__
        raise UsageError(f"--weights {path}: state_dict entry {objects[0]!r} is not a tensor but a pickled {what} "
                         "(refused: only tensors are loaded)")
    return state, kind


def _load_inert(path: str, safe_error: Exception) -> object:
    import torch

    try:
        from torch._weights_only_unpickler import _get_allowed_globals
    except ImportError:  # a torch without it: keep the safe loader's refusal
        _get_allowed_globals = None
    import zipfile

    if _get_allowed_globals is None or not zipfile.is_zipfile(path):  # only torch.save's zip format
        raise UsageError(f"--weights {path}: not a plain state_dict of tensors (refused to unpickle: "
                         f"{first_line(safe_error)[:200]})") from None
    _InertUnpickler.allowed = dict(_get_allowed_globals())
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_InertPickleModule)
    except Exception as e:
        raise UsageError(f"--weights {path}: not a readable checkpoint ({first_line(e)[:200]})") from None


def fit_keys(state: dict, wanted: set[str]) -> tuple[dict, str | None, int]:
    """(state with its keys as the model names them, the prefix dropped or None, entries left out).
    Unchanged when no prefix makes the keys exactly the model's: strict loading then says what differs."""
    if set(state) == wanted:
        return state, None, 0
    prefixes = set()
    for key in state:
        parts = key.split(".")
        prefixes.update(".".join(parts[:i]) + "." for i in range(1, len(parts)))
    for prefix in sorted(prefixes, key=len):
        stripped = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if set(stripped) == wanted:
            return stripped, prefix, len(state) - len(stripped)
    return state, None, 0
