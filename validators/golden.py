"""Golden data for `validate --save-outputs` / `--load-outputs`: inputs and reference outputs in one .npz.

Keys are SAMPLE/input/NAME and SAMPLE/output/NAME, so a later run replays the same inputs and
compares with the recorded outputs without running the reference again.
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
        if len(parts) != 3 or parts[1] not in ("input", "output") or not parts[0].isdigit():
            raise UsageError(f"--load-outputs {path}: unexpected key {key!r} (expected SAMPLE/input|output/NAME)")
        (feeds if parts[1] == "input" else outs).setdefault(int(parts[0]), {})[parts[2]] = data[key]
    if not outs:
        raise UsageError(f"--load-outputs {path}: no outputs in it")
    n = max(outs) + 1
    return [feeds.get(i, {}) for i in range(n)], [outs[i] for i in range(n)]


def save_golden(path: str, feeds: list[dict], outs: list[dict]) -> None:
    import io

    arrays = {}
    for i, (f, o) in enumerate(zip(feeds, outs)):
        arrays.update({f"{i}/input/{k}": v for k, v in f.items()})
        arrays.update({f"{i}/output/{k}": np.asarray(v) for k, v in o.items()})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_atomic_bytes(path, buf.getvalue())
