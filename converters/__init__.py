"""Converters: detect formats, read I/O signatures, one module per conversion edge, and the planner.

Converters never import validators. Heavy libraries (torch, tensorflow, onnx2tf, tf2onnx) are
imported inside the edge functions, which run in worker subprocesses.
"""
