"""Combine: every fired reason (rules, the default floor, session rules, budgets, single use) ->
one :class:`Decision`, the only place a decision is made of reasons.

The outcome is the maximum over the fired reasons; the reasons are sorted (highest outcome first,
then rule id, then code); an escalation's route is the first of the policy's
``routes.precedence`` that an escalating reason names; a clarification asks its distinct questions
(by code) and, for a consequential intent whose reasons ask for it, carries the confirmation
request.
"""

from __future__ import annotations

import time

from ..core.decision import Decision, Outcome, Question, Reason, Route
from ..policy.compile import CompiledPolicy
from .case import Case
from .confirm import confirmation_request
from .state import RANK, State, sort_reasons


def default_floor(policy: CompiledPolicy, kind: str, state: State) -> State:
    """``state`` with the policy's default for ``kind`` fired when it is above every fired reason.

    The default is a floor (a kind the policy does not list escalates whatever fires), so adding a
    rule can never lower an outcome.
    """
    default = policy.defaults.get(kind, Outcome.ESCALATE)
    fired = state.reasons
    if not fired and default is Outcome.ALLOW:
        return state
    rank = RANK[default]
    for r in fired:
        if RANK[r.outcome] >= rank:
            return state  # a fired reason is at or above the default
    message = f"the policy's default for `{kind}` is `{default.value}`" + ("" if fired else " and no rule fired")
    reason = Reason(f"defaults.{kind}", "default_outcome", message, default)
    if default is Outcome.CLARIFY:
        question = Question("default_outcome", f"Do you want me to go ahead with this {kind.replace('_', ' ')}?")
        return state.fire([reason], questions=[question], confirm=True)
    return state.fire([reason], routes=["human"])


def _code(q: Question) -> str:
    return q.code


def combine(policy: CompiledPolicy, state: State, t0: int) -> Decision:
    """The decision the reasons fired in ``state`` add up to (``t0``: when deciding began)."""
    reasons = sort_reasons(state.reasons)
    outcome = reasons[0].outcome if reasons else Outcome.ALLOW
    route: Route | None = None
    questions: list[Question] = []
    confirmation = None
    if outcome is Outcome.ESCALATE:
        route = policy.route(state.routes)
    else:
        if state.questions:
            seen: set[str] = set()
            for q in sorted(state.questions, key=_code):
                if q.code not in seen:
                    seen.add(q.code)
                    questions.append(q)
        if state.confirm and state.intent is not None and state.kind in policy.domain.consequential:
            confirmation = confirmation_request(state.intent)
    return Decision(
        outcome=outcome,
        reasons=tuple(reasons),
        policy=policy.ref,
        kind=state.kind,
        questions=tuple(questions),
        confirmation=confirmation,
        route=route,
        elapsed_us=(time.perf_counter_ns() - t0) / 1000,
        intent=state.intent,
    )


class Combine:
    """The step that builds the decision, once, from everything fired before it."""

    def __call__(self, case: Case, state: State) -> State:
        return state.decided(combine(case.policy, state, case.t0))
