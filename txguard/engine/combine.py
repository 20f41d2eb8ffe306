"""Combine: the fired reasons, the policy's default for the kind -> one :class:`Decision`.

The outcome is the maximum over the fired rules and the policy's default for the kind: the
default is a floor (a kind the policy does not list escalates whatever fires), so adding a rule
can never lower an outcome.
"""

from __future__ import annotations

import time

from ..core.decision import Decision, Outcome, Question, Reason, Route
from ..core.intents import CONSEQUENTIAL_KINDS, Intent, ReadOnly
from ..policy.compile import CompiledPolicy
from .confirm import confirmation_request


def combine(policy: CompiledPolicy, kind: str, intent: Intent | ReadOnly, fired: list[Reason], routes: list[str],
            questions: list[Question], consent_fired: bool, t0: int) -> Decision:
    """The decision of one proposal from the rules that fired on it (``t0``: when deciding began)."""
    default = policy.defaults.get(kind, Outcome.ESCALATE)
    if not fired and default is Outcome.ALLOW:
        return Decision(Outcome.ALLOW, (), policy.ref, kind, elapsed_us=(time.perf_counter_ns() - t0) / 1000,
                        intent=intent)
    if default.rank > max((r.outcome.rank for r in fired), default=-1):
        message = f"the policy's default for `{kind}` is `{default.value}`" + ("" if fired else " and no rule fired")
        fired.append(Reason(f"defaults.{kind}", "default_outcome", message, default))
        if default is Outcome.CLARIFY:
            questions.append(Question("default_outcome", f"Do you want me to go ahead with this {kind.replace('_', ' ')}?"))
            consent_fired = True
        else:
            routes.append("human")
    fired.sort(key=lambda r: (-r.outcome.rank, r.rule, r.code))
    outcome = fired[0].outcome
    route: Route | None = None
    confirmation = None
    if outcome is Outcome.ESCALATE:
        route = policy.route(routes)
        questions = []
    else:
        seen: set[str] = set()
        questions = [q for q in sorted(questions, key=lambda q: q.code) if not (q.code in seen or seen.add(q.code))]  # type: ignore[func-returns-value]
        if consent_fired and kind in CONSEQUENTIAL_KINDS:
            confirmation = confirmation_request(intent)
    return Decision(
        outcome=outcome,
        reasons=tuple(fired),
        policy=policy.ref,
        kind=kind,
        questions=tuple(questions),
        confirmation=confirmation,
        route=route,
        elapsed_us=(time.perf_counter_ns() - t0) / 1000,
        intent=intent,
    )
