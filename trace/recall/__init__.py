"""Getting bad product back: trace it, hold it, recall it, report it.

``genealogy``: forward and backward traces over lots, shipments, items and scans.
``holds``: automatic holds after a failed test or an excursion (recall proposals), and releasing them.
``recalls``: starting, listing and closing recalls; a recall's scope from a forward trace.
``status``: what a scan shows of a lot (its active recall and hold, in one round trip).
``clock``: the time from trigger to located and started, against the two-hour rule.
``report``: the sortable traceability spreadsheet (FSMA 204 key data elements) as JSON, CSV and XLSX;
not the formula recall report (FSMA 204's Food Traceability List does not include infant formula).
``documents``: the recall's reports from its ledger (21 CFR 107.240 written and status reports,
召回计划, 召回总结报告, the retail display notice); ``filings``: each kept and its digest anchored.
``notices``: each recall's notice on chain (prepared, sent and confirmed by the anchoring worker).
"""

__all__ = ["clock", "genealogy", "holds", "notices", "recalls", "report", "status"]
