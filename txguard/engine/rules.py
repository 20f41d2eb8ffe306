"""The rule loop: each rule of the intent kind, preconditions first, on one decision's :class:`Ctx`.

A rule that raises :class:`MissingFact` escalates with ``missing_fact``, any other exception with
``check_error``; a precondition (``provides``) whose rule escalated or raised skips every later
rule that ``needs`` it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..checks.ctx import Ctx
from ..core.decision import Outcome, Question, Reason
from ..policy.compile import CompiledRule
from ..policy.conditions import ConditionError, MissingFact


def run_rules(rules: Iterable[CompiledRule], ctx: Ctx) -> tuple[list[Reason], list[str], list[Question], bool]:
    """The fired reasons, the routes of escalating ones, the questions of clarifying ones, and
    whether the consent check fired."""
    fired: list[Reason] = []
    routes: list[str] = []
    questions: list[Question] = []
    failed: set[str] = set()
    consent_fired = False
    for rule in rules:
        if failed and not failed.isdisjoint(rule.needs):
            continue  # a precondition this rule needs has failed
        try:
            message = rule.fn(ctx, rule.params)
        except MissingFact as exc:
            fired.append(Reason(rule.id, "missing_fact", str(exc), Outcome.ESCALATE))
            routes.append("human")
            if rule.provides:
                failed.add(rule.provides)
            continue
        except (ConditionError, Exception) as exc:  # noqa: BLE001 - a failing check escalates
            fired.append(Reason(rule.id, "check_error", f"{type(exc).__name__}: {str(exc)[:160]}", Outcome.ESCALATE))
            routes.append("human")
            if rule.provides:
                failed.add(rule.provides)
            continue
        if message is None:
            continue
        if rule.message:
            message = rule.message.replace("{detail}", message)
        fired.append(Reason(rule.id, rule.code, message, rule.outcome))
        if rule.outcome is Outcome.ESCALATE:
            routes.append(rule.route)
            if rule.provides:
                failed.add(rule.provides)
        elif rule.question is not None:
            questions.append(rule.question)
        if rule.check == "consent":
            consent_fired = True
    return fired, routes, questions, consent_fired
