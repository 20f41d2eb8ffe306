"""Evaluate: the rules step, and ``evaluate``, the pure pipeline (case -> rules -> combine).

``evaluate`` is a pure function of (compiled policy, proposal, context, clock) -> Decision. It
never raises. Anything that cannot be parsed, validated or evaluated yields ``escalate`` with a
reason code (fail closed); the outcome is the maximum over the outcomes of the fired rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..checks.ctx import Ctx
from ..checks.identity import CONSENT_BINDING
from ..core.decision import Decision
from ..policy.compile import CompiledPolicy
from .case import Case, Clock, coerce, intent_proposal
from .codes import ENGINE_CODES
from .combine import Combine, default_floor
from .pipeline import EXACT, Step, failed, run
from .rules import run_rules
from .state import Consented, State, internal_error
from .trace import Trace

__all__ = ["ENGINE_CODES", "EXACT", "Clock", "Rules", "evaluate", "internal_error"]

_coerce = coerce  # the names explain imports today (explain moves to the case and the trace)
_intent_proposal = intent_proposal



class Rules:
    """The step that fires the rules of the intent's kind (preconditions first), then the
    policy's default floor. A case that reaches no rule (its ``problem``) fires nothing here.

    When the ``consent`` check ran, its binding goes on the state with the inputs it was bound
    from (:class:`~txguard.engine.state.Consented`), for the session step to reuse."""

    def __call__(self, case: Case, state: State) -> State:
        mapped = case.mapped
        if mapped.problem is not None or case.context is not None or state.decision is not None:
            return state  # no rule (the case's `problem`), or a step before failed
        if case.clock_error is not None:
            return failed(case, case.clock_error, state.shadow)
        intent, kind, now, req, ses, fac = mapped.intent, mapped.kind, case.now, case.req, case.ses, case.fac
        if intent is None or kind is None or now is None or req is None or ses is None or fac is None:
            raise RuntimeError("a case with no problem holds every input")  # fails closed: internal_error
        policy = case.policy
        ctx = Ctx(intent, req, ses, fac, now, policy, mapped.prop, mapped.arguments, case.keys)
        fired, routes, questions, consent_fired = run_rules(policy.by_kind.get(kind, ()), ctx, case.trace)
        binding = ctx.cache.get(CONSENT_BINDING)
        if binding is not None:
            state = state.consented(Consented(policy, intent, ses.confirmed, now, case.keys, ctx.proposal,
                                              mapped.arguments, binding))
        return default_floor(policy, kind, state.fire(fired, routes, questions, consent_fired))


PURE: tuple[Step, ...] = (Rules(), Combine())
"""The steps of a decision without conversation state, audit or shadow."""


def evaluate(
    policy: CompiledPolicy,
    proposal: Any,
    request: Any,
    session: Any,
    facts: Any,
    clock: Clock,
    consent_keys: Mapping[str, bytes] | None = None,
    *,
    trace: Trace | None = None,
) -> Decision:
    """Decide one proposal. Never raises; see the module docstring.

    ``consent_keys`` (``{key id: key}``) verify the session's signed consent tokens. With
    ``trace``, the rule loop records each rule it considers (see :mod:`txguard.engine.trace`).
    """
    try:
        case = Case.read(policy, proposal, request, session, facts, clock, consent_keys, trace=trace)
        decision = run(PURE, case).decision
        assert decision is not None  # Combine ran, or a failure decided
        return decision
    except Exception as exc:  # noqa: BLE001 - the guard fails closed, whatever happened
        return internal_error(policy, exc)
