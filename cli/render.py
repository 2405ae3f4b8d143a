"""Rendering helpers shared by the commands: a console on stdout, JSON output, layout names."""

from __future__ import annotations

import json
import sys
from typing import Any


def console():
    import sys

    from rich.console import Console

    # Piped into a CI log there is no terminal width to follow; 80 columns would fold every table.
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def perm_text(perm: list[int] | None) -> str:
    if perm is None:
        return "same layout"
    named = {(0, 2, 3, 1): "NCHW->NHWC", (0, 2, 1): "NCW->NWC", (0, 2, 3, 4, 1): "NCDHW->NDHWC"}
    return named.get(tuple(perm), "axes " + ",".join(map(str, perm)))
