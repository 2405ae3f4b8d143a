"""Load a SavedModel as TensorFlow Serving does, and answer the request bodies written for it.

TF Serving loads the meta graph tagged `serve` and serves its signatures, `serving_default` unless
a request names another; it takes the request's tensors by the signature's input names and checks
their dtypes and dims against the signature. No TF Serving server can be installed here (none on
PyPI, none in Debian), so this worker does what its loader does with TensorFlow itself, inside the
sandbox: it reads the meta graph and the signature def from saved_model.pb, refuses a graph that
touches files (modelport/io_ops.py), loads the model with tags={"serve"}, parses the REST body
(request.json) and the gRPC PredictRequest (predict_request.json, protobuf JSON mapping) back, checks
them against the signature, and runs the REST body's inputs through the signature.
"""

from __future__ import annotations

import json
import os
import sys

SIGNATURE = "serving_default"


def check_job(job: dict) -> dict:
    import numpy as np

    from modelport.errors import UsageError
    from modelport.io_ops import graph_io_ops, refuse
    from modelport.serving.requests import rest_body_feed

    import tensorflow as tf
    from tensorflow.python.saved_model import loader_impl

    path = job["savedmodel"]
    saved = loader_impl.parse_saved_model(path)
    graphs = [mg for mg in saved.meta_graphs if "serve" in mg.meta_info_def.tags]
    if not graphs:
        raise UsageError(f"{job['label']}: no meta graph tagged 'serve', which TF Serving loads "
                         f"(tags: {[list(mg.meta_info_def.tags) for mg in saved.meta_graphs]})")
    sigs = graphs[0].signature_def
    if SIGNATURE not in sigs:
        raise UsageError(f"{job['label']}: no {SIGNATURE!r} signature, the one TF Serving answers by default "
                         f"(has: {', '.join(sigs) or 'none'})")
    sig = sigs[SIGNATURE]
    signature = {"method": sig.method_name,
                 "inputs": {k: _spec(tf, v) for k, v in sig.inputs.items()},
                 "outputs": {k: _spec(tf, v) for k, v in sig.outputs.items()}}
    model = tf.saved_model.load(path, tags=["serve"])
    fn = model.signatures[SIGNATURE]
    refuse(job["label"], graph_io_ops(fn.graph.as_graph_def()))  # before it runs

    with open(job["rest"]) as f:
        body = json.load(f)
    if body.get("signature_name", SIGNATURE) != SIGNATURE:
        raise UsageError(f"request.json names signature {body.get('signature_name')!r}")
    dtypes = {k: v["dtype"] for k, v in signature["inputs"].items()}
    feeds = rest_body_feed(body, dtypes)
    _fits(signature["inputs"], feeds, "request.json")
    grpc = _grpc_check(job, feeds, signature)

    out = fn(**{k: tf.constant(v) for k, v in feeds.items()})
    answers = {k: v.numpy() for k, v in out.items()}
    for k, a in answers.items():
        want = signature["outputs"].get(k)
        if want is None or not _dims_fit(want["shape"], list(a.shape)) or want["dtype"] != a.dtype.name:
            raise UsageError(f"{job['label']}: output {k!r} came back {a.dtype.name}{list(a.shape)}, the signature "
                             f"says {want}")
    out_path = os.path.join(os.path.dirname(job["rest"]), "answers.npz")
    np.savez(out_path, **answers)
    return {"signature": signature, "answers": out_path, "grpc": grpc, "tensorflow": tf.__version__}


def _spec(tf, info) -> dict:
    dims = None if info.tensor_shape.unknown_rank else [int(d.size) for d in info.tensor_shape.dim]
    return {"name": info.name, "dtype": tf.dtypes.as_dtype(info.dtype).name, "shape": dims}


def _dims_fit(declared, shape) -> bool:
    return declared is None or (len(declared) == len(shape) and all(d in (-1, s) for d, s in zip(declared, shape)))


def _fits(inputs: dict, feeds: dict, what: str) -> None:
    from modelport.errors import UsageError

    if set(feeds) != set(inputs):
        raise UsageError(f"{what}: inputs {sorted(feeds)} do not match the signature's {sorted(inputs)}")
    for k, spec in inputs.items():
        a = feeds[k]
        if a.dtype.name != spec["dtype"] or not _dims_fit(spec["shape"], list(a.shape)):
            raise UsageError(f"{what}: input {k!r} is {a.dtype.name}{list(a.shape)}, the signature takes "
                             f"{spec['dtype']}{spec['shape']}")


def _grpc_check(job: dict, feeds: dict, signature: dict) -> str:
    """Parse predict_request.json back into a PredictRequest (tensorflow-serving-api's protos when
    installed) and check it carries the same tensors as the REST body."""
    from modelport.errors import UsageError

    try:
        from google.protobuf import json_format
        from tensorflow_serving.apis import predict_pb2
    except ImportError:
        return "not parsed (tensorflow-serving-api is not installed)"
    import numpy as np
    import tensorflow as tf

    with open(job["grpc"]) as f:
        request = json_format.Parse(f.read(), predict_pb2.PredictRequest())
    if request.model_spec.signature_name != SIGNATURE or request.model_spec.name != job["name"]:
        raise UsageError(f"predict_request.json: model_spec {request.model_spec} does not name {job['name']}/{SIGNATURE}")
    got = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    _fits(signature["inputs"], got, "predict_request.json")
    for k, a in got.items():
        if not np.array_equal(a, feeds[k]):
            raise UsageError(f"predict_request.json: input {k!r} differs from request.json's")
    with open(job["grpc_text"], "w") as f:  # the same request in text format (what a test client reads)
        from google.protobuf import text_format

        f.write(text_format.MessageToString(request))
    return "parsed as tensorflow.serving.PredictRequest"


def main(job_path: str, result_path: str) -> int:
    from modelport.workers.shell import run_job

    return run_job(job_path, result_path, check_job)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
