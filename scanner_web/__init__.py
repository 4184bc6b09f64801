"""The consumer scan page (Chinese by default, English on request), rendered from a ScanView.

Static files live in ``static/`` and are served by the API at /static; no CDN at run time.
"""

__all__ = ["console", "pages"]
