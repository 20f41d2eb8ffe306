"""The reason codes the engine itself emits (its rules are named ``txguard:<code>``), in one table.

:data:`EngineCode` is the typed name of a code; :data:`ENGINE_CODES` says what each means (the
documentation's table is generated from it). An import-time check keeps the two identical, so a
code is added in both or the package does not import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, get_args

EngineCode = Literal[
    "malformed", "unknown_tool", "malformed_context", "missing_fact", "check_error",
    "default_outcome", "internal_error", "audit_unavailable",
]

ENGINE_CODES: Final[Mapping[EngineCode, str]] = {
    "malformed": "the proposal's arguments cannot be parsed or validated into an intent",
    "unknown_tool": "the policy maps no intent to the proposal's tool name",
    "malformed_context": "the request, session or facts are not in the expected shape",
    "missing_fact": "a record the rule needs is not in the facts",
    "check_error": "a rule raised an error while being evaluated",
    "default_outcome": "the policy's default for the intent kind (a floor: `escalate` for a kind it does not list) is above every fired rule",
    "internal_error": "the guard itself failed; nothing may be executed",
    "audit_unavailable": "the decision's audit record could not be written, so the decision is withheld",
}
"""Reason codes the engine itself emits (rule ids start with ``txguard:``), and what each means."""

if tuple(ENGINE_CODES) != get_args(EngineCode):  # pragma: no cover - a table edited on one side only
    raise ImportError("txguard.engine.codes: ENGINE_CODES and EngineCode list different codes")


def engine_code(code: str) -> EngineCode:
    """``code`` as an :data:`EngineCode`; raises ValueError for a code the table does not list."""
    for known in get_args(EngineCode):
        if code == known:
            return known  # type: ignore[no-any-return]
    raise ValueError(f"`{code}` is not an engine reason code")
