"""modelport: convert models between PyTorch, ONNX, TensorFlow SavedModel and TFLite, and prove it.

This package root holds only what every layer shares (model types, errors, the public API entry
points). It must stay light: `modelport --help` imports it, and it must not pull in torch or
TensorFlow. Heavy libraries are imported inside the functions that need them.
"""

__version__ = "0.1.0"
