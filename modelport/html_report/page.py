"""The skeleton of every HTML report: one self-contained page, escaped text, atomic write.

Self-contained is a promise a reviewer can rely on: the page's Content-Security-Policy allows no
script, no font and no fetch, only inline style and `data:` images, so a report opened from a CI
artifact shows the same thing offline and cannot phone home, whatever a model's names contain
(every text is escaped as well). The layout is one column that fits a phone: wide tables scroll
inside their own box, never the page. Hand-written rather than a template library (jinja2 is not
in the stack): a page is a dozen small fragments.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import os
from dataclasses import dataclass, field
from typing import Any, Iterable

import modelport
from modelport.report_text import clean, write_report

# No script, no network: only this page's own style and images carried in it.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_CSS = """
:root{--fg:#1b1f24;--muted:#57606a;--bg:#fff;--panel:#f6f8fa;--line:#d0d7de;--pass:#1a7f37;--fail:#cf222e;--warn:#9a6700}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--panel:#161b22;--line:#30363d;
--pass:#3fb950;--fail:#f85149;--warn:#d29922}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:72rem;padding:0 .9rem 3rem;font:16px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;
color:var(--fg);background:var(--bg);overflow-wrap:break-word}
h1,h3,p,li,summary{overflow-wrap:anywhere}
header{padding:1rem 0 .5rem;border-bottom:1px solid var(--line)}
h1{font-size:1.35rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .5rem}h3{font-size:1rem;margin:1.1rem 0 .4rem}
.verdict{display:inline-block;padding:.25rem .7rem;border-radius:1rem;font-weight:600;color:#fff}
.verdict.pass{background:var(--pass)}.verdict.fail{background:var(--fail)}.verdict.none{background:var(--muted)}
.muted{color:var(--muted)}.pass{color:var(--pass)}.fail{color:var(--fail)}.warn{color:var(--warn)}
.verdict.pass,.verdict.fail{color:#fff}
nav{margin:.6rem 0;font-size:.95rem}nav a{margin-right:.9rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.4rem 0;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:max-content;min-width:100%;font-size:.9rem}
th,td{padding:.35rem .55rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top;white-space:nowrap}
th{background:var(--panel)}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.wrap{white-space:normal;min-width:14rem;max-width:34rem}
tr.fail td{background:color-mix(in srgb,var(--fail) 9%,transparent)}
code,pre{font:.85rem/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:var(--panel);padding:.6rem;border-radius:6px;white-space:pre-wrap;overflow-wrap:anywhere;margin:.4rem 0}
ul{padding-left:1.2rem}li{margin:.15rem 0}
details{margin:.5rem 0}summary{cursor:pointer;font-weight:600}
img.plot{max-width:100%;height:auto;background:#fff;border-radius:6px;border:1px solid var(--line)}
footer{margin-top:2rem;font-size:.85rem;color:var(--muted)}
"""


def esc(text: Any) -> str:
    """Text for the page: terminal colour codes dropped, HTML escaped."""
    return html.escape(clean("" if text is None else text), quote=True)


def mark(passed: bool | None) -> str:
    """A verdict cell: PASS / FAIL coloured, with a sign (readable without colour)."""
    if passed is None:
        return '<span class="muted">-</span>'
    return '<span class="pass">✔ PASS</span>' if passed else '<span class="fail">✘ FAIL</span>'


def table(columns: Iterable[str], rows: Iterable[tuple[list[str], bool]], numeric: Iterable[str] = (),
          wrap: Iterable[str] = ()) -> str:
    """A table in its own scrolling box, as wide as its cells need. Each row is (cells as HTML,
    failed); failed rows are tinted. Cells stay on one line, except in the columns named in `wrap`
    (reasons, messages), which wrap at a readable width; `numeric` columns are right-aligned."""
    columns = list(columns)
    css = {i: "num" for i, c in enumerate(columns) if c in set(numeric)}
    css.update({i: "wrap" for i, c in enumerate(columns) if c in set(wrap)})
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for cells, failed in rows:
        tds = "".join(f'<td class="{css[i]}">{c}</td>' if i in css else f"<td>{c}</td>" for i, c in enumerate(cells))
        body.append(f'<tr class="fail">{tds}</tr>' if failed else f"<tr>{tds}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def bullet_list(items: Iterable[str], css: str = "") -> str:
    """Items already escaped (HTML); an empty list gives nothing."""
    items = list(items)
    if not items:
        return ""
    cls = f' class="{css}"' if css else ""
    return f"<ul{cls}>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def image(data: bytes, mime: str, alt: str) -> str:
    """An image carried in the page (a data: URI), so the report needs no file beside it."""
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img class="plot" alt="{esc(alt)}" src="data:{mime};base64,{encoded}">'


@dataclass
class Page:
    """One report: a title, a verdict, sections in order (each listed in the page's contents)."""

    title: str
    verdict: bool | None = None
    verdict_text: str = ""
    subtitle: str = ""
    sections: list[tuple[str, str, str]] = field(default_factory=list)  # (anchor, heading, HTML body)

    def add(self, anchor: str, heading: str, body: str) -> None:
        if body:
            self.sections.append((anchor, heading, body))

    def render(self) -> str:
        badge = {True: "pass", False: "fail", None: "none"}[self.verdict]
        nav = " ".join(f'<a href="#{a}">{esc(h)}</a>' for a, h, _ in self.sections)
        body = "".join(f'<section id="{a}"><h2>{esc(h)}</h2>{b}</section>' for a, h, b in self.sections)
        created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        subtitle = f'<p class="muted">{esc(self.subtitle)}</p>' if self.subtitle else ""
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
                '<meta name="viewport" content="width=device-width,initial-scale=1">'
                f"<title>{esc(self.title)}</title><style>{_CSS}</style></head><body>"
                f"<header><h1>{esc(self.title)}</h1>{subtitle}"
                f'<p><span class="verdict {badge}" id="verdict">{esc(self.verdict_text)}</span></p>'
                f"<nav>{nav}</nav></header>{body}"
                f"<footer>modelport {esc(modelport.__version__)} · written {esc(created)}</footer>"
                "</body></html>\n")


def write(page: Page, path: str | os.PathLike) -> str:
    """Write the page atomically (a temporary file, then rename); returns the path."""
    write_report(path, page.render())
    return str(path)
