"""Operator converters, one module per family; each registers itself with registry.register."""
