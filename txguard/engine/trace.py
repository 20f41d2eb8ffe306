"""Trace: what one decision did, rule by rule, recorded as it runs.

Tracing is a mode of the one evaluator (``evaluate(..., trace=Trace())``), never a second
interpreter: the rule loop appends a :class:`RuleTrace` per rule it considers, a condition appends
each comparison it makes, a built-in check records what it reads (``Ctx.read``), and the session
step appends a :class:`SessionTrace` per session rule. Without a trace nothing is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from ..core.paths import MISSING

MAX_ELEMENTS = 20
"""At most this many elements of a ``for_each`` are traced (the rest are judged, not traced)."""


@dataclass(frozen=True)
class Comparison:
    """One traced comparison of a ``when`` condition."""

    depth: int
    text: str
    left: Any = None
    op: str = ""
    right: Any = None
    result: bool | None = None

    def render(self) -> str:
        pad = "  " * self.depth
        if not self.op:
            return f"{pad}{self.text}" + ("" if self.result is None else f" -> {str(self.result).lower()}")
        res = "?" if self.result is None else str(self.result).lower()
        return f"{pad}{self.text}: {show(self.left)} {self.op} {show(self.right)} -> {res}"


@dataclass(frozen=True)
class RuleTrace:
    """What one rule did for this decision."""

    rule: str
    check: str
    code: str
    outcome: str
    status: str
    """``fired``, ``not fired``, ``skipped`` (a precondition failed) or ``error`` (missing fact, check error)."""
    why: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    comparisons: tuple[Comparison, ...] = ()
    location: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "check": self.check, "code": self.code, "outcome": self.outcome,
            "status": self.status, "why": self.why, "location": self.location,
            "inputs": {k: jsonable(v) for k, v in self.inputs.items()},
            "comparisons": [
                {"depth": c.depth, "text": c.text, "left": jsonable(c.left), "op": c.op,
                 "right": jsonable(c.right), "result": c.result}
                for c in self.comparisons
            ],
        }


@dataclass(frozen=True)
class SessionTrace:
    """What one session rule, budget or the single-use confirmations did for this decision."""

    rule: str
    form: str
    """``count``, ``distinct``, ``sum``, ``sequence``, ``budget`` or ``single_use``."""
    code: str
    outcome: str
    status: str
    """``fired``, ``not fired`` or ``not checked`` (budgets and single use: the outcome was not allow)."""
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "form": self.form, "code": self.code, "outcome": self.outcome,
                "status": self.status, "why": self.why}


@dataclass
class Trace:
    """The record of one traced decision: filled by the evaluator and the session step."""

    rules: list[RuleTrace] = field(default_factory=list)
    session_rules: list[SessionTrace] = field(default_factory=list)
    conversation: str | None = None
    earlier_events: int = 0


def jsonable(value: Any) -> Any:
    """``value`` as JSON data (a missing value as ``"<missing>"``, amounts as strings)."""
    if value is MISSING:
        return "<missing>"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def show(value: Any) -> str:
    """``value`` as a short text for a rendered trace."""
    if value is MISSING:
        return "<missing>"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Decimal):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    text = json.dumps(jsonable(value), sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."
