"""The state of one decision as the pipeline's steps pass it on (see :mod:`.pipeline`)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..core.decision import Decision, Outcome, Question, Reason
from ..policy.compile import CompiledPolicy
from ..core.fastinit import fast_init

if TYPE_CHECKING:
    from ..consent.binding import Binding
    from ..core.context import Confirmed, Proposal


@dataclass(frozen=True, slots=True)
class ShadowResult:
    """One candidate decision: the decision (``internal_error`` if it raised) and the error text."""

    candidate: CompiledPolicy
    decision: Decision
    error: str | None
    elapsed_ns: int


RANK = {o: o.rank for o in Outcome}
"""Each outcome's rank, read by a dict lookup on the hot path (``Outcome.rank`` is a property)."""


def _sort_key(r: Reason) -> tuple[int, str, str]:
    return -RANK[r.outcome], r.rule, r.code


@fast_init
@dataclass(frozen=True, slots=True, eq=False)
class Consented:
    """The ``consent`` check's binding of the intent, handed by the rules step to the session step.

    ``binding`` is what :func:`~txguard.consent.binding.bind` returned with ``first=True`` for
    exactly these inputs (the policy, the intent, the session's ``confirmed``, ``now``, the consent
    keys, the proposal and its parsed arguments): the session step uses it only when its own
    inputs are these very objects, and completes it into the full binding (see
    ``txguard.sessions._bound``), so the confirmations are not bound twice per decision.
    """

    policy: CompiledPolicy
    intent: Any
    confirmed: Sequence[Confirmed]
    now: datetime
    keys: Mapping[str, bytes] | None
    proposal: Proposal | None
    arguments: Mapping[str, Any] | None
    binding: Binding


@fast_init
@dataclass(frozen=True, slots=True)
class State:
    """What is known of one decision so far.

    ``reasons`` fired (rules, the default floor, session rules, budgets, single use), the routes
    their escalations name, the questions their clarifications ask, ``confirm`` (one of them asks
    for the user's confirmation: a consent check, a ``clarify`` default, any session reason), the
    ``kind`` and ``intent`` the decision is about (cleared when the guard itself failed), the
    ``decision`` once combined, the ``shadow`` candidate's decision if one was taken, and the
    ``consent`` check's binding (:class:`Consented`) if the rules step ran it.
    """

    kind: str | None
    intent: Any
    reasons: tuple[Reason, ...] = ()
    routes: tuple[str, ...] = ()
    questions: tuple[Question, ...] = ()
    confirm: bool = False
    decision: Decision | None = None
    shadow: ShadowResult | None = None
    consent: Consented | None = None

    def fire(self, reasons: Sequence[Reason], routes: Sequence[str] = (), questions: Sequence[Question] = (),
             confirm: bool = False) -> State:
        """This state with more fired reasons (and their routes, questions, confirmation)."""
        if not reasons:
            return self
        # The constructor, not dataclasses.replace: this runs once per step of every decision.
        return State(self.kind, self.intent, (*self.reasons, *reasons), (*self.routes, *routes),
                     (*self.questions, *questions), self.confirm or confirm, self.decision, self.shadow, self.consent)

    def decided(self, decision: Decision) -> State:
        """This state with its decision."""
        return State(self.kind, self.intent, self.reasons, self.routes, self.questions, self.confirm, decision,
                     self.shadow, self.consent)

    def consented(self, consent: Consented) -> State:
        """This state with the consent check's binding (for the session step)."""
        return State(self.kind, self.intent, self.reasons, self.routes, self.questions, self.confirm, self.decision,
                     self.shadow, consent)

    @property
    def outcome(self) -> Outcome:
        """The outcome the reasons fired so far add up to (the maximum; ``allow`` for none)."""
        best, rank = Outcome.ALLOW, 0
        for r in self.reasons:
            if RANK[r.outcome] > rank:
                best, rank = r.outcome, RANK[r.outcome]
        return best

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes in decision order (what the decision's ``codes`` will be)."""
        return tuple(r.code for r in sorted(self.reasons, key=_sort_key))


def sort_reasons(reasons: Sequence[Reason]) -> list[Reason]:
    """Reasons in decision order: the highest outcome first, then by rule id and code."""
    return sorted(reasons, key=_sort_key)


def engine_reason(code: str, message: str) -> Reason:
    """A reason the engine or the session layer fires (rule ``txguard:<code>``, outcome ``escalate``)."""
    return Reason(f"txguard:{code}", code, message, Outcome.ESCALATE)


def internal_error(policy: CompiledPolicy, exc: BaseException, t0: int | None = None) -> Decision:
    """The fail-closed decision for a failure of the guard itself (``internal_error``, route ``human``)."""
    reason = engine_reason("internal_error", f"{type(exc).__name__}: {str(exc)[:200]}")
    start = t0 if t0 is not None else time.perf_counter_ns()
    return Decision(Outcome.ESCALATE, (reason,), policy.ref, None, route="human",
                    elapsed_us=(time.perf_counter_ns() - start) / 1000)
