"""ONNX -> PyTorch: modelport's own converter, from an ONNX graph to an editable torch.fx module.

Why our own: onnx2torch is unmaintained and misses opset-18+ operators; onnx2tf's PyTorch output is
experimental (see ../shared/ARCHITECTURE.md, trap 6). The design is a registry of small operator
converters keyed by (domain, op type, first opset) (registry.py), and a builder (builder.py) that
walks the ONNX graph in order and asks each converter to emit torch calls into a torch.fx graph.
Initializers become named parameters (floats) and buffers (others) of the module, so the result
can be trained, edited and exported again.
"""

from modelport.converters.onnx_torch.builder import UnsupportedOperators, to_fx

__all__ = ["to_fx", "UnsupportedOperators"]
