"""Evaluate: a pure function of (compiled policy, proposal, context, clock) -> Decision.

It never raises. Anything that cannot be parsed, validated or evaluated yields ``escalate`` with a
reason code (fail closed); the outcome is the maximum over the outcomes of the fired rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Context, localcontext
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ValidationError

from ..checks.ctx import Ctx
from .codes import ENGINE_CODES as ENGINE_CODES  # the table's home is engine/codes.py
from .codes import EngineCode, engine_code
from .combine import combine
from .rules import run_rules
from .trace import Trace
from ..policy.compile import CompiledPolicy
from ..policy.tools import ProposalError, validation_summary
from ..core.context import EMPTY_REQUEST, EMPTY_SESSION, Facts, Proposal, Request, Session
from ..core.decision import (
    Decision,
    Outcome,
    Reason,
    Route,
)

if TYPE_CHECKING:
    from ..core.intents import Intent, ReadOnly

Clock = Callable[[], datetime]

EXACT = Context(prec=60)
"""The decimal context of every decision (default traps: invalid operation, division by zero, overflow)."""


def _engine(code: EngineCode, message: str, route: Route = "human") -> tuple[Reason, Route]:
    return Reason(f"txguard:{code}", code, message, Outcome.ESCALATE), route


def _escalation(policy: CompiledPolicy, reason: Reason, route: Route, t0: int, kind: str | None = None) -> Decision:
    return Decision(
        outcome=Outcome.ESCALATE,
        reasons=(reason,),
        policy=policy.ref,
        kind=kind,
        route=route,
        elapsed_us=(time.perf_counter_ns() - t0) / 1000,
    )


def internal_error(policy: CompiledPolicy, exc: BaseException, t0: int | None = None) -> Decision:
    """The fail-closed decision for a failure of the guard itself (``internal_error``, route ``human``)."""
    reason, route = _engine("internal_error", f"{type(exc).__name__}: {str(exc)[:200]}")
    return _escalation(policy, reason, route, t0 if t0 is not None else time.perf_counter_ns())


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
    t0 = time.perf_counter_ns()
    try:
        # Money arithmetic must not depend on the caller's decimal context (a host may have set a
        # low precision): 60 digits hold any product and sum of the bounded amounts exactly.
        with localcontext(EXACT):
            return _evaluate(policy, proposal, request, session, facts, clock, t0, consent_keys, trace)
    except Exception as exc:  # noqa: BLE001 - the guard fails closed, whatever happened
        return internal_error(policy, exc, t0)


@lru_cache(maxsize=64)
def _intent_proposal(kind: str) -> Proposal:
    """The stand-in proposal of an intent given already validated (proposals are immutable)."""
    return Proposal(name=f"intent:{kind}", arguments=None)


def _coerce(model: type[BaseModel], value: Any, empty: BaseModel) -> Any:
    if value is None:
        return empty
    if isinstance(value, model):
        return value
    return model.model_validate(value)


def _context_problem(part: str, exc: Exception) -> str:
    """Which field of the request, session or facts is wrong, and what was expected there."""
    if isinstance(exc, ValidationError):
        return validation_summary(exc, root=part)[:300]
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return (text if text.startswith(part) else f"{part}: {text}")[:300]


def _evaluate(
    policy: CompiledPolicy,
    proposal: Any,
    request: Any,
    session: Any,
    facts: Any,
    clock: Clock,
    t0: int,
    consent_keys: Mapping[str, bytes] | None = None,
    trace: Trace | None = None,
) -> Decision:
    # 1. The proposal becomes an intent, or the decision is escalate (fail closed).
    if isinstance(proposal, BaseModel) and hasattr(proposal, "kind") and not isinstance(proposal, Proposal):
        intent = proposal  # already a validated intent
        prop = _intent_proposal(str(getattr(intent, "kind")))
        arguments = None
    else:
        try:
            prop = proposal if isinstance(proposal, Proposal) else Proposal.model_validate(proposal)
        except Exception as exc:  # noqa: BLE001
            reason, first = _engine("malformed", f"the proposal is not `{{name, arguments}}`: {str(exc).splitlines()[0][:160]}", "refuse")
            return _escalation(policy, reason, first, t0)
        try:
            tool, arguments = policy.tool_arguments(prop)
            intent = tool.build(arguments)
        except ProposalError as exc:
            reason, first = _engine(engine_code(exc.code), exc.message, "refuse")
            return _escalation(policy, reason, first, t0)
    kind = str(getattr(intent, "kind"))

    # 2. The context must be well-formed too.
    part = "request"
    try:
        req = _coerce(Request, request, EMPTY_REQUEST)
        part = "session"
        ses = _coerce(Session, session, EMPTY_SESSION)
        part = "facts"
        fac = facts if isinstance(facts, Facts) else Facts(facts)
    except Exception as exc:  # noqa: BLE001
        reason, first = _engine("malformed_context", _context_problem(part, exc))
        return _escalation(policy, reason, first, t0, kind)

    # 3. The rules for this kind, preconditions first.
    ctx = Ctx(intent, req, ses, fac, clock(), policy, prop, arguments, consent_keys)
    fired, routes, questions, consent_fired = run_rules(policy.by_kind.get(kind, ()), ctx, trace)

    # 4. One combination of the fired rules and the policy's default into the decision.
    # `intent` is what `tool.build` made or the host gave validated: an Intent, or ReadOnly for a read tool.
    return combine(policy, kind, cast("Intent | ReadOnly", intent), fired, routes, questions, consent_fired, t0)
