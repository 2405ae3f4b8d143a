"""Text helpers every report writer shares (validate, bench and batch reports): one cleaning rule
for terminal colour codes, one escaping rule per format, and one atomic write.

They live here rather than in validators/reports.py so that the bench and batch reports use a
public module, not another module's private names.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

from modelport.placement import write_via_temp

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colour codes in a runtime's error text
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0 (ANSI escapes in logs)


def clean(text: object) -> str:
    """`text` without terminal colour codes."""
    return _ANSI.sub("", str(text))


def md_cell(text: Any) -> str:
    """A Markdown table cell: no newlines, no '|', no raw HTML."""
    return clean(text).replace("\r", " ").replace("\n", " ").replace("|", "\\|").replace("<", "&lt;")


def xml_text(text: Any) -> str:
    """Text that XML 1.0 accepts (ElementTree escapes the rest)."""
    return _XML_BAD.sub("?", clean(text))


def finite_or_none(value: Any) -> Any:
    """Strict JSON has no Infinity/NaN (severity is inf for a shape mismatch): write null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value


def write_report(path: str | os.PathLike, text: str) -> None:
    """Write a report atomically (temporary file, then rename), with the usual file mode."""
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    write_via_temp(path, write, "report")
