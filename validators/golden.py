"""Golden data for `validate --save-outputs` / `--load-outputs`: inputs and reference outputs in one .npz.

Keys are SAMPLE/input/NAME and SAMPLE/output/NAME, so a later run replays the same inputs and
compares with the recorded outputs without running the reference again. Samples at other sizes of
the dynamic dims (validators/dynamic_sizes.py) are kept as sK/input/NAME and sK/output/NAME: a
later step of a conversion proves its own dynamic dims on them, matched by their shapes.
"""

from __future__ import annotations

import numpy as np

from modelport.errors import UsageError
from modelport.placement import write_atomic_bytes


def load_golden(path: str) -> tuple[list[dict], list[dict]]:
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:
        raise UsageError(f"--load-outputs {path}: not a readable .npz ({type(e).__name__})") from None
    feeds: dict[int, dict] = {}
    outs: dict[int, dict] = {}
    for key in data.files:
        parts = key.split("/", 2)
        if len(parts) == 3 and (parts[0] == "dims" or parts[0][:1] == "s" and parts[0][1:].isdigit()):
            continue  # a sample at other sizes or the names of the dynamic dims: load_sized
        if len(parts) != 3 or parts[1] not in ("input", "output") or not parts[0].isdigit():
            raise UsageError(f"--load-outputs {path}: unexpected key {key!r} (expected SAMPLE/input|output/NAME)")
        (feeds if parts[1] == "input" else outs).setdefault(int(parts[0]), {})[parts[2]] = data[key]
    if not outs:
        raise UsageError(f"--load-outputs {path}: no outputs in it")
    n = max(outs) + 1
    return [feeds.get(i, {}) for i in range(n)], [outs[i] for i in range(n)]


def load_sized(path: str) -> list[tuple[dict, dict]]:
    """The (inputs, outputs) samples at other sizes that `save_golden` kept; [] when none."""
    data = np.load(path, allow_pickle=False)
    found: dict[int, tuple[dict, dict]] = {}
    for key in data.files:
        parts = key.split("/", 2)
        if len(parts) == 3 and parts[0][:1] == "s" and parts[0][1:].isdigit() and parts[1] in ("input", "output"):
            feed, out = found.setdefault(int(parts[0][1:]), ({}, {}))
            (feed if parts[1] == "input" else out)[parts[2]] = data[key]
    return [found[k] for k in sorted(found)]


def load_dim_names(path: str) -> dict[str, list[str]]:
    """{input: a name per axis ("" where the dim is static)}, as save_golden kept them; {} when none."""
    data = np.load(path, allow_pickle=False)
    return {k.split("/", 2)[2]: [str(x) for x in data[k]] for k in data.files if k.startswith("dims/input/")}


def save_golden(path: str, feeds: list[dict], outs: list[dict], sized: list[tuple[dict, dict]] = (),
                dim_names: dict[str, list[str]] | None = None) -> None:
    """`sized`: samples at other sizes of the dynamic dims; `dim_names`: those dims' names by input
    and axis, so that a later step names a dim as the first one did ("batch", not "image[0]")."""
    import io

    arrays = {}
    for i, (f, o) in enumerate(zip(feeds, outs)):
        arrays.update({f"{i}/input/{k}": v for k, v in f.items()})
        arrays.update({f"{i}/output/{k}": np.asarray(v) for k, v in o.items()})
    for i, (f, o) in enumerate(sized):
        arrays.update({f"s{i}/input/{k}": v for k, v in f.items()})
        arrays.update({f"s{i}/output/{k}": np.asarray(v) for k, v in o.items()})
    for name, names in (dim_names or {}).items():
        arrays[f"dims/input/{name}"] = np.array(names, dtype=str)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_atomic_bytes(path, buf.getvalue())
