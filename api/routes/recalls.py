"""Holds and recalls over HTTP (quality staff): list and release holds, start a recall from a
forward trace that staff narrow or widen, watch its clock against the two-hour rule, close it,
and download its report (JSON, CSV, XLSX); generate, file and check its regulatory reports
(PDF, XLSX; recall/documents.py, recall/filings.py).

Every write is one transaction: a refused request (unknown lot, empty scope, a lot already under
recall, a hold already released) changes nothing. Who did it is the API key's name and id.
Conflicts with the current state (``StateConflictError``) answer 409 with a fixed ``detail`` per
kind (``api.errors.CONFLICTS``); the ``problems`` name the lot, hold or recall.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from cradletrace.api.deps import ChainDep, QualityDep, RawBody, RuntimeDep, SessionDep, WorkspaceDep, who
from cradletrace.api.errors import responses
from cradletrace.core.text import PlainText
from cradletrace.errors import InvalidInputError, Problem
from cradletrace.recall import documents, drill, effectiveness, filings, genealogy, holds, recalls
from cradletrace.recall import ledger as recall_ledger
from cradletrace.recall import report as recallreport
from cradletrace.store.states import RecallState

router = APIRouter(tags=["recalls"])

_STRICT = ConfigDict(extra="forbid")


class ClockOut(BaseModel):
    """Seconds from the triggering event to "affected lots located" and to "recall started"."""

    trigger_at: str | None
    located_at: str | None
    started_at: str | None
    to_located_s: float | None
    to_started_s: float | None
    rule_s: float = Field(description="The two-hour rule, in seconds")
    within_two_hours: bool | None = Field(description="null when there is no triggering event to count from")


class _Hold(BaseModel):
    id: int
    gtin: str
    lot: str
    reason: str = Field(description="Why the lot was held: failed test report or cold-chain excursion")
    trigger_event_id: int
    created_at: str | None


class HoldOut(_Hold):
    recall_id: int | None = Field(description="The active recall covering this lot; null means a recall proposal")
    clock: ClockOut


class HoldReleased(_Hold):
    released_at: str | None
    released_by: str | None
    release_reason: str | None


class RecallOut(BaseModel):
    id: int
    reason: str
    severity: str
    trigger_event_id: int | None
    trigger_text: str | None
    started_by: str
    started_at: str | None
    lots: list[str] = Field(description="GTIN/LOT of every lot in the recall")
    notice_digest: str
    notice_status: str = Field(description="prepared (stored, sent by the next anchoring run) or confirmed")
    tx_hash: str | None
    block: int | None
    status: Literal[RecallState.ACTIVE, RecallState.CLOSED]
    closed_at: str | None
    closed_by: str | None
    close_reason: str | None
    clock: ClockOut
    drill: bool = Field(description="A mock recall: never on chain, not on scan pages, notices say DRILL")
    regimes: list[str] = Field(
        description="Whose deadlines apply: us_107 (21 CFR 107.240), cn_measures (食品召回管理办法)"
    )
    cn_level: int | None = Field(description="食品召回管理办法 level 1-3")


class ScopeOut(BaseModel):
    lots: list[str]
    traced: list[str] = Field(description="Lots the forward trace found")
    added: list[str] = Field(description="Lots staff added beyond the trace")
    removed: list[str] = Field(description="Lots staff took out of the trace")


class RecallStarted(RecallOut):
    scope: ScopeOut


class ReasonIn(BaseModel):
    model_config = _STRICT
    reason: PlainText = Field(min_length=1, max_length=500, description="Why (kept with who and when)")


class RecallIn(BaseModel):
    """Scope = forward trace of ``trace_lot`` or ``trace_event`` (optional), plus ``lots``, minus ``exclude``."""

    model_config = _STRICT
    reason: PlainText = Field(min_length=1, max_length=2000, description="Shown on every affected pack's scan page")
    severity: str = Field(description="Recall class: I, II or III")
    trigger: PlainText | None = Field(
        default=None,
        max_length=200,
        description="Triggering event (id or full digest; its time starts the clock) or a short text",
    )
    trace_lot: str | None = Field(default=None, description="GTIN/LOT to trace forward from")
    trace_event: str | None = Field(
        default=None,
        description="Failed test report or excursion (id, digest or its first 8+ hex digits) to trace from",
    )
    lots: list[str] = Field(default=[], max_length=10_000, description="GTIN/LOT to add to the scope (widen)")
    exclude: list[str] = Field(default=[], max_length=10_000, description="GTIN/LOT to take out of the scope (narrow)")
    drill: bool = Field(
        default=False,
        description="A mock recall (needs trace_lot): the same workflow, marked a drill everywhere; "
        "no chain notice, no scan banner, no consumer notice, no holds",
    )
    regimes: list[Literal["us_107", "cn_measures"]] | None = Field(
        default=None, description="Whose deadlines apply (default both)"
    )
    cn_level: int | None = Field(
        default=None, ge=1, le=3, description="食品召回管理办法 level (default from the class)"
    )


class ReportOut(BaseModel):
    standard: str
    generated_at: str
    recall: RecallOut
    rows: list[dict[str, Any]] = Field(description="One per affected lot (transformation) and per shipment (shipping)")
    sites_to_notify: list[dict[str, Any]]
    consumers: dict[str, Any] = Field(
        description="Counts only: items scanned, scans, scans with consent; how to reach them"
    )
    counts: dict[str, int]


HoldId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Hold id (GET /holds)")]
RecallId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Recall id (GET /recalls)")]


def _now() -> datetime:
    return datetime.now(UTC)


def _lots(values: list[str], field: str) -> list[tuple[str, str]]:
    problems: list[Problem] = []
    out = []
    for i, v in enumerate(values):
        try:
            out.append(genealogy.parse_gtin_lot(v, f"{field}[{i}]"))
        except InvalidInputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidInputError(problems)
    return out


@router.get("/holds", response_model=list[HoldOut], responses=responses(401, 403, 422))
def list_holds(
    session: SessionDep,
    caller: QualityDep,
    proposals: Annotated[bool, Query(description="Only holds no active recall covers (recall proposals)")] = False,
) -> list[dict[str, Any]]:
    """Active holds (oldest first), each with its trigger and the clock since it."""
    return [h.to_json() for h in holds.list_holds(session, only_proposals=proposals)]


@router.post("/holds/{hold_id}/release", response_model=HoldReleased, responses=responses(401, 403, 404, 409, 422))
def release_hold(hold_id: HoldId, body: ReasonIn, session: SessionDep, caller: QualityDep) -> dict[str, Any]:
    """Lift a hold (the scan page's hold banner goes); who, when and why are recorded."""
    out = holds.release_hold(session, hold_id, reason=body.reason, released_by=who(caller), now=_now())
    session.commit()
    return out


@router.post("/recalls", status_code=201, response_model=RecallStarted, responses=responses(401, 403, 409, 422))
def start_recall(body: RecallIn, session: SessionDep, caller: QualityDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Start a recall now: every affected pack's scan page warns at once; the notice is anchored by the
    next anchoring run. All or nothing."""
    trace_lot = genealogy.parse_gtin_lot(body.trace_lot, "trace_lot") if body.trace_lot else None
    include, exclude = _lots(body.lots, "lots"), _lots(body.exclude, "exclude")
    if body.drill:
        if trace_lot is None:
            raise InvalidInputError(Problem("trace_lot", "expected the GTIN/LOT a drill traces forward from"))
        drill_recall, scope = drill.start_drill(
            session,
            trace_lot=trace_lot,
            by=who(caller),
            clock=_now,
            reason=body.reason,
            severity=body.severity,
            include=include,
            exclude=exclude,
            regimes=body.regimes,
            cn_level=body.cn_level,
        )
        assert drill_recall.id is not None
        out = {**recalls.get_recall(session, drill_recall.id).to_json(), "scope": scope.to_json()}
        session.commit()
        runtime.wake_notices()
        return out
    scope = recalls.build_scope(
        session, trace_lot=trace_lot, trace_event=body.trace_event, include=include, exclude=exclude
    )
    trigger = body.trigger if body.trigger is not None else body.trace_event
    recall = recalls.start_recall(
        session,
        lots=scope.lots,
        reason=body.reason,
        severity=body.severity,
        trigger=trigger,
        started_by=who(caller),
        now=_now(),
        regimes=body.regimes,
        cn_level=body.cn_level,
    )
    assert recall.id is not None
    out = {**recalls.get_recall(session, recall.id).to_json(), "scope": scope.to_json()}
    session.commit()
    runtime.wake_notices()  # the consignees' notices go now, not at the next interval
    return out


@router.get("/recalls", response_model=list[RecallOut], responses=responses(401, 403))
def list_recalls(session: SessionDep, caller: QualityDep) -> list[dict[str, Any]]:
    """Every recall (oldest first) with its lots, notice status and clock."""
    return [v.to_json() for v in recalls.list_recalls(session)]


@router.get("/recalls/{recall_id}", response_model=RecallOut, responses=responses(401, 403, 404, 422))
def get_recall(recall_id: RecallId, session: SessionDep, caller: QualityDep) -> dict[str, Any]:
    """One recall with its lots, notice status and clock against the two-hour rule."""
    return recalls.get_recall(session, recall_id).to_json()


@router.post("/recalls/{recall_id}/close", response_model=RecallOut, responses=responses(401, 403, 404, 409, 422))
def close_recall(recall_id: RecallId, body: ReasonIn, session: SessionDep, caller: QualityDep) -> dict[str, Any]:
    """End a recall (goods retrieved): scan pages stop warning; who, when and why are recorded."""
    view = recalls.close_recall(session, recall_id, reason=body.reason, closed_by=who(caller), now=_now())
    session.commit()
    return view.to_json()


class WidenIn(BaseModel):
    model_config = _STRICT
    lots: list[str] = Field(min_length=1, max_length=10_000, description="GTIN/LOT to add to the recall")


class RecallWidened(RecallOut):
    sites_notified: int = Field(description="Consignee sites of the added lots that get a notice now")


@router.post("/recalls/{recall_id}/widen", response_model=RecallWidened, responses=responses(401, 403, 404, 409, 422))
def widen_recall(
    recall_id: RecallId, body: WidenIn, session: SessionDep, caller: QualityDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Add lots to an active recall while its notices are out: the consignees of the added lots are
    notified at once; links already sent keep working. All or nothing."""
    view, sites = recalls.widen_recall(session, recall_id, lots=_lots(body.lots, "lots"), by=who(caller), now=_now())
    session.commit()
    runtime.wake_notices()
    return {**view.to_json(), "sites_notified": sites}


class LedgerOut(BaseModel):
    recall: int
    status: Literal[RecallState.ACTIVE, RecallState.CLOSED]
    clock: ClockOut
    counted_from: str | None = Field(description="The triggering event's time, else the recall's start")
    milestones: list[dict[str, Any]] = Field(
        description="located, started, all_notified, all_acknowledged, all_accounted, closed: time and seconds"
    )
    drill: bool
    regimes: list[str]
    cn_level: int | None
    deadlines: list[dict[str, Any]] = Field(
        description="Each regulatory deadline: regime, name, basis, due, done, status (met / due / late)"
    )
    recorded_milestones: list[dict[str, Any]] = Field(description="Steps staff recorded as done (name, at, by)")
    effectiveness: dict[str, Any] = Field(
        description="Check level, seed, the sites drawn and each check's outcome; the share effective"
    )
    sites: dict[str, Any] = Field(description="Counts of sites notified and answered, the share answered")
    without_consignee: dict[str, Any] = Field(description="Shipments of the scope that named no consignee")
    buyers: dict[str, int] = Field(
        description="Buyers whose orders sold an affected can: notified, reached (accepted by the mail server), "
        "opened (the notice's 'read the recall' link followed), failed"
    )
    consumers: dict[str, int] = Field(description="Confirmed subscribers of an affected lot: the same counts")
    totals: dict[str, dict[str, float]] = Field(
        description="Per unit: shipped, on hand, returned, destroyed, unaccounted"
    )
    site_list: list[dict[str, Any]] = Field(description="Per site: its notices (channel, state, tries) and answers")
    rows: list[dict[str, Any]] = Field(description="Per site and lot: shipped, answered quantities, unaccounted")


@router.get("/recalls/{recall_id}/ledger", response_model=LedgerOut, responses=responses(401, 403, 404, 422))
def recall_ledger_route(recall_id: RecallId, session: SessionDep, caller: QualityDep) -> dict[str, Any]:
    """Per site and lot: units shipped, acknowledged, on hand, returned, destroyed, unaccounted; the
    share of consignees who answered; the milestones against the clock."""
    return recall_ledger.build_ledger(session, recall_id, _now()).to_json()


@router.get("/recalls/{recall_id}/notices", responses=responses(401, 403, 404, 422))
def recall_notices(recall_id: RecallId, session: SessionDep, caller: QualityDep) -> list[dict[str, Any]]:
    """The delivery log: every notice of the recall (site, channel, state, next try) with each try."""
    recalls.get_recall(session, recall_id)
    return recall_ledger.delivery_log(session, recall_id)


_REPORT_TYPES = {
    "text/csv": {"schema": {"type": "string"}},
    recallreport.FORMATS["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
}


@router.get(
    "/recalls/{recall_id}/report",
    response_model=ReportOut,
    responses={
        **responses(401, 403, 404, 422),
        200: {"description": "The report: JSON, or a CSV / XLSX file to download", "content": _REPORT_TYPES},
    },
)
def recall_report(
    recall_id: RecallId,
    session: SessionDep,
    caller: QualityDep,
    fmt: Annotated[Literal["json", "csv", "xlsx"], Query(alias="format", description="json, csv or xlsx")] = "json",
) -> Response:
    """FSMA 204 key data elements, one row per affected lot and shipment; sites to notify; consumer counts."""
    report = recallreport.build_report(session, recall_id, _now())
    headers = {"Cache-Control": "no-store"}
    if fmt != "json":
        headers["Content-Disposition"] = f'attachment; filename="{report.filename(fmt)}"'
    return Response(report.render(fmt), media_type=recallreport.FORMATS[fmt], headers=headers)


class ChecksIn(BaseModel):
    model_config = _STRICT
    level: Literal["A", "B", "C", "D", "E"] = Field(
        description="21 CFR 7.42(b)(3) level: A 100 %, B a share between C and A, C 10 %, D 2 %, E none"
    )
    percent: float | None = Field(
        default=None, description="Level B only: the share of consignees, above 10, below 100"
    )
    seed: PlainText | None = Field(
        default=None,
        max_length=64,
        description="The draw's seed (default a random one); stored, so the draw can be redone",
    )


class CheckIn(BaseModel):
    model_config = _STRICT
    reached: bool = Field(description="The site was reached")
    notice_received: bool = Field(description="The site had received the recall notice")
    handled: bool = Field(description="The product was handled as the notice instructed")
    note: PlainText | None = Field(default=None, max_length=500)


class MilestoneIn(BaseModel):
    model_config = _STRICT
    name: Literal["fda_telephoned", "fda_written_report", "fda_status_report", "cn_plan_reported", "cn_announced"]
    at: datetime | None = Field(default=None, description="When it was done (ISO 8601 with offset; default now)")
    note: PlainText | None = Field(default=None, max_length=500)


@router.post("/recalls/{recall_id}/checks", responses=responses(401, 403, 404, 409, 422))
def plan_checks(recall_id: RecallId, body: ChecksIn, session: SessionDep, caller: QualityDep) -> dict[str, Any]:
    """Draw the consignee sites to check for the level, at random with a recorded seed (once per recall)."""
    out = effectiveness.plan_checks(
        session, recall_id, level=body.level, percent=body.percent, seed=body.seed, by=who(caller), now=_now()
    )
    session.commit()
    return out


@router.put("/recalls/{recall_id}/checks/{site}", responses=responses(401, 403, 404, 422))
def record_check(
    recall_id: RecallId,
    site: Annotated[str, Path(max_length=63, description="A drawn consignee site (supplier id)")],
    body: CheckIn,
    session: SessionDep,
    caller: QualityDep,
) -> dict[str, Any]:
    """Record what staff found at a drawn site: reached, notice received, handled as instructed."""
    out = effectiveness.record_check(
        session,
        recall_id,
        site,
        reached=body.reached,
        notice_received=body.notice_received,
        handled=body.handled,
        note=body.note,
        by=who(caller),
        now=_now(),
    )
    session.commit()
    return out


@router.post("/recalls/{recall_id}/milestones", status_code=201, responses=responses(401, 403, 404, 422))
def record_milestone(recall_id: RecallId, body: MilestoneIn, session: SessionDep, caller: QualityDep) -> dict[str, Any]:
    """Record a regulatory step as done (e.g. FDA telephoned): the ledger's deadlines show it met or late."""
    if body.at is not None and body.at.tzinfo is None:
        raise InvalidInputError(Problem("at", f"expected a time with its UTC offset, got {body.at.isoformat()}"))
    row = recalls.record_milestone(
        session, recall_id, name=body.name, at=body.at, note=body.note, by=who(caller), now=_now()
    )
    session.commit()
    return {"recall": recall_id, "name": row.name, "at": row.at.isoformat(), "recorded_by": row.recorded_by}


@router.get("/recalls/{recall_id}/drill-report", responses=responses(401, 403, 404, 422))
def drill_report(recall_id: RecallId, session: SessionDep, caller: QualityDep) -> dict[str, Any]:
    """A drill's result for auditors: seconds to located, started, all notified, all acknowledged,
    all accounted, closed; percent accounted; effectiveness; deadlines (also for a real recall)."""
    return drill.drill_report(session, recall_id, _now())


# -- regulatory reports, filed and anchored (recall/documents.py, recall/filings.py) -------------

ReportName = Literal["written", "status", "plan", "summary", "display"]
ReportFormat = Literal["pdf", "xlsx"]
Sha256 = Annotated[str, Path(min_length=64, max_length=64, description="SHA-256 of the report's bytes (hex)")]


class FiledOut(BaseModel):
    sha256: str = Field(description="SHA-256 of the report's exact bytes")
    event_id: int = Field(description="The signed 'report' record that anchors the digest")
    event_digest: str
    in_anchor_batch: bool = Field(description="The record is under an anchor batch (its proof final once confirmed)")
    recall: int
    report: str
    format: str
    size: int
    at: str
    by: str


class ReportCheckOut(BaseModel):
    sha256: str
    verified: bool = Field(description="Filed here, and its record VALID: signature, proof and root on chain")
    status: str = Field(description="VALID, INVALID, PENDING (not anchored yet) or NOT FILED")
    reasons: list[str]
    filed: FiledOut | None = None
    root: str | None = None
    block_number: int | None = None
    tx_hash: str | None = None
    local_chain: bool | None = None
    bundle: dict[str, Any] | None = Field(default=None, description="The record's proof bundle, once VALID")


_FILE_TYPES = {t: {"schema": {"type": "string", "format": "binary"}} for t in documents.CONTENT_TYPES.values()}


def _file(body: bytes, filed: filings.Filed, name: str) -> Response:
    return Response(
        body,
        media_type=documents.CONTENT_TYPES[filed.data["format"]],
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Report-SHA256": filed.sha256,
            "X-Report-Event": str(filed.event_id),
        },
    )


@router.get(
    "/recalls/{recall_id}/reports/{report}.{fmt}",
    responses={**responses(401, 403, 404, 422), 200: {"description": "The report file", "content": _FILE_TYPES}},
)
def recall_document(
    recall_id: RecallId,
    report: Annotated[ReportName, Path(description="written, status (PDF, XLSX); plan, summary, display (PDF)")],
    fmt: Annotated[ReportFormat, Path(description="pdf or xlsx")],
    session: SessionDep,
    workspace: WorkspaceDep,
    caller: QualityDep,
    contact: Annotated[
        PlainText | None, Query(max_length=200, description="The display notice's 'whom to call' (default: the maker)")
    ] = None,
) -> Response:
    """Generate the report from the recall's ledger now, file it (its bytes kept, its SHA-256 signed
    by the operator's key and anchored with the next batch) and send it. Headers name the digest
    (``X-Report-SHA256``) and its record (``X-Report-Event``)."""
    settings = workspace.settings
    body, filed = filings.generate(
        session,
        settings.data_dir,
        settings.keys_dir,
        recall_id=recall_id,
        report=report,
        fmt=fmt,
        by=who(caller),
        now=_now(),
        contact=contact,
    )
    session.commit()
    return _file(body, filed, filings.filename(recall_id, report, fmt))


@router.get("/recalls/{recall_id}/reports", response_model=list[FiledOut], responses=responses(401, 403, 404, 422))
def recall_documents(recall_id: RecallId, session: SessionDep, caller: QualityDep) -> list[dict[str, Any]]:
    """Every report filed for the recall (oldest first), with its digest and record."""
    recalls.get_recall(session, recall_id)
    return [f.to_json() for f in filings.filed_reports(session, recall_id)]


@router.get(
    "/recall-reports/{sha256}",
    responses={**responses(401, 403, 404, 422), 200: {"description": "The filed file", "content": _FILE_TYPES}},
)
def filed_document(sha256: Sha256, session: SessionDep, workspace: WorkspaceDep, caller: QualityDep) -> Response:
    """A filed report again, byte for byte, by its SHA-256."""
    body, filed = filings.read_report(session, workspace.settings.data_dir, sha256)
    return _file(body, filed, filings.filename(filed.data["recall"], filed.data["report"], filed.data["format"]))


@router.get("/recall-reports/{sha256}/proof", response_model=ReportCheckOut, responses=responses(401, 403, 422))
def filed_document_proof(sha256: Sha256, session: SessionDep, chain: ChainDep, caller: QualityDep) -> dict[str, Any]:
    """Was a report with this digest filed, and is its record anchored? With its proof bundle."""
    return filings.check_digest(session, chain, sha256)


@router.post("/recall-reports/verify", response_model=ReportCheckOut, responses=responses(401, 403, 413))
def verify_document(body: RawBody, session: SessionDep, chain: ChainDep, caller: QualityDep) -> dict[str, Any]:
    """Send a report file as the request body: is it, unchanged, a report this server filed?"""
    return filings.check(session, chain, body)
