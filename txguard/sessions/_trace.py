"""What the session step did, for a traced case (``Case.trace``): one :class:`SessionTrace` per
session rule, budget and the single-use confirmations, from the real run.

The session rules are traced inside the step's transaction, on the very log and ``decision``
event the evaluator saw (the evaluator's result gives each rule's status; the measured detail,
``_rules.fire``, gives the why); budgets and single use from the state the step returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..core.decision import Reason
from ..engine.case import Case
from ..engine.state import State, sort_reasons
from ..engine.trace import SessionTrace, Trace
from ..policy.session import SessionPolicy
from ._events import Event
from ._rules import fire, own_hit


class SessionTracer:
    """Fills one case's :class:`Trace` with the session part (``session_rules``, ``conversation``,
    ``earlier_events``)."""

    __slots__ = ("trace", "policy", "cid", "ledger_only", "_rules")

    def __init__(self, trace: Trace, policy: SessionPolicy, cid: str | None, ledger_only: bool = False) -> None:
        self.trace = trace
        self.policy = policy
        self.cid = cid
        self.ledger_only = ledger_only
        self._rules: list[SessionTrace] | None = None
        trace.conversation = cid
        trace.earlier_events = 0

    @classmethod
    def of(cls, case: Case, policy: SessionPolicy, ledger_only: bool) -> SessionTracer | None:
        """The tracer of a traced case, else None (nothing is recorded)."""
        if case.trace is None:
            return None
        if case.ses is not None:
            cid = case.ses.id
        else:
            try:  # a malformed session (the case's problem): whatever its `id` is, reading it must not raise
                raw = case.session.get("id") if isinstance(case.session, Mapping) else getattr(case.session, "id", None)
            except Exception:  # noqa: BLE001 - tracing never changes a decision
                raw = None
            cid = raw if isinstance(raw, str) else None
        return cls(case.trace, policy, cid, ledger_only)

    def not_checked(self) -> None:
        """The session layer recorded nothing: every session rule is ``not checked``."""
        if self.ledger_only:
            why = "the guard has no conversation store: only single-use confirmations are kept"
        elif self.cid is None:
            why = "the session has no `id`, so there is no conversation"
        else:
            why = "the session layer recorded nothing (see the decision's reasons)"
        self.trace.session_rules[:] = [SessionTrace(r.id, r.form, r.code, r.outcome.value, "not checked", why)
                                       for r in self.policy.rules]

    def rules(self, seq: int, log: Sequence[Event], current: Event, now_us: int, fired: Sequence[Reason]) -> None:
        """The session rules as the evaluator ran them on ``log`` plus ``current`` (``seq``: the
        conversation's events before this case)."""
        self.trace.earlier_events = seq
        hit = own_hit(now_us, current, self.policy)
        ids = {r.rule for r in fired}
        out: list[SessionTrace] = []
        for rule in self.policy.rules:
            why_not: list[str] = []
            try:
                detail = fire(rule, log, current, hit, why_not)
            except Exception as exc:  # noqa: BLE001 - tracing never changes a decision (nor aborts its transaction)
                detail, why_not = None, [f"could not be measured: {type(exc).__name__}: {str(exc)[:160]}"]
            form = rule.form if rule.form != "sequence" else f"sequence: {rule.pattern}"
            why = detail if detail is not None else (why_not[0] if why_not else "")
            out.append(SessionTrace(rule.id, form, rule.code, rule.outcome.value,
                                    "fired" if rule.id in ids else "not fired", why))
        self._rules = out

    def done(self, state: State) -> None:
        """The step finished with ``state``: budgets and single use, after the session rules."""
        if self._rules is None:  # no conversation transaction ran (no `id`, or no store)
            self.not_checked()
            return
        sp = self.policy
        traces = list(self._rules)
        fired = {r.rule: r for r in sort_reasons(state.reasons)}
        allowed = state.outcome.value == "allow"
        for b in sp.budgets:
            r = fired.get(f"budgets.{b.id}")
            if r is not None:
                traces.append(SessionTrace(r.rule, "budget", r.code, r.outcome.value, "fired", r.message))
            elif allowed and state.kind == "checkout":
                traces.append(SessionTrace(f"budgets.{b.id}", "budget", "budget_exceeded", "escalate", "not fired",
                                           f"the checkout fits: reserved against {b.amount_text} {b.currency} per {b.scope}"))
            else:
                traces.append(SessionTrace(f"budgets.{b.id}", "budget", "budget_exceeded", "escalate", "not checked",
                                           "budgets are charged only by an allowed checkout"))
        if sp.single_use_confirmations:
            rid = "session.single_use_confirmations"
            r = fired.get(rid)
            if r is not None:
                traces.append(SessionTrace(rid, "single_use", r.code, r.outcome.value, "fired", r.message))
            elif allowed:
                traces.append(SessionTrace(rid, "single_use", "confirmation_used", "clarify", "not fired",
                                           "not used before: an allowed consequential decision consumes the "
                                           "confirmation it matched" if state.kind in sp.consequential
                                           else "this kind needs no confirmation"))
            else:
                traces.append(SessionTrace(rid, "single_use", "confirmation_used", "clarify", "not checked",
                                           "a confirmation is consumed only by an allowed decision"))
        self.trace.session_rules[:] = traces
