"""A parent's scan of a pack, start to finish: find the item, show its lot's records verified
against the chain, its recall and hold, and count the scan.

``service``: one scan on any store (``scan_item``) and its JSON answer. ``postgres``: the same
scan as one statement on PostgreSQL (``PgScanner``). ``view``: what the page shows, verified
(``scan_view``, ``view_json``). ``queries``: the rows a view is built from. ``cache``: verified
views kept between scans. ``history``: the code's scan history, the clone rule's verdict, opt-in
locations (sealed). ``places``: coarse city names for those locations, offline. ``logistics``: a
pallet's or case's page (contents, path, cold chain, lot flags), a place's (GLN), and the case and
pallet a can travelled in.
"""

__all__ = ["cache", "history", "logistics", "places", "postgres", "queries", "service", "view"]
