"""The decision: what the guard returns for every proposal.

The outcome is the maximum over the outcomes of the rules that fired (``allow`` < ``clarify`` <
``escalate``). A ``clarify`` always carries at least one question; an ``escalate`` always carries a
route and a reason. These objects are plain frozen dataclasses: they are built on the hot path.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

from .intents import Intent, ReadOnly
from .fastinit import fast_init

Route = Literal["human", "refuse"]


class Outcome(str, enum.Enum):
    """What the host must do with a proposal, in increasing order of severity."""

    ALLOW = "allow"
    CLARIFY = "clarify"
    ESCALATE = "escalate"

    @property
    def rank(self) -> int:
        """0 for allow, 1 for clarify, 2 for escalate."""
        return _RANK[self]

    def __str__(self) -> str:
        return self.value


_RANK = {Outcome.ALLOW: 0, Outcome.CLARIFY: 1, Outcome.ESCALATE: 2}


@fast_init
@dataclass(frozen=True, slots=True)
class Reason:
    """One fired rule: its id, its stable reason code, a message, and the outcome it asked for."""

    rule: str
    code: str
    message: str
    outcome: Outcome

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "code": self.code, "message": self.message, "outcome": self.outcome.value}


@dataclass(frozen=True, slots=True)
class Question:
    """A typed question for the user: ``confirm`` (yes/no), ``choose`` (one of options) or ``provide``."""

    code: str
    text: str
    kind: Literal["confirm", "choose", "provide"] = "confirm"
    options: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text, "kind": self.kind, "options": list(self.options)}


@fast_init
@dataclass(frozen=True, slots=True)
class ConfirmationLine:
    """One line of a confirmation screen: the variant, its title, the quantity and the unit price."""

    sku: str
    title: str | None
    quantity: int
    unit_price: str

    def to_dict(self) -> dict[str, Any]:
        return {"sku": self.sku, "title": self.title, "quantity": self.quantity, "unit_price": self.unit_price}


@fast_init
@dataclass(frozen=True, slots=True)
class ConfirmationRequest:
    """Exactly what would be executed, for the host to show on a trusted confirmation screen.

    ``digest`` is the binding of the intent's consequential fields: a confirmation the host records
    for this request (by digest, or by the proposal itself) authorises exactly this intent.
    """

    kind: str
    digest: str
    summary: dict[str, Any]
    lines: tuple[ConfirmationLine, ...] = ()
    total: str | None = None
    currency: str | None = None
    payment_method_id: str | None = None
    merchant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "digest": self.digest,
            "lines": [line.to_dict() for line in self.lines],
            "total": self.total,
            "currency": self.currency,
            "payment_method_id": self.payment_method_id,
            "merchant": self.merchant,
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """Which policy decided: id, version and the SHA-256 digest of its effective content."""

    id: str
    version: str
    digest: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "version": self.version, "digest": self.digest}


@fast_init
@dataclass(frozen=True, slots=True)
class Decision:
    """The guard's answer for one proposal.

    Example:
        >>> match decision.outcome:                       # doctest: +SKIP
        ...     case Outcome.ALLOW: run_tool()
        ...     case Outcome.CLARIFY: ask(decision.questions, decision.confirmation)
        ...     case Outcome.ESCALATE: hand_over(decision.route)
        ...     case _ as unreachable: assert_never(unreachable)
    """

    outcome: Outcome
    reasons: tuple[Reason, ...]
    policy: PolicyRef
    kind: str | None = None
    questions: tuple[Question, ...] = ()
    confirmation: ConfirmationRequest | None = None
    route: Route | None = None
    # Timing is reported but is not part of what was decided: equal inputs give equal decisions.
    elapsed_us: float = field(default=0.0, compare=False)
    intent: Intent | ReadOnly | None = field(default=None, compare=False, repr=False)
    """The validated intent the proposal became (a read-only tool's :class:`ReadOnly` view), or None
    when it did not become one (a malformed proposal, an unknown tool). Not part of what was decided."""

    @property
    def allowed(self) -> bool:
        """True only for ``allow``."""
        return self.outcome is Outcome.ALLOW

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes, in decision order."""
        return tuple(r.code for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """The full decision as JSON-ready data (the ``--format json`` shape)."""
        return {
            "outcome": self.outcome.value,
            "kind": self.kind,
            "reasons": [r.to_dict() for r in self.reasons],
            "questions": [q.to_dict() for q in self.questions],
            "confirmation": self.confirmation.to_dict() if self.confirmation else None,
            "route": self.route,
            "policy": self.policy.to_dict(),
            "elapsed_us": round(self.elapsed_us, 1),
        }

