"""Supplier events: their shapes, their rules, and their canonical identity.

An event is the JSON object a supplier signs::

    {"kind": "batch" | "test_report" | "cold_chain" | "shipment" | "commission"
             | "pack" | "unpack" | "move" | "sale" | "correction" | "key" | "report" | "epcis",
     "supplier": "<supplier id>", "key": "<key id>", "data": {...}}

A "key" event is no supplier's: it is the key log's record of a supplier key's registration or
revocation, signed by the operator's key-log key (keylog.py), so the keys are anchored like the
records they sign. A "report" event is the operator's too: the SHA-256 of a recall report the
server generated (recall/filings.py), signed with the same key, so the report is anchored and can
be shown later not to have changed.

A "correction" is EPCIS's error declaration (EPCIS 2.0 §7.4.1.4): the supplier that recorded an
event states, in a signed and anchored record of its own, that the event did not occur or carried
wrong data, and names the events that correct it. The erroneous event is never changed: it stays
in the store and on chain, and every reader (corrections.py) shows it as corrected.

Its digest is ``sha256(jcs(event))`` (see canonical.py) and its signature is Ed25519 over
``jcs(event)``. Validation parses the canonical bytes with strict JSON typing, so what is
checked is exactly what is hashed and signed; nothing is re-serialised from a model.
Rules that need the store (does the supplier or lot exist, is it a duplicate) live in the
recording service; everything that can be decided from the event alone lives here.
"""

from __future__ import annotations

import base64
import re
from datetime import date
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cradletrace.core import codes, labels, signing, weblinks
from cradletrace.core.coldchain import ColdChainSummary, Reading, analyse
from cradletrace.core.samplingplan import PlanVerdict, SamplingPlan, plan_verdict
from cradletrace.core.testreport import analyte_passes, is_plan_form
from cradletrace.errors import InvalidEventError, InvalidInputError, Problem

KINDS = (
    "batch",
    "test_report",
    "cold_chain",
    "shipment",
    "commission",
    "pack",
    "unpack",
    "move",
    "sale",
    "correction",
    "key",
    "report",
    "epcis",
)
# Written by the server under the operator's key (key log, filed recall reports), never submitted.
OPERATOR_KINDS = ("key", "report")
# An EPCIS event the profile has no cradletrace meaning for, kept whole: only EPCIS capture records it.
GENERIC_KIND = "epcis"
SUBMITTED_KINDS = tuple(k for k in KINDS if k not in (*OPERATOR_KINDS, GENERIC_KIND))
SUPPLIER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
# The key log's signer (keylog.py): a pseudo-supplier no real supplier may take the id of, whose
# role records key events and nothing else.
KEY_LOG_SUPPLIER = "cradletrace-key-log"
REGISTRY_ROLE = "registry"
# Who may record what. Brands may record shipments of their own goods and commission items.
ROLES_FOR_KIND: dict[str, tuple[str, ...]] = {
    "batch": ("farm", "plant"),
    "test_report": ("lab",),
    "cold_chain": ("logistics", "plant", "farm"),
    "shipment": ("logistics", "plant", "farm", "brand"),
    "commission": ("plant", "brand"),
    # Logistics units (docs/logistics.md): who packs, moves and sells cases and pallets. A plant packs
    # what it made, a brand what it owns, a logistics provider repacks in its warehouse; selling to a
    # member is the brand's (no retailer role exists yet).
    "pack": ("plant", "brand", "logistics"),
    "unpack": ("plant", "brand", "logistics"),
    "move": ("plant", "brand", "logistics"),
    "sale": ("brand",),
    # Any supplier may correct its own records (recording checks it is the original's recorder); the
    # operator (the key log's signer) any record, through corrections.declare_as_operator only.
    "correction": ("farm", "plant", "lab", "logistics", "brand", REGISTRY_ROLE),
    "key": (REGISTRY_ROLE,),
    "report": (REGISTRY_ROLE,),
}
MAX_SERIALS = 10_000  # per commissioning event
MAX_UNITS = 10_000  # children per pack/unpack event, units per move event
# Readings per cold-chain event (and sensor reports per captured EPCIS event): a 1-minute logger
# for a month is 43 200, a 15-minute one for 90 days 8 640; docs/security.md says why.
MAX_READINGS = 50_000
PHYSICAL_MIN_C = -100.0
PHYSICAL_MAX_C = 100.0
# Sample units per sampling plan: the largest plans the standards name are n = 30 (EU 2073/2005
# for Cronobacter and Salmonella in infant formula) and n = 60 (ICMSF case 15); 1 000 leaves room
# without letting one analyte carry an unbounded list.
MAX_PLAN_UNITS = 1000


def _check(problem: str | None, value: str) -> str:
    if problem:
        raise PydanticCustomError("gs1", problem)
    return value


Gtin = Annotated[str, AfterValidator(lambda v: _check(codes.gtin_problem(v), v))]
LotCode = Annotated[str, AfterValidator(lambda v: _check(codes.lot_problem(v), v))]
Serial = Annotated[str, AfterValidator(lambda v: _check(labels.serial_problem(v), v))]
# Any GS1 serial (AI 21): a case's serial is its packer's, not drawn by the label generator.
AnySerial = Annotated[str, AfterValidator(lambda v: _check(codes.lot_problem(v), v))]
Sscc = Annotated[str, AfterValidator(lambda v: _check(codes.sscc_problem(v), v))]
Gln = Annotated[str, AfterValidator(lambda v: _check(codes.gln_problem(v), v))]
GlnExtension = LotCode  # AI 254: 1-20 characters of GS1 set 82, as a lot
Text = Annotated[str, Field(min_length=1, max_length=200)]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Quantity = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class LotRef(_Model):
    gtin: Gtin
    lot: LotCode

    @property
    def key(self) -> tuple[str, str]:
        return (self.gtin, self.lot)


class Site(_Model):
    name: Text
    address: Text
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    # The site's GS1 GLN (AI 414) and sub-location (AI 254). Optional, so events without them keep
    # their canonical form and hashes.
    gln: Gln | None = None
    gln_extension: GlnExtension | None = None

    @model_validator(mode="after")
    def _extension(self) -> Site:
        if self.gln_extension is not None and self.gln is None:
            raise PydanticCustomError("subject", "gln: expected the GLN the extension (254) is part of, got nothing")
        return self


class Product(_Model):
    gtin: Gtin
    name: Text


class InputLot(LotRef):
    quantity: Quantity | None = None
    unit: Text | None = None


class BatchData(_Model):
    product: Product
    lot: LotCode
    produced_on: date
    expires_on: date
    quantity: Quantity
    unit: Text
    site: Site
    inputs: list[InputLot] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _order(self) -> BatchData:
        if self.expires_on <= self.produced_on:
            raise PydanticCustomError(
                "dates",
                "expires_on: expected a date after produced_on ({p}), got {e}",
                {"p": str(self.produced_on), "e": str(self.expires_on)},
            )
        seen: set[tuple[str, str]] = set()
        for i, lot in enumerate(self.inputs):
            if lot.key in seen:
                raise PydanticCustomError(
                    "dup",
                    "inputs[{i}]: expected each input lot once, got {l} twice",
                    {"i": i, "l": f"{lot.gtin}/{lot.lot}"},
                )
            if lot.key == (self.product.gtin, self.lot):
                raise PydanticCustomError("cycle", "inputs[{i}]: expected another lot, got the batch itself", {"i": i})
            seen.add(lot.key)
        return self

    @property
    def lot_ref(self) -> LotRef:
        return LotRef(gtin=self.product.gtin, lot=self.lot)


class Accreditation(_Model):
    scheme: Text
    number: Text


class Lab(_Model):
    name: Text
    accreditation: Accreditation


Category = Literal["heavy_metal", "microbiology", "mycotoxin", "additive", "contaminant", "nutrient"]


class Analyte(_Model):
    """The single-value form: one result against one maximum (and, for a nutrient, a minimum)."""

    name: Text
    category: Category
    value: float = Field(ge=0)
    unit: Text
    limit: float = Field(ge=0)
    min: float | None = Field(default=None, ge=0)
    method: Text

    @property
    def passes(self) -> bool:
        return analyte_passes(self.value, self.limit, self.min)


class Plan(_Model):
    """A microbiological sampling plan as signed: ``M`` absent (or null) for a two-class plan."""

    n: int = Field(ge=1, le=MAX_PLAN_UNITS)
    c: int = Field(ge=0)
    m: float = Field(ge=0, allow_inf_nan=False)
    M: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    @property
    def sampling(self) -> SamplingPlan:
        return SamplingPlan(self.n, self.c, self.m, self.M)


class PlanAnalyte(_Model):
    """The sampling-plan form (core/samplingplan.py): the plan and every sample unit's result, so
    the lot's verdict is the plan's, computed from the signed results, never one value against one
    limit. The limits table (core/testreport.fill_limits, core/admission.limit_problems) holds single
    maxima and does not apply to this form: see docs/supplier-portal.md, "Test-standard templates"."""

    name: Text
    category: Category
    plan: Plan
    results: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(min_length=1, max_length=MAX_PLAN_UNITS)
    unit: Text
    method: Text

    @model_validator(mode="after")
    def _plan_rules(self) -> PlanAnalyte:
        # The rules are samplingplan.py's (SamplingPlan.problems, plan_verdict), not written again here.
        try:
            plan_verdict(self.plan.sampling, self.results)
        except InvalidInputError as exc:
            first = exc.problems[0]
            raise PydanticCustomError(
                "plan", "{where}: {message}", {"where": first.where, "message": first.message}
            ) from None
        return self

    @property
    def verdict(self) -> PlanVerdict:
        return plan_verdict(self.plan.sampling, self.results)

    @property
    def passes(self) -> bool:
        return self.verdict.verdict == "pass"


def _analyte_form(raw: Any) -> str:
    """An analyte with a plan (or results) is the plan form; anything else the single-value form, as
    every analyte recorded before plans existed is: its bytes, digest and meaning are unchanged."""
    if isinstance(raw, dict):
        return "plan-form" if is_plan_form(raw) else "value-form"
    return "plan-form" if isinstance(raw, PlanAnalyte) else "value-form"


_FORMS = frozenset({"value-form", "plan-form"})  # the tags pydantic puts in a location; not fields
AnyAnalyte = Annotated[
    Annotated[Analyte, Tag("value-form")] | Annotated[PlanAnalyte, Tag("plan-form")], Discriminator(_analyte_form)
]


def _linkable(uri: str, info: ValidationInfo) -> str:
    # Events recorded before the rule are still read (parse_event(stored=True)); where they are
    # shown, the same rule (core/weblinks.py) decides whether their link is a link.
    return uri if (info.context or {}).get("stored") else _check(weblinks.document_uri_problem(uri), uri)


class Document(_Model):
    sha256: Sha256Hex
    uri: Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_linkable)]


class TestReportData(_Model):
    batch: LotRef
    lab: Lab
    sampled_on: date
    reported_on: date
    analytes: list[AnyAnalyte] = Field(min_length=1, max_length=500)
    document: Document

    @model_validator(mode="after")
    def _order(self) -> TestReportData:
        if self.reported_on < self.sampled_on:
            raise PydanticCustomError(
                "dates",
                "reported_on: expected a date on or after sampled_on ({s}), got {r}",
                {"s": str(self.sampled_on), "r": str(self.reported_on)},
            )
        return self

    @property
    def verdict(self) -> str:
        """'pass' when every analyte passes: a single value within its limits, a plan by its plan."""
        return "pass" if all(a.passes for a in self.analytes) else "fail"


class ReadingIn(_Model):
    at: AwareDatetime
    c: float = Field(ge=PHYSICAL_MIN_C, le=PHYSICAL_MAX_C)


class AllowedRange(_Model):
    min_c: float = Field(ge=PHYSICAL_MIN_C, le=PHYSICAL_MAX_C)
    max_c: float = Field(ge=PHYSICAL_MIN_C, le=PHYSICAL_MAX_C)


class Logger(_Model):
    id: Text
    model: Text | None = None


class ColdChainData(_Model):
    lot: LotRef | None = None
    shipment: Text | None = None
    logger: Logger
    range: AllowedRange
    readings: list[ReadingIn] = Field(min_length=1, max_length=MAX_READINGS)

    @model_validator(mode="after")
    def _rules(self) -> ColdChainData:
        if (self.lot is None) == (self.shipment is None):
            raise PydanticCustomError("subject", "lot/shipment: expected exactly one of the two")
        if self.range.min_c >= self.range.max_c:
            raise PydanticCustomError(
                "range",
                "range.min_c: expected less than range.max_c ({hi}), got {lo}",
                {"hi": self.range.max_c, "lo": self.range.min_c},
            )
        for i in range(1, len(self.readings)):
            if self.readings[i].at <= self.readings[i - 1].at:
                raise PydanticCustomError(
                    "order",
                    "readings[{i}].at: expected a time after {prev}, got {at}",
                    {"i": i, "prev": self.readings[i - 1].at.isoformat(), "at": self.readings[i].at.isoformat()},
                )
        return self

    def summary(self) -> ColdChainSummary:
        return analyse([Reading(r.at, r.c) for r in self.readings], self.range.min_c, self.range.max_c)


class Customs(_Model):
    declaration_number: Text
    port: Text
    cleared_at: AwareDatetime
    origin_country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None


# What a document attached to a shipment is (ShipmentData.documents): the papers a carrier or an
# importer holds for a consignment. A small fixed list so the scan page and EPCIS can name each one;
# "other" for anything else (its title then says what it is).
ShipmentDocumentKind = Literal[
    "customs_declaration", "health_certificate", "certificate_of_analysis", "bill_of_lading", "other"
]
SHIPMENT_DOCUMENT_KINDS: tuple[str, ...] = get_args(ShipmentDocumentKind)
MAX_SHIPMENT_DOCUMENTS = 20  # a consignment's papers, not an archive


class ShipmentDocument(Document):
    """One paper of a shipment: what kind it is, and the stored bytes it is (``sha256`` and ``uri``,
    as a lab's certificate): the signature covers the SHA-256, so the record proves which file was
    meant."""

    kind: ShipmentDocumentKind
    title: Text | None = None


class ShipmentData(_Model):
    id: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:/-]+$")]
    lot: LotRef
    quantity: Quantity
    unit: Text
    from_site: Site
    to_site: Site
    shipped_at: AwareDatetime
    received_at: AwareDatetime | None = None
    customs: Customs | None = None
    # The registered supplier that receives custody of the lot (it may then ship it onward or
    # record its cold chain). Optional: events without it keep their canonical form and hashes.
    consignee: Annotated[str, Field(pattern=SUPPLIER_ID.pattern)] | None = None
    # The customs declaration, health certificate, certificate of analysis, bill of lading... each a
    # stored PDF named by its SHA-256. Optional for the same reason as consignee.
    documents: list[ShipmentDocument] | None = Field(default=None, min_length=1, max_length=MAX_SHIPMENT_DOCUMENTS)

    @model_validator(mode="after")
    def _order(self) -> ShipmentData:
        if self.received_at is not None and self.received_at < self.shipped_at:
            raise PydanticCustomError(
                "dates",
                "received_at: expected a time on or after shipped_at ({s}), got {r}",
                {"s": self.shipped_at.isoformat(), "r": self.received_at.isoformat()},
            )
        if self.customs is not None:
            c = self.customs.cleared_at
            if c < self.shipped_at or (self.received_at is not None and c > self.received_at):
                raise PydanticCustomError(
                    "dates",
                    "customs.cleared_at: expected a time between shipped_at and received_at, got {c}",
                    {"c": c.isoformat()},
                )
        seen: dict[str, int] = {}
        for i, doc in enumerate(self.documents or ()):
            if doc.sha256 in seen:
                raise PydanticCustomError(
                    "dup",
                    "documents[{i}].sha256: expected each document once, got the file of documents[{j}] again",
                    {"i": i, "j": seen[doc.sha256]},
                )
            seen[doc.sha256] = i
        return self


class CommissionData(_Model):
    """Serialized items of one lot, each to carry its own code (labels/commission.py) on the pack."""

    lot: LotRef
    serials: list[Serial] = Field(min_length=1, max_length=MAX_SERIALS)
    commissioned_at: AwareDatetime

    @model_validator(mode="after")
    def _unique(self) -> CommissionData:
        seen: dict[str, int] = {}
        for i, serial in enumerate(self.serials):
            if serial in seen:
                raise PydanticCustomError(
                    "dup",
                    "serials[{i}]: expected each serial once, got {s} again (serials[{j}])",
                    {"i": i, "s": serial, "j": seen[serial]},
                )
            seen[serial] = i
        return self


class UnitRef(_Model):
    """A can or a case (GTIN + serial, AI 01 + 21) or a pallet (SSCC, AI 00): exactly one of the two forms."""

    gtin: Gtin | None = None
    serial: AnySerial | None = None
    sscc: Sscc | None = None

    @model_validator(mode="after")
    def _form(self) -> UnitRef:
        if self.sscc is not None:
            if self.gtin is not None or self.serial is not None:
                raise PydanticCustomError("subject", "sscc: expected either an SSCC or a GTIN and serial, got both")
        elif self.gtin is None or self.serial is None:
            raise PydanticCustomError(
                "subject", "gtin: expected a GTIN and a serial (a can or a case) or an sscc (a pallet)"
            )
        return self

    @property
    def code(self) -> str:
        """The unit's key in the store, as its Digital Link path: ``00/<SSCC>`` or ``01/<GTIN>/21/<serial>``."""
        return f"00/{self.sscc}" if self.sscc is not None else f"01/{self.gtin}/21/{self.serial}"


def _unique_units(units: list[UnitRef], field: str) -> None:
    seen: dict[str, int] = {}
    for i, unit in enumerate(units):
        if unit.code in seen:
            raise PydanticCustomError(
                "dup",
                "{f}[{i}]: expected each unit once, got {c} again ({f}[{j}])",
                {"f": field, "i": i, "c": unit.code, "j": seen[unit.code]},
            )
        seen[unit.code] = i


class Place(_Model):
    """A location named by its GS1 GLN (AI 414) and, for a sub-location (a dock, a store room), AI 254."""

    gln: Gln
    extension: GlnExtension | None = None


class PackData(_Model):
    """Cans packed into a case, or cases (and cans) onto a pallet; as ``unpack``, taken out again.

    A case (GTIN + serial) holds cans; a pallet (SSCC) holds cases and cans. Which child is a can and
    which a case the store says (a commissioned serial is a can); custody.py checks the rest."""

    parent: UnitRef
    children: list[UnitRef] = Field(min_length=1, max_length=MAX_UNITS)
    at: AwareDatetime
    place: Place | None = None

    @model_validator(mode="after")
    def _rules(self) -> PackData:
        _unique_units(self.children, "children")
        for i, child in enumerate(self.children):
            if child.sscc is not None:
                raise PydanticCustomError(
                    "subject",
                    "children[{i}]: expected a case or a can (GTIN and serial), got SSCC {s}: pallets are not packed",
                    {"i": i, "s": child.sscc},
                )
            if child.code == self.parent.code:
                raise PydanticCustomError(
                    "cycle", "children[{i}]: expected another unit, got the parent itself", {"i": i}
                )
        return self


class MoveData(_Model):
    """Logistics units (pallets, cases, cans) shipped from a place or received at one.

    ``ship`` needs ``from_place`` and may name ``to_place`` and the ``consignee`` (the registered
    supplier that may receive them); ``receive`` needs ``to_place`` and gives the receiver custody of
    every unit and of everything inside them."""

    action: Literal["ship", "receive"]
    units: list[UnitRef] = Field(min_length=1, max_length=MAX_UNITS)
    at: AwareDatetime
    from_place: Place | None = None
    to_place: Place | None = None
    consignee: Annotated[str, Field(pattern=SUPPLIER_ID.pattern)] | None = None

    @model_validator(mode="after")
    def _rules(self) -> MoveData:
        _unique_units(self.units, "units")
        if self.action == "ship" and self.from_place is None:
            raise PydanticCustomError("subject", "from_place: expected the place shipped from, got nothing")
        if self.action == "receive" and self.to_place is None:
            raise PydanticCustomError("subject", "to_place: expected the place received at, got nothing")
        if self.action == "receive" and self.consignee is not None:
            raise PydanticCustomError("subject", "consignee: expected none when receiving: the receiver is the signer")
        return self


Pseudonym = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class SaleData(_Model):
    """A can or a case sold. ``buyer`` is the member's pseudonym (sales.py: a keyed HMAC-SHA-256 of
    the member id, the key outside the database): nothing personal is signed, stored or anchored."""

    unit: UnitRef
    order: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:/#-]+$")]
    buyer: Pseudonym
    sold_at: AwareDatetime

    @model_validator(mode="after")
    def _item(self) -> SaleData:
        if self.unit.sscc is not None:
            raise PydanticCustomError("subject", "unit: expected a can or a case (GTIN and serial), got a pallet")
        return self


class KeyData(_Model):
    """One change of a supplier's signing key, as the key log states it: ``at`` is when the key was
    registered or revoked; ``backfilled`` says the record was written later, for a key that changed
    before the key log existed (so its ``at`` is the store's word, not a time the log witnessed)."""

    action: Literal["register", "revoke"]
    supplier: Annotated[str, Field(pattern=SUPPLIER_ID.pattern)]
    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    public_key: Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{43}=$")]  # base64 of the raw 32 bytes
    at: AwareDatetime
    backfilled: bool

    @model_validator(mode="after")
    def _key_id(self) -> KeyData:
        expected = signing.key_id(base64.b64decode(self.public_key))
        if self.key_id != expected:
            raise PydanticCustomError(
                "key", "key_id: expected {e}, the id of public_key, got {k}", {"e": expected, "k": self.key_id}
            )
        return self


REPORT_KINDS = ("written", "status", "plan", "summary", "display")


class ReportData(_Model):
    """A recall report the server generated, by its digest: which recall, which report
    (``recall.filings.REPORTS``), in which format, the SHA-256 and size of its exact bytes, when
    it was generated and by whom (the API key's name). The bytes themselves are kept by the server
    (content-addressed); this record is what anchors them."""

    recall: Annotated[int, Field(ge=1)]
    report: Literal["written", "status", "plan", "summary", "display"]
    format: Literal["pdf", "xlsx"]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: Annotated[int, Field(ge=1)]
    at: AwareDatetime
    by: Annotated[str, Field(min_length=1, max_length=200)]


class EpcisRecordData(_Model):
    """Any valid EPCIS 2.0 event the profile (epcis/read.py) maps to no cradletrace kind, kept whole so it
    is signed, hashed, anchored and queried like every record: ``hash`` its CBV 2.0 event hash,
    ``event`` the event as captured, ``context`` the ``@context`` its compact IRIs need. It names no
    goods cradletrace keeps state for, so custody, holds and lot rules do not apply to it."""

    hash: Annotated[str, Field(pattern=r"^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$")]
    event: dict[str, Any]
    context: list[Any] | dict[str, Any] | str | None


# CBV 2.0 error reasons (ErrorReasonID): the two the standard defines, by their bare names; any
# other reason is a URI of the declarer's own vocabulary.
ERROR_REASONS = ("did_not_occur", "incorrect_data")
MAX_CORRECTIVE = 100  # corrective events named by one declaration
_REASON_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")


def _reason_problem(reason: str) -> str | None:
    if reason in ERROR_REASONS or (_REASON_URI.match(reason) and len(reason) <= 500):
        return None
    return f"expected {' or '.join(ERROR_REASONS)} (CBV error reasons) or a URI, got {reason[:60]!r}"


class CorrectionData(_Model):
    """An error declaration: the event whose digest is ``corrects`` was recorded wrongly, as
    declared at ``declaration_time`` for ``reason``; ``corrective`` names the digests of the events
    that replace it (none when it simply did not occur). EPCIS's errorDeclaration, with digests for
    event ids: the digest is what is signed and anchored, so the link cannot be argued with."""

    corrects: Sha256Hex
    declaration_time: AwareDatetime
    reason: Annotated[str, AfterValidator(lambda v: _check(_reason_problem(v), v))]
    corrective: list[Sha256Hex] = Field(default_factory=list, max_length=MAX_CORRECTIVE)

    @model_validator(mode="after")
    def _links(self) -> CorrectionData:
        seen: dict[str, int] = {}
        for i, digest in enumerate(self.corrective):
            if digest == self.corrects:
                raise PydanticCustomError(
                    "cycle", "corrective[{i}]: expected another event, got the corrected event itself", {"i": i}
                )
            if digest in seen:
                raise PydanticCustomError(
                    "dup",
                    "corrective[{i}]: expected each event once, got {d} again (corrective[{j}])",
                    {"i": i, "d": digest[:12], "j": seen[digest]},
                )
            seen[digest] = i
        return self

    @property
    def did_not_occur(self) -> bool:
        """The event's facts no longer count anywhere (a verdict, a genealogy edge, a reading)."""
        return self.reason == "did_not_occur"


class _Envelope(_Model):
    supplier: Annotated[str, Field(pattern=SUPPLIER_ID.pattern)]
    key: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]


class BatchEvent(_Envelope):
    kind: Literal["batch"]
    data: BatchData


class TestReportEvent(_Envelope):
    kind: Literal["test_report"]
    data: TestReportData


class ColdChainEvent(_Envelope):
    kind: Literal["cold_chain"]
    data: ColdChainData


class ShipmentEvent(_Envelope):
    kind: Literal["shipment"]
    data: ShipmentData


class CommissionEvent(_Envelope):
    kind: Literal["commission"]
    data: CommissionData


class PackEvent(_Envelope):
    kind: Literal["pack"]
    data: PackData


class UnpackEvent(_Envelope):
    kind: Literal["unpack"]
    data: PackData


class MoveEvent(_Envelope):
    kind: Literal["move"]
    data: MoveData


class SaleEvent(_Envelope):
    kind: Literal["sale"]
    data: SaleData


class CorrectionEvent(_Envelope):
    kind: Literal["correction"]
    data: CorrectionData


class KeyEvent(_Envelope):
    kind: Literal["key"]
    data: KeyData


class ReportEvent(_Envelope):
    kind: Literal["report"]
    data: ReportData


class EpcisRecordEvent(_Envelope):
    kind: Literal["epcis"]
    data: EpcisRecordData


AnyEvent = (
    BatchEvent
    | TestReportEvent
    | ColdChainEvent
    | ShipmentEvent
    | CommissionEvent
    | PackEvent
    | UnpackEvent
    | MoveEvent
    | SaleEvent
    | CorrectionEvent
    | KeyEvent
    | ReportEvent
    | EpcisRecordEvent
)
UnitData = PackData | MoveData | SaleData  # the logistics records: about units, not one lot
Event = Annotated[AnyEvent, Field(discriminator="kind")]
_event_adapter: TypeAdapter[Any] = TypeAdapter(Event)


_RULES = frozenset({"dates", "dup", "cycle", "subject", "range", "order", "key", "plan"})


def _where(loc: tuple[int | str, ...], prefix: str) -> str:
    parts: list[str] = [prefix] if prefix else []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
        elif (i == 0 and item in KINDS) or item in _FORMS:
            continue  # the discriminator tags pydantic puts in the location (the kind; an analyte's form)
        else:
            parts.append(str(item))
    return ".".join(parts)


def problems_of(error: ValidationError, prefix: str = "") -> list[Problem]:
    """Turn pydantic's errors into field-named problems that say what was expected and what came."""
    out: list[Problem] = []
    for e in error.errors(include_url=False):
        where = _where(tuple(e["loc"]), prefix)
        msg = e["msg"]
        if e["type"] in _RULES:  # our cross-field rules name the sibling field at fault first
            field, _, rest = msg.partition(": ")
            out.append(Problem(f"{where}.{field}" if where else field, rest))
            continue
        got = e.get("input")
        if e["type"] == "missing":
            out.append(Problem(where, "expected a value, got nothing"))
        elif e["type"] == "extra_forbidden":
            out.append(Problem(where, "expected no such field"))
        elif e["type"] == "union_tag_invalid":
            out.append(
                Problem(
                    f"{prefix}.kind" if prefix else "kind",
                    f"expected one of {', '.join(SUBMITTED_KINDS)}, got {str(got if not isinstance(got, dict) else got.get('kind'))[:60]!r}",
                )
            )
        elif e["type"] == "union_tag_not_found":
            out.append(
                Problem(
                    f"{prefix}.kind" if prefix else "kind", f"expected one of {', '.join(SUBMITTED_KINDS)}, got nothing"
                )
            )
        elif e["type"] == "gs1":
            out.append(Problem(where, msg))
        else:
            shown = repr(got)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            text = msg[0].lower() + msg[1:] if msg else "invalid"
            for noise in ("input ", "string ", "value error, ", "value "):
                text = text.removeprefix(noise)
            if text.startswith("should be "):
                text = "expected " + text.removeprefix("should be ")
            elif text.startswith("should "):
                text = "expected to " + text.removeprefix("should ")
            else:
                text = "expected a valid value: " + text
            out.append(Problem(where, f"{text}, got {shown}"))
    return out


def parse_event(canonical: bytes, where: str = "event", stored: bool = False) -> AnyEvent:
    """Validate the canonical bytes of one event; raise InvalidEventError naming each bad field.

    ``stored``: an event read back from the store, recorded under the rules of its day; rules
    added since for what may be recorded (a document link's scheme) are not applied to it."""
    try:
        return _event_adapter.validate_json(canonical, strict=True, context={"stored": stored})  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise InvalidEventError(problems_of(exc, where)) from None


def lot_of(event: AnyEvent) -> LotRef | None:
    """The lot an event is about (for the batch, its own lot; a key event and the logistics records
    about units, which may hold many lots, are about none)."""
    d = event.data
    if isinstance(d, (KeyData, ReportData, PackData, MoveData, SaleData, CorrectionData, EpcisRecordData)):
        return None
    if isinstance(d, BatchData):
        return d.lot_ref
    if isinstance(d, TestReportData):
        return d.batch
    if isinstance(d, ColdChainData):
        return d.lot
    return d.lot


def outcome_of(event: AnyEvent) -> str | None:
    """The computed verdict an event carries: test-report pass/fail, cold-chain ok/excursion;
    a key event's action (register/revoke), a move's (ship/receive), a filed report's name, a
    correction's reason (a CBV one, or "other" for a URI)."""
    if isinstance(event.data, CorrectionData):
        return event.data.reason if event.data.reason in ERROR_REASONS else "other"
    if isinstance(event.data, (KeyData, MoveData)):
        return event.data.action
    if isinstance(event.data, ReportData):
        return event.data.report
    if isinstance(event.data, TestReportData):
        return event.data.verdict
    if isinstance(event.data, ColdChainData):
        return event.data.summary().verdict
    return None
