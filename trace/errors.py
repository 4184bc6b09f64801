"""Every error cradletrace raises on purpose.

The hierarchy, and the builtin each one resembles::

    TraceError
    ├── InvalidInputError (ValueError)         a value broke a rule; names the field
    │   ├── InvalidEventError                  one or more events in a submission are bad
    │   ├── CanonicalizationError              a value has no RFC 8785 form (NaN, huge int, ...)
    │   ├── InvalidEpcisError                  an EPCIS document breaks the schema or the CBV
    │   ├── MappingError                       an EPCIS event cradletrace cannot record as one of its kinds
    │   ├── DuplicateEpcisError                an EPCIS event was captured before (same CBV 2.0 hash)
    │   └── EpcisQueryError                    an EPCIS query parameter that is unknown or badly formed
    ├── StateConflictError                     well formed, but not in the state it needs; ``kind`` says which
    ├── NotFoundError (LookupError)            an id, lot or event that is not in the store
    ├── NotAllowedError (PermissionError)      expired certificate, revoked key, wrong role
    ├── SessionEndedError                      no portal session: never signed in, idle, too old, signed out
    ├── RequestSignatureError                  an EPCIS capture's HTTP message signature missing or wrong
    ├── CaptureLimitError                      an EPCIS capture over the events or bytes it may hold
    ├── StoppedError                           long work stopped: time limit, client gone, shutdown
    ├── ConfigError                            data directory or settings unusable
    ├── AnchoringBusyError                     another worker anchors now (leader lock, claimed events)
    ├── RpcRefusedError                        a JSON-RPC request the read-only chain view does not serve
    └── ChainError                             the EVM side failed
        ├── ChainUnavailableError (ConnectionError)   node unreachable / timed out
        ├── ChainRevertedError                 the contract refused; ``reason`` is its error name
        └── EmbeddedChainLockedError (RuntimeError)   the embedded chain file is open elsewhere

The API's status and detail for each is decided in one table, ``cradletrace.api.errors.ANSWERS``.

Messages say what was expected and what arrived, and name the field at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class TraceError(Exception):
    """Base class of all cradletrace errors."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field: ``where`` is a dotted path such as ``events[2].data.lot``."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class InvalidInputError(TraceError, ValueError):
    """A value broke a rule. ``problems`` lists every field at fault."""

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    @property
    def field(self) -> str:
        return self.problems[0].where if self.problems else ""


class InvalidEventError(InvalidInputError):
    """One or more events in a submission are bad; nothing of the submission was stored."""


class CanonicalizationError(InvalidInputError):
    """The value has no canonical RFC 8785 form."""


class InvalidEpcisError(InvalidInputError):
    """The EPCIS document breaks the schema or the CBV vocabulary; nothing of it was used."""


class MappingError(InvalidInputError):
    """An EPCIS event that cradletrace cannot record as one of its kinds; names what is missing."""


class DuplicateEpcisError(InvalidInputError):
    """An EPCIS event of the document was captured before (same CBV 2.0 hash); nothing was stored."""


class EpcisQueryError(InvalidInputError):
    """An EPCIS 2.0 query parameter is unknown, unsupported or badly formed (GS1's QueryParameterException)."""


class EpcisSubscriptionError(InvalidInputError):
    """A named query's or subscription's body is badly formed (GS1's SubscriptionControlsException)."""


class EpcisNameTakenError(InvalidInputError):
    """A named EPCIS query of that name exists (GS1's ResourceAlreadyExistsException); nothing was stored."""


class Conflict(StrEnum):
    """Which state a ``StateConflictError`` met (the API answers a fixed text per kind)."""

    RECALLED = "recalled"  # a lot of the scope is already under an active recall
    RELEASED = "released"  # the hold is already released
    ANSWERED = "answered"  # the acknowledgement link was already used
    CLOSED = "closed"  # the recall is already closed
    PLANNED = "planned"  # the recall's effectiveness checks were already drawn
    CORRECTED = "corrected"  # the event already has its error declaration (corrections.py)


class StateConflictError(TraceError):
    """The input is well formed but the thing is not in the state it needs: a lot already under an
    active recall, a hold already released, a recall already closed. Not an input error (nothing
    in the request is wrong; the store's state is), so the API answers 409, not 422. ``kind`` names
    which; ``problems`` name the lot, hold or recall; nothing was changed."""

    def __init__(self, kind: Conflict, problems: list[Problem] | Problem) -> None:
        self.kind = kind
        self.problems: list[Problem] = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class NotFoundError(TraceError, LookupError):
    """The named supplier, key, lot or event is not in the store."""


class NotAllowedError(TraceError, PermissionError):
    """The actor may not do this now: expired certificate, revoked key, wrong role. ``problems``
    name the fields a refusal is about when it has some (a custody refusal names the lot, batch or
    shipment it concerns: ``events[0].data.lot``), so a form shows it beside that field; the
    message alone is the refusal's text (the API's 403 ``detail``)."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems: list[Problem] = list(problems)


class RequestSignatureError(TraceError):
    """An EPCIS capture request whose HTTP message signature (RFC 9421) or Content-Digest (RFC 9530)
    is missing, malformed, stale, by an unknown, revoked or another supplier's key, or does not
    verify: nothing was taken. ``header`` names the header at fault; the message what was expected."""

    def __init__(self, header: str, expected: str) -> None:
        super().__init__(f"{header}: {expected}")
        self.header = header
        self.problems = [Problem(header, expected)]


class CaptureLimitError(TraceError):
    """An EPCIS capture over a limit the binding advertises (``limit``: GS1-EPCIS-Capture-Limit or
    GS1-EPCIS-Capture-File-Size-Limit, whose ``value`` it exceeds): nothing was taken."""

    def __init__(self, limit: str, value: int, got: int) -> None:
        unit = "events" if limit == "GS1-EPCIS-Capture-Limit" else "bytes"
        super().__init__(f"{limit}: expected at most {value} {unit}, got {got}")
        self.limit = limit
        self.value = value
        self.problems = [Problem(limit, f"expected at most {value} {unit}, got {got}")]


class SessionEndedError(TraceError):
    """The supplier portal has no live session for this request: none was opened, it sat idle past
    its timeout or outlived its lifetime, it was signed out, or the API key it was opened with was
    revoked. The supplier signs in again; nothing was changed."""


class StoppedError(TraceError):
    """Long work stopped before its end: it ran past its time limit, its client went away or the
    server is stopping. Nothing was changed (only reading work is stopped this way)."""


class ConfigError(TraceError):
    """The data directory or settings cannot be used."""


class AnchoringBusyError(TraceError):
    """Another anchoring worker holds the leader lock, or claimed the same pending events first."""


class ChainError(TraceError):
    """The EVM chain failed to do what was asked."""


class ChainUnavailableError(ChainError, ConnectionError):
    """The chain node could not be reached or did not answer in time."""


class EmbeddedChainLockedError(ChainError, RuntimeError):
    """Another process (or another open in this one) already has the embedded chain file open."""


class ChainRevertedError(ChainError):
    """The contract refused the call; ``reason`` is the custom error's name when known."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class RpcRefusedError(TraceError):
    """A JSON-RPC request the read-only chain view (chain/rpcview.py) does not serve; ``code`` is
    the JSON-RPC error code to answer with (-32600, -32601, -32602; -32000 for a block it lacks)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
