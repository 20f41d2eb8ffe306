"""The txguard exception tree.

Only policy authoring and programming errors raise; a decision never does (the guard
fails closed and returns ``escalate`` instead).

::

    TxguardError
    ├── DiagnosticsError       a file cannot be loaded; carries every located diagnostic
    │   ├── PolicyError        a policy file cannot be loaded, validated or compiled
    │   └── SuiteError         a policy test suite cannot be loaded (``txguard test``)
    ├── MoneyError             an amount or currency is not acceptable (also a ValueError)
    ├── UsageError             the library was called with arguments it cannot use
    ├── ConsentTokenError      a signed consent token cannot be trusted (also a ValueError)
    ├── ToolDefinitionError    a tool mapping no argument schema can describe (also a ValueError)
    └── ToolBlocked            a guarded tool (``on_block="raise"``) was not allowed to run;
                               carries the :class:`~txguard.Blocked` result
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal

READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, UnicodeDecodeError, zlib.error)
"""What reading an input file can raise: an OS error, a truncated or corrupted gzip stream
(``EOFError``, ``gzip.BadGzipFile``, ``zlib.error``), bytes that are not UTF-8."""

ErrorCode = Literal[
    "txg-yaml",
    "txg-schema",
    "txg-path",
    "txg-param",
    "txg-duplicate",
    "txg-extends",
    "txg-io",
    "txg-suite",
]
"""Codes of policy diagnostics. Each is documented in ``ERROR_CODES``."""

ERROR_CODES: dict[str, str] = {
    "txg-yaml": "the file is not well-formed YAML (or has a duplicate mapping key)",
    "txg-schema": "the document does not match the policy JSON Schema",
    "txg-path": "a field path in a rule does not exist in the intent or context schemas",
    "txg-param": "a rule's parameters are not usable by its check (bad amount, unknown currency, ...)",
    "txg-duplicate": "two rules share an id, or two tools share a name",
    "txg-extends": "a policy that extends a base one loosens it, or the base cannot be loaded",
    "txg-io": "the policy file (or a file it references) cannot be read",
    "txg-suite": "a policy test suite (`*.tests.yaml`) is not in the suite format (docs/suite-format.md)",
}

MAX_DIAGNOSTICS = 50
"""At most this many diagnostics are reported for one load; the rest are counted."""


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """One located problem in a policy file.

    Rendered as ``file:line:col: code: message`` on a single line.
    """

    file: str
    line: int
    column: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.code}: {self.message}"


class TxguardError(Exception):
    """Root of every exception txguard raises."""


class UsageError(TxguardError):
    """The library was called with arguments it cannot use."""


class ConsentTokenError(TxguardError, ValueError):
    """A signed consent token is malformed, names a key the verifier lacks, or its MAC fails."""


class MoneyError(TxguardError, ValueError):
    """An amount or a currency is not acceptable at the boundary."""


class DiagnosticsError(TxguardError):
    """A file could not be loaded; ``diagnostics`` lists every problem, sorted by location, and
    ``omitted`` counts those left out past the cap."""

    def __init__(self, diagnostics: list[Diagnostic], omitted: int = 0) -> None:
        self.diagnostics = sorted(diagnostics)
        self.omitted = omitted
        lines = [str(d) for d in self.diagnostics]
        if omitted:
            lines.append(f"... and {omitted} more")
        super().__init__("\n".join(lines))


class PolicyError(DiagnosticsError):
    """A policy could not be loaded; ``diagnostics`` lists every problem, sorted by location."""


class MissingFact(Exception):
    """A fact the decision needs is not in the facts: the rule escalates with ``missing_fact``.

    Raised while a rule runs (a built-in check or a ``when`` condition), never out of ``check``."""


class ConditionError(Exception):
    """A comparison could not be evaluated (e.g. ``gt`` between a word and a number): the rule
    escalates with ``check_error``. Raised while a rule runs, never out of ``check``."""
