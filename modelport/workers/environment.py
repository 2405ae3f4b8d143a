"""The environment of a worker process: quiet logs (trap 7) and no GPU for converters.

TensorFlow, onnx2tf and tf2onnx write to stdout/stderr directly and from C++, so the only
dependable way to keep their output out of modelport's is to give each worker process its own log
file (modelport/workers/spawn.py) and these settings, read by the libraries at import; the parent
shows the log with --verbose or on failure.
"""

from __future__ import annotations

import os

# Environment for worker processes: set before TensorFlow/absl are imported.
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "ABSL_MIN_LOG_LEVEL": "3",
    "GRPC_VERBOSITY": "ERROR",
    "TQDM_DISABLE": "1",
    "PYTHONWARNINGS": "ignore",
    # Offline switches honoured by hub-style libraries.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "NO_PROXY": "*",
    # Keep TensorFlow off any GPU a worker may see; conversions are CPU work.
    "CUDA_VISIBLE_DEVICES": os.environ.get("MODELPORT_CONVERT_CUDA_VISIBLE_DEVICES", ""),
}


def worker_env(gpu: bool = False) -> dict[str, str]:
    """The environment of a worker process: quiet and offline. A converter sees no GPU; a worker
    that runs models on the user's --device (validation, bench) keeps the GPUs it was given."""
    env = {**os.environ, **QUIET_ENV}
    if gpu:
        if "CUDA_VISIBLE_DEVICES" in os.environ:
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
        else:
            env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def quiet_python_loggers() -> None:
    """Silence Python-side loggers of the converter libraries (C++ logs go by QUIET_ENV)."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "absl", "tf2onnx", "onnx2tf", "torch.onnx", "onnxscript", "h5py", "keras"):
        logging.getLogger(name).setLevel(logging.ERROR)
