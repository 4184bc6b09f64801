"""Getting bad product back: trace it, hold it, recall it, report it.

``genealogy``: forward and backward traces over lots, shipments, items and scans.
``holds``: automatic holds after a failed test or an excursion (recall proposals), and releasing them.
``recalls``: starting, listing and closing recalls; a recall's scope from a forward trace.
``status``: what a scan shows of a lot (its active recall and hold, in one round trip).
``clock``: the time from trigger to located and started, against the two-hour rule.
``report``: the FSMA 204 recall report as JSON, CSV and XLSX.
``notices``: each recall's notice on chain (prepared, sent and confirmed by the anchoring worker).
"""

__all__ = ["clock", "genealogy", "holds", "notices", "recalls", "report", "status"]
