"""The anchor column: the same conversion glued by hand, as users do it without modelport.

Why: a pass rate alone says little; beside it, the rate of the raw libraries called the way their
READMEs show says what modelport adds (or loses). Each anchor is run in its own process by
run.py (converters crash and call sys.exit, and TensorFlow must not share a process with an
earlier torch._dynamo-less torch), writes one artifact, and prints one JSON line
`{"ok": bool, "artifact": path, "seconds": s, "error": first line}`. The artifact is then judged
by `modelport validate` against the same source, exactly like modelport's own cells.

What "by hand" means, per source and target (pytorch targets have no by-hand anchor):

| source | onnx | tflite | savedmodel |
|---|---|---|---|
| torch module | `torch.onnx.export(model, args, f, dynamo=True)` | that ONNX, then `onnx2tf.convert(input_onnx_file_path=f, output_folder_path=d, non_verbose=True)` (its default flatbuffer_direct backend), `*_float32.tflite` | the same onnx2tf call with `flatbuffer_direct_output_saved_model=True` |
| `.keras` | `tf2onnx.convert.from_keras(model, opset=18)` | `tf.lite.TFLiteConverter.from_keras_model(model)` | `model.export(path)` |
| SavedModel | `python -m tf2onnx.convert --saved-model DIR --output f --opset 18` | `tf.lite.TFLiteConverter.from_saved_model(DIR)` | – |

    python benchmarks/zoo/anchor.py --model resnet18 --target tflite --out /tmp/a/resnet18.tflite
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# (source kind, target) pairs that have an anchor; the others are "n/a" in the matrix.
ANCHORED = {("callable", "onnx"), ("callable", "tflite"), ("callable", "savedmodel"),
            ("keras", "onnx"), ("keras", "tflite"), ("keras", "savedmodel"),
            ("savedmodel", "onnx"), ("savedmodel", "tflite")}


def _offline() -> None:
    """The same rule as modelport's workers: nothing may reach the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from modelport.workers.offline import block_network

        block_network()
    except Exception:  # an older or newer modelport: the environment switches above still hold
        pass


def torch_to_onnx(name: str, out: str) -> str:
    import torch

    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from benchmarks.zoo import models, weights

    case = models.get(name)
    model = getattr(models, name)()
    feed = weights.random_inputs(case.shapes(), case.dtypes(), seed=0)
    torch.onnx.export(model, tuple(feed.values()), out, dynamo=True)
    return out


def onnx2tf_convert(onnx_path: str, out: str, saved_model: bool) -> str:
    import onnx2tf

    folder = out + ".onnx2tf"
    shutil.rmtree(folder, ignore_errors=True)
    kwargs = dict(input_onnx_file_path=onnx_path, output_folder_path=folder, non_verbose=True)
    if saved_model:
        kwargs["flatbuffer_direct_output_saved_model"] = True
    try:
        onnx2tf.convert(**kwargs)
    except SystemExit as e:  # onnx2tf exits on many error paths
        raise RuntimeError(f"onnx2tf exited with status {e.code}") from None
    if saved_model:
        if not os.path.isfile(os.path.join(folder, "saved_model.pb")):
            raise RuntimeError("onnx2tf wrote no saved_model.pb")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        for part in ("saved_model.pb", "variables", "assets", "fingerprint.pb"):
            if os.path.exists(os.path.join(folder, part)):
                shutil.move(os.path.join(folder, part), os.path.join(out, part))
    else:
        found = sorted(glob.glob(os.path.join(folder, "*_float32.tflite")))
        if not found:
            raise RuntimeError("onnx2tf wrote no *_float32.tflite")
        shutil.move(found[0], out)
    shutil.rmtree(folder, ignore_errors=True)
    return out


def keras_anchor(keras_file: str, target: str, out: str) -> str:
    import keras

    model = keras.saving.load_model(keras_file, compile=False)
    if target == "onnx":
        import tf2onnx

        tf2onnx.convert.from_keras(model, opset=18, output_path=out)
    elif target == "tflite":
        import tensorflow as tf

        data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
        with open(out, "wb") as f:
            f.write(data)
    elif target == "savedmodel":
        shutil.rmtree(out, ignore_errors=True)
        model.export(out, format="tf_saved_model", verbose=False)
    return out


def savedmodel_anchor(saved: str, target: str, out: str) -> str:
    if target == "onnx":
        proc = subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", saved, "--output", out,
                               "--opset", "18"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0 or not os.path.isfile(out):
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            errors = [ln for ln in lines if "Error" in ln or "error" in ln]
            raise RuntimeError(f"tf2onnx.convert exit {proc.returncode}: {(errors or lines or ['no output'])[-1][:300]}")
    elif target == "tflite":
        import tensorflow as tf

        data = tf.lite.TFLiteConverter.from_saved_model(saved).convert()
        with open(out, "wb") as f:
            f.write(data)
    return out


def run(args) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if args.source_kind == "callable":
        if args.target == "onnx":
            return torch_to_onnx(args.model, args.out)
        base = args.out[:-len("_savedmodel")] if args.out.endswith("_savedmodel") else os.path.splitext(args.out)[0]
        onnx_path = base + ".anchor-step.onnx"
        # torch (and torch._dynamo) first: TensorFlow imported before it crashes triton's import.
        torch_to_onnx(args.model, onnx_path)
        try:
            return onnx2tf_convert(onnx_path, args.out, saved_model=args.target == "savedmodel")
        finally:
            for leftover in (onnx_path, onnx_path + ".data"):
                if os.path.isfile(leftover):
                    os.remove(leftover)
    if args.source_kind == "keras":
        return keras_anchor(args.source, args.target, args.out)
    return savedmodel_anchor(args.source, args.target, args.out)


def first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[0][:300] if lines else ''}".strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--target", required=True, choices=["onnx", "tflite", "savedmodel"])
    parser.add_argument("--source-kind", default="callable", choices=["callable", "keras", "savedmodel"])
    parser.add_argument("--source", help="the .keras file or SavedModel folder (keras cases)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    _offline()
    start = time.perf_counter()
    result = {"ok": False, "artifact": os.path.abspath(args.out), "seconds": None, "error": None}
    try:
        run(args)
        result["ok"] = True
    except BaseException as e:  # noqa: BLE001 - any failure of the glue is the anchor's result
        result["error"] = first_line(e)
    result["seconds"] = round(time.perf_counter() - start, 3)
    sys.stdout.flush()
    print("ANCHOR-RESULT " + json.dumps(result), flush=True)
    return 0 if result["ok"] else 3


if __name__ == "__main__":
    sys.exit(main())
