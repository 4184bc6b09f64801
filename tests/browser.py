"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, for page tests.

Playwright's own browser download cannot work here, so the system Chromium is launched by
path with the flags this offline machine needs. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/test-all does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@contextmanager
def watched_page(context: object) -> Iterator[object]:
    """A new page of ``context`` that fails the test if the Content-Security-Policy blocked
    anything on it (Chromium reports each violation as a console error, and as a
    ``securitypolicyviolation`` event); the context is closed afterwards."""
    page = context.new_page()  # type: ignore[attr-defined]
    blocked: list[str] = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if m.type == "error" and "Content Security Policy" in m.text else None,
    )
    page.expose_function("reportViolation", lambda text: blocked.append(text))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "window.reportViolation(`${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`));"
    )
    try:
        yield page
        page.wait_for_timeout(100)  # events still on their way from the last page
        assert not blocked, f"the page broke its Content-Security-Policy: {blocked}"
    finally:
        context.close()  # type: ignore[attr-defined]


@pytest.fixture
def phone(browser: object) -> Iterator[object]:
    """A page sized like a cheap phone (360x740, 2x)."""
    with watched_page(browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2)) as page:  # type: ignore[attr-defined]
        yield page


def screenshot(page: object, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
