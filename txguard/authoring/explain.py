"""Explain: why a decision came out the way it did, rule by rule.

:func:`explain` is the guard's own check with a trace: it decides the case with
:func:`~txguard.engine.evaluate.evaluate` and ``trace=Trace()`` (same inputs, same ``Ctx``, same
consent keys), so the rule loop records, as it really runs, each rule of the intent kind in
evaluation order (preconditions first): whether it fired, was skipped (a precondition it needs
failed), did not fire or raised, why, the values a built-in check read (``Ctx.read``) and every
comparison of a ``when`` condition (left value, operator, right value, result). This module only
renders that record.

For a policy that keeps state across turns (a ``session:`` section), the decision shown is the
guard's with a conversation store (a fresh memory store unless one is given, e.g. with the earlier
turns of a suite case replayed into it), and every session rule is traced over the same log and
the same current event as the guard's evaluator saw: fired or not, and what it measured. Budgets
and single-use confirmations are listed with what the guard did about them.

Nothing here runs on the normal ``check`` path: tracing costs nothing unless one explains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..consent.tokens import ConsentKeys, keyring
from ..core.decision import Decision
from ..core.intents import CONSEQUENTIAL_KINDS
from ..engine.evaluate import Clock, evaluate
from ..engine.trace import RuleTrace, SessionTrace, Trace, show
from ..policy.compile import CompiledPolicy

if TYPE_CHECKING:
    from ..sessions import SessionStore


@dataclass(frozen=True)
class SessionExplanation:
    """The session layer's part: the conversation, how many events it had before, each trace."""

    conversation: str | None
    earlier_events: int
    rules: tuple[SessionTrace, ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"conversation": self.conversation, "earlier_events": self.earlier_events, "note": self.note,
                "rules": [r.to_dict() for r in self.rules]}

    def render(self) -> list[str]:
        head = (f"session rules (conversation `{self.conversation}`, {self.earlier_events} earlier events)"
                if self.conversation is not None else "session rules (no conversation id)")
        lines = [f"{head}: {len(self.rules)}"]
        if self.note:
            lines.append(self.note)
        for i, t in enumerate(self.rules, 1):
            lines.append(f"{i:>3}. {t.rule} ({t.form}) {t.status.upper()}: {t.why}")
        return lines


@dataclass(frozen=True)
class Explanation:
    """The decision and the trace of every rule considered for its intent kind, in order."""

    decision: Decision
    kind: str | None
    rules: tuple[RuleTrace, ...]
    note: str = ""
    session: SessionExplanation | None = None
    """Only for a policy with a ``session:`` section."""

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision.to_dict(), "kind": self.kind, "note": self.note,
                "rules": [r.to_dict() for r in self.rules],
                "session": self.session.to_dict() if self.session is not None else None}

    def render(self) -> str:
        d = self.decision
        head = f"decision: {d.outcome.value}" + (f" (route: {d.route})" if d.route else "")
        lines = [head + (f" [{self.kind}]" if self.kind else "")]
        for r in d.reasons:
            lines.append(f"  - {r.rule} [{r.code}, {r.outcome.value}]: {r.message}")
        if self.note:
            lines.append(self.note)
        if self.kind is not None:
            lines.append(f"rules for `{self.kind}`, in evaluation order (preconditions first): {len(self.rules)}")
        for i, t in enumerate(self.rules, 1):
            status = t.status.upper()
            lines.append(f"{i:>3}. {t.rule} ({t.check}) {status}: {t.why}")
            if t.location:
                lines.append(f"       at {t.location}")
            for k, v in t.inputs.items():
                lines.append(f"       {k} = {show(v)}")
            for c in t.comparisons:
                lines.append("       " + c.render())
        if self.session is not None:
            lines += self.session.render()
        return "\n".join(lines)


# -- explain ----------------------------------------------------------------------------------------

def explain(policy: CompiledPolicy, envelope: Any, clock: Clock, *, store: SessionStore | None = None,
            consent_keys: ConsentKeys | None = None) -> Explanation:
    """Decide one wire-format envelope as the guard does, with a trace of every rule considered.

    The rules are traced by the guard's own evaluator (``evaluate(..., trace=Trace())``) on the
    same inputs and ``consent_keys`` (what :class:`~txguard.Guard` accepts) as the guard. For a
    policy with a ``session:`` section the decision is the guard's with ``store`` (default: a
    fresh memory store, i.e. a conversation with no earlier events), and the session rules are
    traced too; the decision is recorded in ``store`` like any other.
    """
    if not isinstance(envelope, Mapping):
        envelope = {"proposal": envelope}
    keys = keyring(consent_keys) or None
    now = clock()
    fixed: Clock = lambda: now  # noqa: E731 - the decision and the trace see the same instant
    trace = Trace()
    decision = evaluate(policy, envelope.get("proposal"), envelope.get("request"), envelope.get("session"),
                        envelope.get("facts"), fixed, keys, trace=trace)
    session: SessionExplanation | None = None
    if policy.session.needs_session_id:
        decision, session = _explain_session(policy, envelope, fixed, decision, store, keys)
    if decision.intent is None:
        return Explanation(decision, decision.kind, (),
                           "no rule was considered: the input did not become an intent with a valid context", session)
    kind = str(getattr(decision.intent, "kind"))
    note = ""
    if not decision.reasons:
        note = f"no rule fired; the policy's default for `{kind}` is `allow`"
    elif any(r.code == "default_outcome" for r in decision.reasons):
        note = f"the policy's default for `{kind}` is `{decision.outcome.value}`, above every rule that fired"
    return Explanation(decision, kind, tuple(trace.rules), note, session)


def _explain_session(policy: CompiledPolicy, envelope: Mapping[str, Any], clock: Clock, alone: Decision,
                     store: SessionStore | None,
                     keys: Mapping[str, bytes] | None) -> tuple[Decision, SessionExplanation]:
    """The guard's decision with a store, and the trace of the session layer over the same log."""
    from .._guard import Guard
    from ..sessions import MemoryStore
    from ..sessions._events import to_us
    from ..sessions._rules import fire, own_hit

    store = store if store is not None else MemoryStore()
    raw = envelope.get("session")
    cid = raw.get("id") if isinstance(raw, Mapping) else getattr(raw, "id", None)
    cid = cid if isinstance(cid, str) else None
    before = store.events(cid) if cid is not None else []
    decision = Guard(policy, clock=clock, sessions=store, consent_keys=keys).check_envelope(envelope)
    new = store.events(cid)[len(before):] if cid is not None else []
    sp = policy.session
    fired = {r.rule: r for r in decision.reasons}
    traces: list[SessionTrace] = []
    if not new or new[-1].type != "decision":
        why = ("the session has no `id`, so there is no conversation" if cid is None
               else "the session layer recorded nothing (see the decision's reasons)")
        traces += [SessionTrace(r.id, r.form, r.code, r.outcome.value, "not checked", why) for r in sp.rules]
        return decision, SessionExplanation(cid, len(before), tuple(traces), why)
    # What the guard's evaluator saw: the log (with the confirmations this check added) and this
    # proposal as a decision event carrying the per-proposal outcome.
    log = [*before, *new[:-1]]
    current = replace(new[-1], outcome=alone.outcome.value, codes=())
    hit = own_hit(to_us(clock()), current)
    for rule in sp.rules:
        why_not: list[str] = []
        detail = fire(rule, log, current, hit, why_not)
        form = rule.form if rule.form != "sequence" else f"sequence: {rule.pattern}"
        traces.append(SessionTrace(rule.id, form, rule.code, rule.outcome.value,
                                   "fired" if detail is not None else "not fired",
                                   detail if detail is not None else why_not[0]))
    for b in sp.budgets:
        r = fired.get(f"budgets.{b.id}")
        if r is not None:
            traces.append(SessionTrace(r.rule, "budget", r.code, r.outcome.value, "fired", r.message))
        elif decision.outcome.value == "allow" and decision.kind == "checkout":
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
        elif decision.outcome.value == "allow":
            traces.append(SessionTrace(rid, "single_use", "confirmation_used", "clarify", "not fired",
                                       "not used before: an allowed consequential decision consumes the "
                                       "confirmation it matched" if decision.kind in CONSEQUENTIAL_KINDS
                                       else "this kind needs no confirmation"))
        else:
            traces.append(SessionTrace(rid, "single_use", "confirmation_used", "clarify", "not checked",
                                       "a confirmation is consumed only by an allowed decision"))
    note = ("" if before else
            "a fresh conversation: no earlier events (explain a later turn of a suite case with "
            "`txguard explain --suite FILE --case ID --turn N`)")
    return decision, SessionExplanation(cid, len(before), tuple(traces), note)
