"""How a worker process ended, in words, for the three places that run one (convert and validate
workers, bench workers, batch jobs): one wording, one out-of-memory hint."""

from __future__ import annotations

import signal


def describe_exit(code: int | None) -> str:
    """'signal SIGABRT' for a process a signal ended (SIGKILL adds that the out-of-memory killer
    is the usual sender), else 'exit status N'."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal number {-code}"
        hint = " (killed from outside, e.g. by the out-of-memory killer)" if name == "SIGKILL" else ""
        return f"signal {name}{hint}"
    return f"exit status {code}"
