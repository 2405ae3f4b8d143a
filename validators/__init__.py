"""Validators: runners (one per runtime, one interface), inputs, and (next) parity and reports.

Validators never import converters' internals; they read artifacts and the shared model types.
"""
