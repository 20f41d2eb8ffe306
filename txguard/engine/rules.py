"""The rule loop: each rule of the intent kind, preconditions first, on one decision's :class:`Ctx`.

A rule that raises :class:`MissingFact` escalates with ``missing_fact``, any other exception with
``check_error``; a precondition (``provides``) whose rule escalated or raised skips every later
rule that ``needs`` it.

With a :class:`~txguard.engine.trace.Trace`, the same loop appends a :class:`RuleTrace` per rule
as it runs: its status (fired, not fired, skipped, error), why, what a built-in check read
(``Ctx.read``) and every comparison of a ``when`` condition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..checks.ctx import Ctx
from ..core.decision import Outcome, Question, Reason
from ..policy.rules import CompiledRule
from ..policy.ir import ConditionError, MissingFact
from .compiled import MEMO, Step, schedule, scheduled, steps
from .conditions import NOW, eval_node
from .trace import Comparison, RuleTrace, Trace


def _env(ctx: Ctx) -> dict[str, Any]:
    """The environment of ``when`` conditions: one per decision, shared by its custom rules."""
    env: dict[str, Any] | None = ctx.cache.get("when_env")
    if env is None:
        env = ctx.cache["when_env"] = {
            "intent": ctx.intent, "request": ctx.request, "session": ctx.session, "facts": ctx.facts.raw(),
            NOW: ctx.now,  # `now` of an expression: the decision's clock, read once
            MEMO: True,  # the paths compiled `when` tests read are kept here, read once (engine/compiled.py)
        }
    return env


def run_rules(rules: Sequence[CompiledRule], ctx: Ctx,
              trace: Trace | None = None) -> tuple[list[Reason], list[str], list[Question], bool]:
    """The fired reasons, the routes of escalating ones, the questions of clarifying ones, and
    whether the consent check fired. With ``trace``, a :class:`RuleTrace` per rule is appended.

    Untraced, each ``when`` test runs compiled (:mod:`.compiled`), and a group of literal
    comparisons on one path none of which can fire is passed over whole (:func:`.compiled.schedule`);
    traced, every rule runs through ``eval_node``, which records every comparison (the two decide
    alike)."""
    fired: list[Reason] = []
    routes: list[str] = []
    questions: list[Question] = []
    failed: dict[str, str] = {}  # precondition -> the rule whose failure failed it
    consent_fired = False
    env: dict[str, Any] | None = None
    plain = steps(rules)
    order: Iterable[Step] = plain
    groups = schedule(rules) if trace is None else None
    if groups is not None:  # literal comparisons on one path: passed over together when none can fire
        try:
            env = _env(ctx)
            order = scheduled(plain, groups, env)
        except Exception:  # noqa: BLE001 - each rule then meets the error itself, as without groups
            env, order = None, plain
    for rule, fn, params, fast in order:
        if failed and not failed.keys().isdisjoint(rule.needs):
            if trace is not None:
                why = "; ".join(f"needs `{n}`, which failed ({failed[n]} fired)" for n in sorted(rule.needs & failed.keys()))
                trace.rules.append(_rule_trace(rule, "skipped", why))
            continue  # a precondition this rule needs has failed
        out: list[Comparison] | None = None
        if trace is not None:
            ctx.reads = {}
            out = [] if rule.check is None else None
        try:
            if fn is not None:  # a built-in check (its function and compiled params, read once per rule list)
                message = fn(ctx, params)
            else:  # a `when` tree on the environment shared by the decision's custom rules
                if env is None:
                    env = _env(ctx)
                if trace is None and fast is not None:
                    message = rule.detail if fast(env) else None
                else:
                    message = rule.detail if eval_node(rule.test, env, out) else None
        except MissingFact as exc:
            fired.append(Reason(rule.id, "missing_fact", str(exc), Outcome.ESCALATE))
            routes.append("human")
            if rule.provides:
                failed[rule.provides] = rule.id
            if trace is not None:
                trace.rules.append(_rule_trace(rule, "error", f"missing_fact, escalate: {exc}", ctx, out))
            continue
        except (ConditionError, Exception) as exc:  # noqa: BLE001 - a failing check escalates
            fired.append(Reason(rule.id, "check_error", f"{type(exc).__name__}: {str(exc)[:160]}", Outcome.ESCALATE))
            routes.append("human")
            if rule.provides:
                failed[rule.provides] = rule.id
            if trace is not None:
                trace.rules.append(_rule_trace(rule, "error", f"check_error, escalate: {type(exc).__name__}: {exc}",
                                               ctx, out))
            continue
        if message is None:
            if trace is not None:
                quiet = "the condition is false" if rule.check is None else "the check passed"
                trace.rules.append(_rule_trace(rule, "not fired", quiet, ctx, out))
            continue
        detail = message
        if rule.message:
            message = rule.message.replace("{detail}", message)
        fired.append(Reason(rule.id, rule.code, message, rule.outcome))
        if rule.outcome is Outcome.ESCALATE:
            routes.append(rule.route)
            if rule.provides:
                failed[rule.provides] = rule.id
        elif rule.question is not None:
            questions.append(rule.question)
        if rule.check == "consent":
            consent_fired = True
        if trace is not None:
            why = f"{rule.outcome.value} [{rule.code}]: {detail}"
            if rule.description is not None and rule.check is None and rule.description not in detail:
                why += f" (description: {rule.description})"  # for the author; never in the user's message
            trace.rules.append(_rule_trace(rule, "fired", why, ctx, out))
    if trace is not None:
        ctx.reads = None
    return fired, routes, questions, consent_fired


def _rule_trace(rule: CompiledRule, status: str, why: str, ctx: Ctx | None = None,
                out: list[Comparison] | None = None) -> RuleTrace:
    inputs = dict(ctx.reads) if ctx is not None and ctx.reads is not None else {}
    return RuleTrace(rule=rule.id, check=rule.check or "when", code=rule.code, outcome=rule.outcome.value,
                     status=status, why=why, inputs=inputs, comparisons=tuple(out or ()), location=str(rule.loc))
