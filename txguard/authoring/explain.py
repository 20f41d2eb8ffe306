"""Explain: why a decision came out the way it did, rule by rule.

:func:`explain` is the guard's own check with a trace: a :class:`~txguard.Guard` on the same
policy, clock and consent keys decides the case (``guard.decide(guard.case(..., trace=Trace()))``),
and the steps fill the trace as they really run: the rule loop records each rule of the intent kind
in evaluation order (preconditions first), whether it fired, was skipped (a precondition it needs
failed), did not fire or raised, why, the values a built-in check read (``Ctx.read``) and every
comparison of a ``when`` condition; the session step records each session rule, budget and the
single-use confirmations over the conversation's log. This module only renders that record.

Nothing here runs on the normal ``check`` path: tracing costs nothing unless one explains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..consent.tokens import ConsentKeys
from ..core.decision import Decision
from ..sessions import MemoryStore, SessionStore
from .._guard import Guard
from ..engine.case import Clock
from ..engine.trace import RuleTrace, SessionTrace, Trace, show
from ..policy.compile import CompiledPolicy


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

    The decision is a :class:`~txguard.Guard`'s own (``guard.decide(guard.case(..., trace=Trace()))``)
    on the same inputs and ``consent_keys``: the rule loop and the session step fill the trace as
    they run. The guard decides with ``store`` when one is given (a suite's earlier turns), and for a
    policy with a ``session:`` section without one on a fresh memory store (a conversation with no
    earlier events); the decision is recorded in it like any other.
    """
    if not isinstance(envelope, Mapping):
        envelope = {"proposal": envelope}
    try:
        now = clock()
    except Exception:  # noqa: BLE001 - the guard reads the broken clock and fails closed, as check does
        fixed: Clock = clock
    else:
        fixed = lambda: now  # noqa: E731 - one instant for the whole explanation
    keeps_state = policy.session.needs_session_id
    # A store given is the conversation so far (a suite's earlier turns): decided against it whatever
    # the policy, as `txguard test` plays the turns (else a confirmation they used is fresh again).
    guard = Guard(policy, clock=fixed, consent_keys=consent_keys,
                  sessions=store if store is not None else (MemoryStore() if keeps_state else None))
    trace = Trace()
    decision = guard.decide(guard.case(envelope.get("proposal"), envelope.get("request"), envelope.get("session"),
                                       envelope.get("facts"), trace=trace))
    session = _session_part(trace) if keeps_state else None
    if decision.intent is None:
        return Explanation(decision, decision.kind, (),
                           "no rule was considered: the input did not become an intent with a valid context", session)
    kind = decision.intent.kind
    note = ""
    if not decision.reasons:
        note = f"no rule fired; the policy's default for `{kind}` is `allow`"
    elif any(r.code == "default_outcome" for r in decision.reasons):
        note = f"the policy's default for `{kind}` is `{decision.outcome.value}`, above every rule that fired"
    return Explanation(decision, kind, tuple(trace.rules), note, session)


def _session_part(trace: Trace) -> SessionExplanation:
    """The session step's part of the trace, with a note on what it could not check."""
    rules = tuple(trace.session_rules)
    if rules and all(r.status == "not checked" for r in rules):
        note = rules[0].why
    elif trace.earlier_events == 0:
        note = ("a fresh conversation: no earlier events (explain a later turn of a suite case with "
                "`txguard explain --suite FILE --case ID --turn N`)")
    else:
        note = ""
    return SessionExplanation(trace.conversation, trace.earlier_events, rules, note)
