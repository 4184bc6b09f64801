"""The ``cradletrace`` command line: the root app (``main``), one module per command group, and the
options and error printing they share (``options``).

Thin by design: commands parse options, call the library and print a few readable lines; they
import what they use when they run, so a command that needs no store or chain starts fast.
The console script is ``cradletrace.cli:app``.
"""

from __future__ import annotations

from cradletrace.cli.main import app

__all__ = ["app"]
