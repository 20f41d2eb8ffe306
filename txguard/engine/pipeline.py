"""The decision pipeline: one :class:`~txguard.engine.case.Case`, then a list of uniform steps.

::

    Case.read(policy, proposal, request, session, facts, now)   inputs read and validated once
      -> Shadow      the candidate policy decides the same case (observational; optional)
      -> Rules       the rules of the intent kind fire, then the policy's default floor
      -> Sessions    session rules, budgets, single use, in one store transaction (optional)
      -> Combine     the ONE combination of every fired reason into the Decision
      -> Audit       the record is appended before the decision is returned (optional)

Every step has one signature, ``step(case, state) -> state``, and returns a new :class:`State`
(states are frozen): a new step is one class with a ``__call__`` in one file, placed in the list a
guard builds (``Guard._bind``). Steps before ``Combine`` add fired reasons; ``Combine`` builds the
decision once; steps after it (audit) may only replace it by a fail-closed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Context, localcontext
from typing import Protocol

from .case import Case
from .state import ShadowResult, State, internal_error

EXACT = Context(prec=60)
"""The decimal context of every decision (default traps: invalid operation, division by zero, overflow)."""


class Step(Protocol):
    """One step of the pipeline: reads the case and the state so far, returns the next state.

    A step must not raise: one that does fails the whole decision closed (``internal_error``).
    """

    def __call__(self, case: Case, state: State) -> State: ...


def run(steps: Sequence[Step], case: Case) -> State:
    """Run ``steps`` in order on ``case`` (money arithmetic in the exact decimal context).

    A step that raises makes the decision ``internal_error`` (fail closed); the later steps still
    run on that state (the audit step records it). The state returned holds the decision.
    """
    state = case.start()
    # Money arithmetic must not depend on the caller's decimal context (a host may have set a
    # low precision): 60 digits hold any product and sum of the bounded amounts exactly.
    with localcontext(EXACT):
        for step in steps:
            try:
                state = step(case, state)
            except Exception as exc:  # noqa: BLE001 - the guard fails closed, whatever happened
                state = failed(case, exc, state.shadow)
    return state


def failed(case: Case, exc: BaseException, shadow: ShadowResult | None = None) -> State:
    """The state of a decision the guard itself failed: ``internal_error`` (route ``human``), with
    no kind or intent; already decided, and combined again if a later step adds reasons."""
    decision = internal_error(case.policy, exc, case.t0)
    return State(None, None, decision.reasons, ("human",), decision=decision, shadow=shadow)
