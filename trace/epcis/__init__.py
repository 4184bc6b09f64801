"""EPCIS 2.0 JSON-LD in and out: how cradletrace talks to other traceability systems.

``validation``: GS1's schema and the CBV 2.0 lists, every problem at once as a JSON pointer.
``profile``: the mapping, one EPCIS event <-> one cradletrace event; ``profile`` writes EPCIS
and ``read`` reads it back. ``capture``: a whole document recorded, all events or none.
``export``: a lot's history or a recall's scope as one document. ``binding``: GS1's REST binding's
capture jobs (kept requests, run all or nothing by a worker); ``httpsig``: who sent a capture (HTTP
Message Signatures, RFC 9421, over the body's Content-Digest). ``index``/``query``: the query side.

The package names its modules rather than re-exporting their functions: importing it costs
nothing, and a caller loads the schema validators only when it validates.
"""

__all__ = ["binding", "capture", "export", "httpsig", "profile", "read", "validation"]
