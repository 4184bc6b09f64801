"""Keep the interpreter's recursion limit at its default, whatever the chain libraries import.

py_ecc (imported by web3) sets it to 100 000 and py-evm (the embedded chain, ``eth``) to 12 288
when they are imported. With such a limit, C code that recurses on its input (``json.loads`` of
a deeply nested body) overflows the C stack and kills the process with a segfault long before
Python raises ``RecursionError``. Nothing cradletrace runs needs more than the default (the
contracts make no nested calls), so the limit is put back right after those modules load.
Installed by the package's ``__init__``, so it holds in every entry point (CLI, ``serve``,
``uvicorn --factory``, workers): the modules are imported lazily, long after startup.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

SAFE_RECURSION_LIMIT = 1000  # CPython's default
_RAISERS = frozenset({"py_ecc", "eth"})  # top-level packages that raise the limit when imported


class _ResettingLoader(Loader):
    """Runs the real loader, then puts the limit back; anything else is the real loader's."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> object:
        return getattr(self.loader, name)

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        try:
            self.loader.exec_module(module)
        finally:
            sys.setrecursionlimit(SAFE_RECURSION_LIMIT)


class _KeepRecursionLimit(MetaPathFinder):
    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        if name not in _RAISERS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _ResettingLoader(spec.loader)
                return spec
        return None


def install() -> None:
    """Reset the limit now (a raiser may be imported already) and after any later import of one."""
    if not any(isinstance(f, _KeepRecursionLimit) for f in sys.meta_path):
        sys.meta_path.insert(0, _KeepRecursionLimit())
    sys.setrecursionlimit(SAFE_RECURSION_LIMIT)
