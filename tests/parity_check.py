"""A minimal parity check for the conversion tests: same inputs through source and artifact.

The validate issue builds the real validator; this helper only proves that converted artifacts
compute the same function as their source (through the manifest's I/O map), so that the
conversion tests fail on a wrong layout or wrong weights, not only on a crash.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from modelport.types import Format, IOMap
from modelport.validators.inputs import generate
from modelport.validators.runtimes import runner_for

ROOT = Path(__file__).resolve().parents[1]


def _inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def run_source(source: str, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the source model: fixtures/models.py callables in torch, files with their runner."""
    if source.endswith(".py") or ":" in source and not Path(source).exists():
        import torch

        sys.path.insert(0, str(ROOT / "fixtures"))
        import models  # noqa: E402  (the fixture networks)

        model = getattr(models, source.split(":")[1])()
        args = [torch.from_numpy(v) for v in feed.values()]
        with torch.no_grad():
            out = model(*args)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        names = ["output"] if len(outs) == 1 else [f"output_{i}" for i in range(len(outs))]
        return {n: o.numpy() for n, o in zip(names, outs)}
    if source.endswith(".keras"):
        import keras

        model = keras.saving.load_model(source, compile=False)
        out = model([feed[t.name] for t in model.inputs] if len(model.inputs) > 1 else feed[model.inputs[0].name])
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        from modelport.specs import keras_output_names

        return {n: np.asarray(o) for n, o in zip(keras_output_names(model), outs)}
    from modelport.formats import detect

    d = detect(source)
    runner = runner_for(source, d.format, d.flavor).load()
    if d.format == Format.PYTORCH:
        from modelport.types import TensorSpec

        runner._inputs = [TensorSpec(n) for n in feed]
    return runner.run(feed)


def assert_parity(source: str, artifact: Path, fmt: str, *, atol: float = 1e-4, rtol: float = 1e-3,
                  min_cosine: float | None = None, seed: int = 0) -> dict[str, float]:
    manifest = json.loads(Path(str(artifact) + ".modelport.json").read_text())
    io_map = IOMap.from_dict(manifest["io_map"])
    runner = runner_for(str(artifact), Format(fmt)).load()
    art_feed = generate(runner.input_specs(), seed=seed)
    src_feed = {}
    for m in io_map.inputs:
        x = art_feed[m.artifact]
        src_feed[m.source] = np.ascontiguousarray(x.transpose(_inverse(m.perm)) if m.perm else x)
    assert len(src_feed) == len(art_feed), (io_map, list(art_feed))
    got = runner.run(art_feed)
    want = run_source(source, src_feed)
    errors = {}
    for m in io_map.outputs:
        ref = want[m.source]
        ref = ref.transpose(m.perm) if m.perm else ref
        out = got[m.artifact]
        assert out.shape == ref.shape, (m, out.shape, ref.shape)
        if min_cosine is not None:
            a, b = out.astype(np.float64).ravel(), ref.astype(np.float64).ravel()
            cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
            assert cos >= min_cosine, (m.source, cos)
            errors[m.source] = cos
        else:
            np.testing.assert_allclose(out, ref, atol=atol, rtol=rtol, err_msg=f"output {m.source}")
            errors[m.source] = float(np.max(np.abs(out.astype(np.float64) - ref)))
    assert errors, "no outputs compared"
    return errors
