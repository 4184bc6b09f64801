"""The recall console page for quality staff. It is a static shell: everything it shows comes from
the JSON API, called in the browser with the quality key (static/console.js), so the page itself
holds no data and needs no key."""

from __future__ import annotations

from cradletrace.scanner_web.pages import _env, strings


def render_console(lang: str) -> str:
    return _env().get_template("console.html").render(t=strings()[lang], lang=lang)
