"""Request and response bodies, in families ``XBase -> XCreate -> XPublic`` (tables live in the store).

Events themselves are not modelled here: their shape is the core's (``cradletrace.core.events``),
parsed strictly from the raw body so a signature covers exactly what was sent.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, WithJsonSchema

from cradletrace.apikeys import KEY_ROLES
from cradletrace.core.events import KINDS, SUPPLIER_ID, Event
from cradletrace.core.text import PlainText
from cradletrace.products import PARTY_ROLES
from cradletrace.store.states import EventAnchoring
from cradletrace.suppliers import SUPPLIER_ROLES

SupplierRole = Literal[SUPPLIER_ROLES]  # type: ignore[valid-type]
KeyRole = Literal[KEY_ROLES]  # type: ignore[valid-type]
EventKind = Literal[KINDS]  # type: ignore[valid-type]


# An event as a supplier signs it. Its schema is the core's ``Event``; pydantic cannot point a
# field at a schema it did not make, so the marker is swapped for a $ref in the OpenAPI document.
EVENT_MARK = "x-cradletrace-event"
EventBody = Annotated[dict[str, Any], WithJsonSchema({"type": "object", EVENT_MARK: True})]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- suppliers -------------------------------------------------------------------------


# Free text is checked on the way in only (core/text.py): what was stored before the rule is
# still shown, so the *Public models keep plain ``str``.
class CertificationBase(_In):
    scheme: str = Field(min_length=1, max_length=100, examples=["ISO 22000"])
    number: str = Field(min_length=1, max_length=100, examples=["FSSC-C129"])
    issuer: str = Field(min_length=1, max_length=200, examples=["SGS"])
    valid_until: date
    required: bool = Field(default=True, description="A lapsed required certificate stops new events")


class CertificationCreate(CertificationBase):
    scheme: PlainText = Field(min_length=1, max_length=100, examples=["ISO 22000"])
    number: PlainText = Field(min_length=1, max_length=100, examples=["FSSC-C129"])
    issuer: PlainText = Field(min_length=1, max_length=200, examples=["SGS"])


class CertificationPublic(CertificationBase):
    id: int


class SupplierBase(_In):
    name: str = Field(min_length=1, max_length=200, examples=["Southern Alps Nutrition"])
    role: SupplierRole
    official_lab: bool = Field(
        default=False,
        description="A lab the operator designated for official control sampling: it may report on any lot",
    )


class SupplierCreate(SupplierBase):
    name: PlainText = Field(min_length=1, max_length=200, examples=["Southern Alps Nutrition"])
    id: str | None = Field(
        default=None, description="2-63 of a-z, 0-9 and '-'; default: made from the name", examples=["alps-nutrition"]
    )
    certifications: list[CertificationCreate] = Field(default=[], max_length=50)


class SupplierKeyPublic(BaseModel):
    key_id: str
    supplier_id: str
    public_key: str = Field(description="Base64 of the raw 32-byte Ed25519 public key")
    created_at: datetime
    revoked_at: datetime | None


class SupplierPublic(SupplierBase):
    id: str
    created_at: datetime
    certifications: list[CertificationPublic]
    keys: list[SupplierKeyPublic]


class NewSigningKey(BaseModel):
    """A fresh signing key. ``private_key_pem`` is shown in this response only."""

    key: SupplierKeyPublic
    private_key_pem: str = Field(
        description="PKCS#8 PEM of the Ed25519 private key; shown once, keep it "
        "with the supplier. The server keeps a 0600 copy in its keys folder."
    )


class SupplierCreated(NewSigningKey):
    supplier: SupplierPublic


# -- products and their parties ------------------------------------------------------

PARTY_ROLE_NAMES = tuple(PARTY_ROLES)
PartyRole = Literal[PARTY_ROLE_NAMES]  # type: ignore[valid-type]
SupplierId = Annotated[str, Field(pattern=SUPPLIER_ID.pattern, examples=["alps-nutrition"])]


class ProductBase(_In):
    gtin: str = Field(pattern=r"^[0-9]{14}$", examples=["94219029601016"])
    name: str = Field(min_length=1, max_length=200, examples=["Stage 1 infant formula 800 g"])
    owner_id: SupplierId = Field(description="The supplier the GTIN belongs to")


class ProductCreate(ProductBase):
    pass


class PartyBase(_In):
    supplier_id: SupplierId
    role: PartyRole = Field(description="maker (makes lots, commissions codes), lab (tests), carrier (moves)")
    lot: str | None = Field(default=None, min_length=1, max_length=20, description="Only this lot; default every lot")


class PartyCreate(PartyBase):
    pass


class PartyPublic(PartyBase):
    id: int
    gtin: str
    named_by: str
    named_at: datetime
    withdrawn_by: str | None
    withdrawn_at: datetime | None


class ProductPublic(ProductBase):
    registered_at: datetime
    parties: list[PartyPublic] = Field(description="The parties not withdrawn")


# -- API keys --------------------------------------------------------------------------


class ApiKeyBase(_In):
    name: str = Field(min_length=1, max_length=100, examples=["Pacific Cold Chain uploader"])
    role: KeyRole
    supplier_id: str | None = Field(default=None, description="Required for supplier keys, refused for others")


class ApiKeyCreate(ApiKeyBase):
    name: PlainText = Field(min_length=1, max_length=100, examples=["Pacific Cold Chain uploader"])


class ApiKeyPublic(ApiKeyBase):
    id: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(BaseModel):
    key: ApiKeyPublic
    secret: str = Field(description="The key to send as `Authorization: Bearer ...`; shown once, stored only hashed")


# -- events ----------------------------------------------------------------------------


class SignedEvent(BaseModel):
    """One event and its supplier's signature (base64 Ed25519 over the event's RFC 8785 form)."""

    event: EventBody
    signature: str = Field(description="Base64 Ed25519 signature by the key named in the event's `key`")


class RecordedEvent(BaseModel):
    id: int
    digest: str
    kind: str
    supplier_id: str
    key_id: str
    gtin: str | None
    lot: str | None
    ref: str | None = Field(
        description="Shipment id of shipment and cold-chain events; the unit a pack, unpack or sale names"
    )
    outcome: str | None = Field(description="pass / fail of test reports and cold-chain records")

    @classmethod
    def of(cls, row: Any, **more: Any) -> Self:
        """This model of a stored event ``row`` (anything with the event columns as attributes), plus ``more``."""
        return cls(**{name: getattr(row, name) for name in RecordedEvent.model_fields}, **more)


class Recorded(BaseModel):
    count: int
    events: list[RecordedEvent]


class Anchoring(BaseModel):
    """Where an event stands: ``pending`` (no root yet), ``prepared`` (root built, not yet
    confirmed on chain) or ``anchored`` (root on chain at ``block_number`` by ``tx_hash``)."""

    status: Literal[EventAnchoring.PENDING, EventAnchoring.PREPARED, EventAnchoring.ANCHORED]
    batch_id: int | None = None
    root: str | None = None
    leaf_count: int | None = None
    chain_id: int | None = None
    contract: str | None = None
    block_number: int | None = None
    block_time: datetime | None = None
    tx_hash: str | None = None


class EventSummary(RecordedEvent):
    recorded_at: datetime
    anchoring: Anchoring


class EventPublic(EventSummary):
    event: EventBody = Field(description="The event exactly as signed (its canonical JSON, parsed)")
    signature: str


class EventPage(BaseModel):
    items: list[EventSummary]
    next_after: int | None = Field(description="Pass as `after` for the next page; null on the last page")


# -- proofs, verification, audit, anchoring ----------------------------------------------


class VerdictPublic(BaseModel):
    status: Literal["VALID", "INVALID", "PENDING"]
    reasons: list[str]
    event_id: int | None
    digest: str
    root: str | None
    block_number: int | None
    tx_hash: str | None
    local_chain: bool = Field(description="True on the embedded local development chain")
    notes: list[str] = Field(default=[], description="said alongside the verdict, changing nothing")


class BundleSupplier(BaseModel):
    id: str
    key_id: str
    public_key: str


class BundleChain(BaseModel):
    chain_id: int | None = Field(description="null only while root is null")
    contract: str | None = Field(description="null only while root is null")
    tx_hash: str | None
    block_number: int | None
    block_time: str | None
    local_development_chain: bool


class ProofBundle(BaseModel):
    """Everything needed to verify one event against the chain without our database
    (docs/proof-bundle.md; ``POST /verify-bundle`` also reads the older ``cradletrace-proof-bundle/1``)."""

    format: Literal["cradletrace-proof-bundle/2"]
    bytes: str = Field(description="the exact signed bytes (the canonical event, UTF-8), standard base64")
    digest: str
    signature: str
    supplier: BundleSupplier
    proof: list[str]
    root: str | None = Field(description="null while the event is not anchored yet")
    leaf_count: int | None
    chain: BundleChain
    key: dict[str, Any] | None = Field(default=None, description="the supplier key's own proofs (key transparency)")
    capture: dict[str, Any] | None = Field(
        default=None,
        description="for a record an EPCIS capture request signed: that request's signature material and body",
    )


class BadEvent(BaseModel):
    id: int
    digest: str
    reason: str


class AuditPublic(BaseModel):
    ok: bool
    events_checked: int
    events_pending: int = Field(
        description="Of events_checked, not anchored yet: content and signature checked, no proof yet"
    )
    roots_checked: int
    bad_events: list[BadEvent]
    problems: list[str]


class AnchoredRoot(BaseModel):
    batch_id: int
    root: str
    leaf_count: int
    tx_hash: str | None
    block_number: int
    block_time: datetime
    recovered: bool = Field(description="True when an interrupted earlier run had prepared this root")


class AnchorRun(BaseModel):
    anchored: list[AnchoredRoot]
    events: int


class StoreHealth(BaseModel):
    ok: bool


class ChainHealth(BaseModel):
    ok: bool
    chain_id: int | None = None
    contract: str | None = None
    local: bool | None = None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    store: StoreHealth
    chain: ChainHealth


def event_schemas() -> dict[str, Any]:
    """OpenAPI components for what routes take as raw JSON: ``SignedEvent``, ``Event`` and its parts."""
    ref = "#/components/schemas/{model}"
    event = TypeAdapter(Event).json_schema(ref_template=ref)
    parts = event.pop("$defs", {})
    return {
        "SignedEvent": SignedEvent.model_json_schema(ref_template=ref),
        "Event": {"description": "A supplier event; `kind` selects the shape of `data`.", **event},
        **parts,
    }


def link_events(node: Any) -> Any:
    """Replace each ``EventBody`` marker in a schema document with a $ref to ``Event``."""
    if isinstance(node, dict):
        if node.get(EVENT_MARK):
            return {
                "$ref": "#/components/schemas/Event",
                **({"description": node["description"]} if "description" in node else {}),
            }
        return {k: link_events(v) for k, v in node.items()}
    if isinstance(node, list):
        return [link_events(v) for v in node]
    return node


class BuyerCreate(_In):
    """A seller's member, for the pseudonym its sale event carries; the member id is not stored."""

    member_id: str = Field(min_length=1, max_length=200)
    contact: str | None = Field(default=None, min_length=1, max_length=500)
    consent: bool | None = Field(
        default=None, description="true: keep the contact (sealed); false: delete a kept one; absent: leave it"
    )


class BuyerPublic(BaseModel):
    buyer: str = Field(description="the pseudonym to sign into the sale event's data.buyer")
    contact_kept: bool
