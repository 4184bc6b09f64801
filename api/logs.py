"""What the server's logs say about requests: no client address and no scanned code.

A scan's path names one pack (its serial), and the access log would tie it to the scanner's
address and the time: who holds which can, where, when. Unless the operator turns it on
(``Settings.log_clients``), uvicorn's access log shows ``-`` for the client and every path with
the serial, the scan id (the capability to attach a place to a scan) and the typed code of the
camera page's fallback replaced by markers; the server's own error lines use the same paths.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
_REDACTIONS = (
    # /01/<gtin>[/22/<cpv>][/10/<lot>]/21/<serial>: the serial, after the last /21/ (uvicorn logs the
    # decoded path, so a lot may hold "/" or be "21" itself)
    (re.compile(r"(/01/[^?#]*/21/)[^?#]*"), r"\1<serial>"),
    (re.compile(r"(/scans/)[^/?#]+"), r"\1<scan>"),
    (re.compile(r"(/ack/)[^/?#]+"), r"\1<token>"),  # a recall acknowledgement link: the right to answer
    # a subscription's confirm and unsubscribe links, a notice's "read the recall" link (recall/consumers.py)
    (re.compile(r"(/subscribe/confirm/|/unsubscribe/|/recall-notice/)[^/?#]+"), r"\1<token>"),
    (re.compile(r"([?&]code=)[^&#]*"), r"\1<code>"),
)


def redact(path: str) -> str:
    """``path`` (with its query) as the logs may show it."""
    for pattern, marker in _REDACTIONS:
        path = pattern.sub(marker, path)
    return path


class AccessLogFilter(logging.Filter):
    """Rewrites uvicorn's access records (client, method, path, HTTP version, status) in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _client, method, path, version, status = args
            record.args = ("-", method, redact(str(path)), version, status)
        return True


def install(log_clients: bool) -> None:
    """Put the filter on uvicorn's access logger (once), or take it off when clients are to be logged."""
    logger = logging.getLogger(ACCESS_LOGGER)
    for old in [f for f in logger.filters if isinstance(f, AccessLogFilter)]:
        logger.removeFilter(old)
    if not log_clients:
        logger.addFilter(AccessLogFilter())
