"""Each table has one owning package, and only that package writes it.

The rule (also in README, "How it is built"): every table model in trace/store/models.py belongs
to one feature package (``OWNERS`` below). Only the owner and trace/store write its table:
``insert(M)``, ``update(M)``, ``delete(M)``, a row object of ``M`` (made with ``M(...)`` or
loaded with ``session.get(M, ...)``) given to ``session.add``/``add_all``/``merge``/``delete`` or
changed by assigning to its attributes, and raw ``INSERT INTO``/``UPDATE``/``DELETE FROM`` text
naming the table. Any other module that needs a table changed calls the owner's function, so the
rules that keep a table right (signatures and custody for events, exactly-once anchoring, one
open recall per lot) live in one place. Reads are public: the store is also the read model that
scans, recalls, verification, exports and metrics query directly, and a read cannot break a rule.

The checker walks the syntax of every module in trace/, api/ and scanner_web/. It sees the forms
above, not rows that travel through other names (a row from ``session.exec(...).first()`` changed
elsewhere); those are rare and reviewed by hand. ``ALLOWED`` names the deliberate exceptions.
Modules of the package never import the tests either (``scripts/stack`` once ran ``tests.stack``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cradletrace.store import models

REPO = Path(__file__).resolve().parent.parent
ROOTS = {"trace": "cradletrace", "api": "cradletrace.api", "scanner_web": "cradletrace.scanner_web"}
STORE = "cradletrace.store"

# table model -> the modules or packages that own (write) its table
RECORDING = ("cradletrace.recording", "cradletrace.custody")
OWNERS: dict[str, tuple[str, ...]] = {
    "EventRow": RECORDING,
    "Lot": RECORDING,
    "LotInput": RECORDING,
    "Shipment": RECORDING,
    "Item": RECORDING,
    # The logistics units' state is written with each pack, move and sale event (units.py keeps it).
    "Unit": (*RECORDING, "cradletrace.units"),
    "UnitEvent": (*RECORDING, "cradletrace.units"),
    "Sale": (*RECORDING, "cradletrace.units"),
    "BuyerContact": ("cradletrace.sales",),
    "Recall": ("cradletrace.recall",),
    "RecallLot": ("cradletrace.recall",),
    "Hold": ("cradletrace.recall",),
    "PartnerContact": ("cradletrace.recall",),
    "RecallAck": ("cradletrace.recall",),
    "RecallAckLine": ("cradletrace.recall",),
    "RecallNotice": ("cradletrace.recall",),
    "RecallNoticeAttempt": ("cradletrace.recall",),
    "RecallCheck": ("cradletrace.recall",),
    "RecallMilestone": ("cradletrace.recall",),
    "ConsumerSubscription": ("cradletrace.recall",),
    "PersonNotice": ("cradletrace.recall",),
    "PersonNoticeAttempt": ("cradletrace.recall",),
    "ScanRecord": ("cradletrace.scan",),
    "AnchorBatch": ("cradletrace.anchoring",),
    "EpcisEvent": ("cradletrace.epcis",),
    "EpcisIndex": ("cradletrace.epcis",),
    "EpcisIndexValue": ("cradletrace.epcis",),
    "EpcisCapture": ("cradletrace.epcis",),
    "EpcisNamedQuery": ("cradletrace.epcis",),
    "EpcisSubscription": ("cradletrace.epcis",),
    "EpcisSubscriptionEvent": ("cradletrace.epcis",),
    "EpcisDelivery": ("cradletrace.epcis",),
    "EpcisDeliveryAttempt": ("cradletrace.epcis",),
    "Supplier": ("cradletrace.suppliers",),
    "SupplierKey": ("cradletrace.suppliers",),
    "Certification": ("cradletrace.suppliers",),
    "Product": ("cradletrace.products",),
    "ProductParty": ("cradletrace.products",),
    "ApiKey": ("cradletrace.apikeys",),
    "PortalSession": ("cradletrace.portal",),
    "Meta": (STORE, "cradletrace.workspace"),  # the workspace records the contract it opened the store with
}
# (module, model) -> why that module writes another package's table
ALLOWED: dict[tuple[str, str], str] = {
    ("cradletrace.demo", "EventRow"): "the demo plays someone editing a stored event, to show verify catching it",
}
WRITERS = frozenset({"insert", "update", "delete"})  # sqlalchemy / sqlmodel / dialect statement builders
SESSION_WRITES = frozenset({"add", "add_all", "merge", "delete"})
RAW_WRITE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)


@dataclass(frozen=True)
class Write:
    module: str
    line: int
    model: str
    how: str

    def __str__(self) -> str:
        owners = " or ".join(OWNERS[self.model])
        return f"{self.module}:{self.line} writes {self.model} ({self.how}); expected a call into {owners}"


def _table_models() -> dict[str, str]:
    """Table name -> model class name, for raw SQL."""
    return {
        cls.__tablename__: name  # type: ignore[attr-defined]
        for name, cls in vars(models).items()
        if isinstance(cls, type) and getattr(cls, "__table__", None) is not None and cls.__module__ == models.__name__
    }


def _model_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> model, for the models this module imports from the store."""
    return {
        alias.asname or alias.name: alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == models.__name__
        for alias in node.names
        if alias.name in OWNERS
    }


def _writer_names(tree: ast.Module) -> set[str]:
    """Local names of insert/update/delete, however they were imported (``insert as pg_insert``)."""
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name in WRITERS
    }


def _called(node: ast.expr) -> str | None:
    """The name a call's function goes by: ``insert`` for ``insert(...)`` and ``postgresql.insert(...)``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _model_of(node: ast.AST, names: dict[str, str]) -> str | None:
    """The model ``node`` is (``M``) or stands for (``M.__table__``), else None."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return names.get(node.id) if isinstance(node, ast.Name) else None


def _row_model(node: ast.AST, names: dict[str, str]) -> str | None:
    """The model of the row ``node`` makes or loads: ``M(...)`` or ``<session>.get(M, ...)``."""
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Name) and node.func.id in names:
        return names[node.func.id]
    if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
        return _model_of(node.args[0], names) if isinstance(node.args[0], ast.Name) else None
    return None


def _docstrings(tree: ast.Module) -> set[int]:
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }


def _functions(tree: ast.Module) -> Iterator[ast.AST]:
    """Each function: the scope in which a name holds one row."""
    yield from (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))


def writes(module: str, source: str) -> list[Write]:
    """Every write to a table that ``source`` (the text of ``module``) makes, by the forms in the docstring."""
    tree = ast.parse(source)
    names, writers, tables = _model_names(tree), _writer_names(tree), _table_models()
    found: set[Write] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and _called(node.func) in writers | WRITERS:
            model = _model_of(node.args[0], names)
            if model and (_called(node.func) in writers or isinstance(node.func, ast.Attribute)):
                found.add(Write(module, node.lineno, model, f"{_called(node.func)}()"))
    for scope in _functions(tree):
        rows: dict[str, str] = {}  # name -> model of the row it holds, in this scope
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign) and (model := _row_model(node.value, names)):
                rows.update((t.id, model) for t in node.targets if isinstance(t, ast.Name))
        for node in ast.walk(scope):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SESSION_WRITES:
                for arg in ast.walk(ast.Tuple(elts=[*node.args], ctx=ast.Load())):
                    model = _row_model(arg, names) or (rows.get(arg.id) if isinstance(arg, ast.Name) else None)
                    if model:
                        found.add(Write(module, node.lineno, model, f"session.{node.func.attr}() of a row"))
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AugAssign)
                else []
            )
            for target in targets:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id in rows:
                    found.add(
                        Write(module, node.lineno, rows[target.value.id], f"{target.value.id}.{target.attr} = ...")
                    )
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            for match in RAW_WRITE.finditer(node.value):
                model = tables.get(match.group(1).lower())
                if model:
                    found.add(Write(module, node.lineno, model, f"raw SQL {match.group(0)!r}"))
    return sorted(found, key=lambda w: (w.line, w.model, w.how))


def owns(module: str, model: str) -> bool:
    return any(module == o or module.startswith(o + ".") for o in (STORE, *OWNERS[model]))


def violations(module: str, source: str) -> list[Write]:
    return [w for w in writes(module, source) if not owns(module, w.model) and (module, w.model) not in ALLOWED]


def product_modules() -> Iterator[tuple[str, Path]]:
    for folder, package in ROOTS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            yield ".".join((package, *parts)), path


def test_only_the_owning_package_writes_a_table() -> None:
    found = [str(v) for module, path in product_modules() for v in violations(module, path.read_text("utf-8"))]
    assert not found, "\n".join(found)


def test_every_table_has_an_owner() -> None:
    assert set(_table_models().values()) == set(OWNERS)


def test_the_allowed_exceptions_are_still_needed() -> None:
    """An exception the code no longer needs is removed, so the list stays the list of real ones."""
    used = {
        (module, w.model)
        for module, path in product_modules()
        for w in writes(module, path.read_text("utf-8"))
        if not owns(module, w.model)
    }
    assert set(ALLOWED) <= used, set(ALLOWED) - used


PLANTED = '''
from sqlalchemy import update as sa_update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select, text

from cradletrace.store.models import EventRow, Hold, Lot, ScanRecord, Supplier


def reads(session: Session) -> int:
    """Reads are public: UPDATE event SET ... in a docstring is no write either."""
    session.exec(select(EventRow).where(EventRow.lot == "L1")).all()
    return len(session.exec(select(ScanRecord)).all())


def planted(session: Session, held: Hold) -> None:
    session.execute(sa_update(EventRow).where(EventRow.id == "x").values(proof=""))
    session.execute(insert(Lot.__table__).values(gtin="1", lot="L"))
    session.add(ScanRecord(gtin="1"))
    supplier = session.get(Supplier, "s1")
    supplier.name = "renamed"
    session.execute(text("DELETE FROM hold WHERE id = 1"))
'''


def test_the_checker_finds_planted_writes_and_passes_reads() -> None:
    found = [(v.line, v.model, v.how) for v in violations("cradletrace.scan.planted", PLANTED)]
    assert found == [
        (16, "EventRow", "sa_update()"),
        (17, "Lot", "insert()"),
        (20, "Supplier", "supplier.name = ..."),
        (21, "Hold", "raw SQL 'DELETE FROM hold'"),
    ], found  # ScanRecord belongs to cradletrace.scan, so its add is the owner's own
    assert [(v.line, v.model) for v in violations("cradletrace.verification", PLANTED)] == [
        (16, "EventRow"),
        (17, "Lot"),
        (18, "ScanRecord"),
        (20, "Supplier"),
        (21, "Hold"),
    ]
    assert violations("cradletrace.store.schema", PLANTED) == []


@pytest.mark.parametrize("module", ["cradletrace.recall.genealogy", "cradletrace.api.routes.events"])
def test_a_planted_write_in_a_real_module_fails(module: str) -> None:
    path = dict(product_modules())[module]
    source = path.read_text("utf-8") + "\n\ndef _planted(session):\n    session.add(Shipment(lot='L'))\n"
    source = "from cradletrace.store.models import Shipment\n" + source
    assert [v.model for v in violations(module, source)] == ["Shipment"]


def test_the_package_never_imports_the_tests() -> None:
    found = [
        f"{module}:{node.lineno}"
        for module, path in product_modules()
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tests")
        or (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "tests" for a in node.names))
    ]
    assert not found, found
