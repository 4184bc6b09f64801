"""Every error cradletrace raises on purpose.

The hierarchy, and the builtin each one resembles::

    TraceError
    ├── InvalidInputError (ValueError)         a value broke a rule; names the field
    │   ├── InvalidEventError                  one or more events in a submission are bad
    │   └── CanonicalizationError              a value has no RFC 8785 form (NaN, huge int, ...)
    ├── NotFoundError (LookupError)            an id, lot or event that is not in the store
    ├── NotAllowedError (PermissionError)      expired certificate, revoked key, wrong role
    ├── ConfigError                            data directory or settings unusable
    ├── AnchoringBusyError                     another worker anchors now (leader lock, claimed events)
    └── ChainError                             the EVM side failed
        ├── ChainUnavailableError (ConnectionError)   node unreachable / timed out
        └── ChainRevertedError                 the contract refused; ``reason`` is its error name

Messages say what was expected and what arrived, and name the field at fault.
"""

from __future__ import annotations

from dataclasses import dataclass


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


class NotFoundError(TraceError, LookupError):
    """The named supplier, key, lot or event is not in the store."""


class NotAllowedError(TraceError, PermissionError):
    """The actor may not do this now: expired certificate, revoked key, wrong role."""


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


class ChainRevertedError(ChainError):
    """The contract refused the call; ``reason`` is the custom error's name when known."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason
