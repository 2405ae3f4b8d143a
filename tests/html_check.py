"""Open a modelport HTML report in headless Chromium (Debian's `chromium`, driven by Playwright)
and say what a reader sees: the rendered text, the verdict badge, the images actually decoded,
whether the page scrolls sideways on a phone, and every request the page made.

A screenshot of each page as it opens (phone width, whole page) lands in test-artifacts/html/ (or
$MODELPORT_TEST_ARTIFACTS/html/) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from conftest import ROOT

PHONE = {"width": 390, "height": 844}  # an iPhone 12-14 viewport, CSS pixels
ARTIFACTS = Path(os.environ.get("MODELPORT_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "html"


@dataclass
class Shown:
    # What a reader sees with every folded <details> opened (document.body.innerText: the rendered
    # text, not the markup); scroll_width, images and first_rows are read unfolded too.
    text: str
    verdict: str
    title: str
    scroll_width: int  # of the page at phone width; more than PHONE["width"] means sideways scrolling
    images: list[dict]  # {alt, width, height} as decoded by the browser
    requests: list[str] = field(default_factory=list)  # every URL the page asked for, itself included
    open_details: list[str] = field(default_factory=list)  # <details> unfolded as the page opens (their summaries)
    first_rows: list[str] = field(default_factory=list)  # the first body row of each table, as text
    screenshot: Path | None = None


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is missing: `make browser` installs it (apt-get install chromium)"
    return path


def show(page_path: Path, name: str) -> Shown:
    """Load page_path at phone width, offline, and read what it shows; keep a screenshot as `name`.png."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    requests: list[str] = []
    with sync_playwright() as p:
        # --no-sandbox: the suite runs as root in CI, where Chromium's own sandbox refuses to start.
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            page.screenshot(path=str(shot), full_page=True)  # as it opens: failed jobs unfolded, the rest folded
            opened = page.evaluate("() => [...document.querySelectorAll('details[open] > summary')].map(s => s.innerText)")
            page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
            facts = page.evaluate("""() => ({
                text: document.body.innerText,
                verdict: document.getElementById('verdict')?.innerText ?? '',
                title: document.title,
                scroll_width: document.documentElement.scrollWidth,
                images: [...document.images].map(i => ({alt: i.alt, width: i.naturalWidth, height: i.naturalHeight})),
                first_rows: [...document.querySelectorAll('tbody')].map(b => b.rows[0]?.innerText ?? ''),
            })""")
        finally:
            browser.close()
    return Shown(**facts, requests=requests, open_details=opened, screenshot=shot)


def assert_self_contained(shown: Shown, page_path: Path) -> None:
    """Nothing but the page itself was fetched (its images are data: URIs), and it fits a phone."""
    fetched = [u for u in shown.requests if not u.startswith("data:")]
    assert fetched == [page_path.resolve().as_uri()], fetched
    assert shown.scroll_width <= PHONE["width"], f"the page scrolls sideways on a phone: {shown.scroll_width} px"
    assert shown.screenshot is not None and shown.screenshot.stat().st_size > 10_000
