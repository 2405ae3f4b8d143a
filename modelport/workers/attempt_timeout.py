"""Bound one converter attempt in time: `modelport --attempt-timeout SECONDS ...`.

Why: a converter can hang on one strategy while the next strategy or route would work. Measured on
the corpus's wav2vec2: onnx2tf's `tf_converter` backend ran for more than 24 minutes on one
attempt (the cell's 45-minute limit ran out inside that strategy), while the pytorch -> savedmodel
route through StableHLO converts the same model and passes in 64 s. With a limit, the attempt is
stopped like a crashed one ("timed out after N s"), recorded in the table of attempts, and the
search goes on. Only edge workers (conversion attempts) are bounded this way; validation and bench
have their own limits.

No limit by default: a correct conversion of a large model can take many minutes, and a default
that kills it would turn a slow success into a failure. MODELPORT_ATTEMPT_TIMEOUT carries the
choice to every worker and batch job, as MODELPORT_MAX_MEMORY does.
"""

from __future__ import annotations

import os

from modelport.errors import UsageError

ENV_ATTEMPT_TIMEOUT = "MODELPORT_ATTEMPT_TIMEOUT"


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--attempt-timeout {text!r}: expected seconds, e.g. 600") from None
    if not value > 0:
        raise UsageError(f"--attempt-timeout {text!r}: must be more than 0 seconds")
    return value


def limit() -> float | None:
    """The limit in seconds, or None (no limit)."""
    text = os.environ.get(ENV_ATTEMPT_TIMEOUT, "").strip()
    return parse_seconds(text) if text else None
