"""The corpus run's reports: the results file, the matrix, the pass rates, JSON and Markdown.

Why a module of its own: run.py decides what to run; this module only reads records (one dict
per cell, as run.py appends them to OUT/results.jsonl) and renders them, so a matrix can be
re-printed from a results file without running anything (`run.py --report-only`).

A record's key is (row, target, column): row is the model (for Keras cases the `.keras` source,
and `NAME (savedmodel)` for the SavedModel source), column is "modelport" or "anchor". The
latest record of a key wins, so a `--fresh` re-run of some cells supersedes their old results.
"""

from __future__ import annotations

import json
import os
from typing import Iterable

STATUSES = ("valid", "parity failed", "conversion failed", "usage error", "missing library", "timeout", "crashed",
            "n/a")
SHORT_CAUSE = 44


def key(record: dict) -> tuple[str, str, str]:
    return record["row"], record["target"], record["column"]


def load(path: str) -> dict[tuple[str, str, str], dict]:
    """The latest record of every cell in a JSON-lines results file (a torn last line is skipped)."""
    records: dict[tuple[str, str, str], dict] = {}
    if not os.path.isfile(path):
        return records
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # an interrupted write: that cell is simply run again
            records[key(record)] = record
    return records


def append(path: str, record: dict) -> None:
    """Append one record and make it durable: an interrupted run loses at most the running cell."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def cell_text(record: dict | None, width: int = SHORT_CAUSE) -> str:
    if record is None:
        return "-"
    status = record["status"]
    if status in ("valid", "n/a"):
        return status
    cause = (record.get("short") or record.get("cause") or "").strip()
    if not cause:
        return status
    cause = cause if len(cause) <= width else cause[: width - 1] + "…"
    return f"{status}: {cause}"


def rates(records: Iterable[dict], targets: list[str], columns: list[str]) -> dict:
    """Per target and column: cells run (n/a excluded), valid, and the pass rate."""
    out: dict = {}
    records = list(records)
    for target in targets:
        out[target] = {}
        for column in columns:
            cells = [r for r in records if r["target"] == target and r["column"] == column and r["status"] != "n/a"]
            valid = sum(r["status"] == "valid" for r in cells)
            out[target][column] = {"cells": len(cells), "valid": valid,
                                   "rate": round(valid / len(cells), 4) if cells else None}
    return out


def _headers(targets: list[str], columns: list[str]) -> list[tuple[str, str, str]]:
    return [(t, c, t if c == "modelport" else f"{t} (anchor)") for t in targets for c in columns]


def matrix_rows(records: dict, rows: list[tuple[str, str]], targets: list[str], columns: list[str],
                width: int = SHORT_CAUSE) -> tuple[list[str], list[list[str]]]:
    header = ["model", "library"] + [h for _, _, h in _headers(targets, columns)]
    body = []
    for row, library in rows:
        body.append([row, library] + [cell_text(records.get((row, t, c)), width) for t, c, _ in _headers(targets, columns)])
    return header, body


def _rate_text(r: dict) -> str:
    if not r["cells"]:
        return "-"
    return f"{r['valid']}/{r['cells']} ({100 * r['rate']:.0f}%)"


def text_table(records: dict, rows, targets, columns) -> str:
    header, body = matrix_rows(records, rows, targets, columns)
    selected = [records[k] for k in records if k[0] in {r for r, _ in rows}]
    rate = rates(selected, targets, columns)
    footer = ["pass rate", ""] + [_rate_text(rate[t][c]) for t, c, _ in _headers(targets, columns)]
    table = [header] + body + [footer]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]

    def fmt(line):
        return "  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule] + [fmt(line) for line in body] + [rule, fmt(footer)])


def rates_text(records: dict, rows, targets, columns) -> str:
    selected = [records[k] for k in records if k[0] in {r for r, _ in rows}]
    rate = rates(selected, targets, columns)
    lines = []
    for t in targets:
        parts = [f"{c} {_rate_text(rate[t][c])}" for c in columns]
        lines.append(f"{t:10s} " + ", ".join(parts))
    return "\n".join(lines)


def causes_text(records: dict, rows, targets, columns) -> str:
    """Every cell that is not valid, with its full cause, operator, library and attempts."""
    lines = []
    for row, _ in rows:
        for t in targets:
            for c in columns:
                r = records.get((row, t, c))
                if r is None or r["status"] in ("valid", "n/a"):
                    continue
                extra = []
                if r.get("operator"):
                    extra.append(f"operator {r['operator']}")
                if r.get("failing_library"):
                    extra.append(f"library {r['failing_library']}")
                if r.get("attempts"):
                    extra.append("tried " + ", ".join(
                        (f"{a['edge']}:" if a.get("edge") else "") + f"{a.get('strategy')}={a.get('outcome')}"
                        for a in r["attempts"]))
                suffix = f" [{'; '.join(extra)}]" if extra else ""
                lines.append(f"{row} / {t} / {c}: {r['status']} (exit {r.get('exit_code')}): {r.get('cause') or ''}{suffix}")
    return "\n".join(lines)


def markdown(records: dict, rows, targets, columns) -> str:
    header, body = matrix_rows(records, rows, targets, columns, width=80)
    selected = [records[k] for k in records if k[0] in {r for r, _ in rows}]
    rate = rates(selected, targets, columns)
    footer = ["**pass rate**", ""] + [_rate_text(rate[t][c]) for t, c, _ in _headers(targets, columns)]

    def esc(cell: str) -> str:
        return cell.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in line) + " |" for line in body + [footer]]
    return "\n".join(lines) + "\n"


def write_json(path: str, records: dict, rows, targets, columns, meta: dict) -> None:
    selected = [records[k] for k in sorted(records) if k[0] in {r for r, _ in rows} and k[1] in targets
                and k[2] in columns]
    data = {**meta, "targets": targets, "columns": columns, "rows": [r for r, _ in rows],
            "rates": rates(selected, targets, columns), "results": selected}
    _atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_markdown(path: str, records: dict, rows, targets, columns) -> None:
    _atomic_write(path, markdown(records, rows, targets, columns))


def _atomic_write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
