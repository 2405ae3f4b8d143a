"""Rendering helpers shared by the commands: a console on stdout, JSON output, layout names."""

from __future__ import annotations

import json
import sys
from typing import Any


def console(stderr: bool = False):
    from rich.console import Console

    # Piped into a CI log there is no terminal width to follow; 80 columns would fold every table.
    stream = sys.stderr if stderr else sys.stdout
    return Console(highlight=False, soft_wrap=True, width=None if stream.isatty() else 160, stderr=stderr)


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def perm_text(perm: list[int] | None) -> str:
    from modelport.layout import perm_name

    return perm_name(perm)
