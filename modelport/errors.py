"""Errors that carry their exit code, so every layer can fail with one clear line.

The CLI turns any `ModelportError` into its message on stderr and its `exit_code`; nothing else
in modelport decides exit codes. The codes are documented in the README.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARITY = 1
EXIT_USAGE = 2
EXIT_CONVERSION = 3
EXIT_UNAVAILABLE = 4


class ModelportError(Exception):
    """Base class: a message fit for one line of output, and the exit code it maps to."""

    exit_code = EXIT_CONVERSION

    def __init__(self, message: str, *, detail: str | None = None):
        super().__init__(message)
        self.message = message
        # Long output (a converter's log, a traceback) kept for --verbose, never the headline.
        self.detail = detail


class UsageError(ModelportError):
    """Bad input from the user: missing file, unknown format, malformed option, no route."""

    exit_code = EXIT_USAGE


class ConversionError(ModelportError):
    """A converter ran and failed, or wrote an artifact that its runtime cannot load or run.

    `attempts` lists every strategy tried when all of them failed (dicts: edge, strategy,
    outcome, reason, seconds), for the table the CLI shows.
    """

    exit_code = EXIT_CONVERSION

    def __init__(self, message: str, *, detail: str | None = None, attempts: list[dict] | None = None):
        super().__init__(message, detail=detail)
        self.attempts = attempts


class NotApplicable(ConversionError):
    """This strategy would change nothing for this model (e.g. no static loop to fold): the next
    one is tried at once; never shown as a failure."""


class NoStrategyHelps(ConversionError):
    """A cause that no other strategy of this step can change (it is in the source model, not in a
    preparation pass or a backend: e.g. an input's values decide a shape a trace would freeze). The
    search records it once and leaves this step's other strategies untried."""


class UnavailableError(ModelportError):
    """A library or runtime that this action needs is not installed or cannot be used."""

    exit_code = EXIT_UNAVAILABLE


class ParityError(ModelportError):
    """Outputs of an artifact differ from the reference beyond tolerance.

    `result` carries what was done anyway (convert writes a failing artifact, marked failed), so
    the CLI can still render it.
    """

    exit_code = EXIT_PARITY

    def __init__(self, message: str, *, detail: str | None = None, result=None):
        super().__init__(message, detail=detail)
        self.result = result


class RegressionError(ModelportError):
    """`modelport bench --baseline`: an artifact got slower than the baseline allows (exit 1, as a
    parity failure: the gate a CI job keys on)."""

    exit_code = EXIT_PARITY


def first_line(e: BaseException, limit: int | None = 200) -> str:
    """An exception's first non-empty line for a one-line error (torch's messages often start with
    a newline), or its type when it says nothing; cut to `limit` characters (None: whole)."""
    text = str(e).strip()
    return (text.splitlines()[0].strip() if text else type(e).__name__)[:limit]
